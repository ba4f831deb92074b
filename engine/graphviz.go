package engine

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the graph as a list of stages with their inputs.
func WriteText(w io.Writer, g *Graph) {
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "%s", n.ID)
		if len(n.Inputs) > 0 {
			ins := make([]string, len(n.Inputs))
			for i, in := range n.Inputs {
				ins[i] = in.ID.String()
			}
			fmt.Fprintf(w, " <- %s", strings.Join(ins, ", "))
		}
		var opts []string
		if n.ID.Kind != KindSource {
			opts = append(opts, fmt.Sprintf("buffer=%d", n.Buffer), "when_full="+n.WhenFull)
		}
		if n.Workers > 1 {
			opts = append(opts, fmt.Sprintf("workers=%d", n.Workers))
		}
		if len(opts) > 0 {
			fmt.Fprintf(w, "  [%s]", strings.Join(opts, " "))
		}
		fmt.Fprintln(w)
	}
}

var dotShapes = map[Kind]string{KindSource: "invhouse", KindEnricher: "box", KindClassifier: "diamond", KindSink: "house"}

// WriteDot prints the graph in Graphviz dot.
func WriteDot(w io.Writer, g *Graph) {
	fmt.Fprintln(w, "digraph flowengine {")
	fmt.Fprintln(w, "  rankdir=LR;")
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "  %q [shape=%s];\n", n.ID.String(), dotShapes[n.ID.Kind])
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			fmt.Fprintf(w, "  %q -> %q;\n", in.ID.String(), n.ID.String())
		}
	}
	fmt.Fprintln(w, "}")
}

// WriteMermaid prints the graph as a Mermaid flowchart.
func WriteMermaid(w io.Writer, g *Graph) {
	fmt.Fprintln(w, "flowchart LR")
	id := func(n *Node) string {
		return strings.NewReplacer(".", "_", "-", "_").Replace(n.ID.String())
	}
	for _, n := range g.Nodes {
		open, close := "[", "]"
		switch n.ID.Kind {
		case KindSource:
			open, close = "([", "])"
		case KindClassifier:
			open, close = "{{", "}}"
		case KindSink:
			open, close = "[(", ")]"
		}
		fmt.Fprintf(w, "  %s%s\"%s\"%s\n", id(n), open, n.ID, close)
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			fmt.Fprintf(w, "  %s --> %s\n", id(in), id(n))
		}
	}
}
