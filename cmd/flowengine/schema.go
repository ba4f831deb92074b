package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/flow/flowpb"
)

const schemaUsage = `usage: flowengine schema proto|json

  proto   print the protobuf schema of flows on Kafka (flowengine.v%d.FlowV%d)
  json    print the flow columns as JSON: name, logical kind, width, protobuf field
`

// schemaCommand implements `flowengine schema proto` and `flowengine schema json`.
func schemaCommand(args []string) int {
	return runSchema(args, os.Stdout, os.Stderr)
}

func runSchema(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, schemaUsage, flow.SchemaVersion, flow.SchemaVersion)
		return 2
	}
	switch args[0] {
	case "proto":
		fmt.Fprint(stdout, flowpb.Proto())
		return 0
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(schemaJSON()); err != nil {
			fmt.Fprintf(stderr, "flowengine schema: %v\n", err)
			return 1
		}
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, schemaUsage, flow.SchemaVersion, flow.SchemaVersion)
		return 0
	}
	fmt.Fprintf(stderr, "flowengine schema: unknown format %q\n", args[0])
	fmt.Fprintf(stderr, schemaUsage, flow.SchemaVersion, flow.SchemaVersion)
	return 2
}

type columnJSON struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Bits        int    `json:"bits,omitempty"`
	Proto       int    `json:"proto"`
	Dimension   bool   `json:"dimension"`
	Description string `json:"description"`
}

type schemaDoc struct {
	Version int          `json:"version"`
	Topic   string       `json:"topic"`
	Message string       `json:"message"`
	Columns []columnJSON `json:"columns"`
}

func schemaJSON() schemaDoc {
	doc := schemaDoc{
		Version: flow.SchemaVersion,
		Topic:   flowpb.Topic(""),
		Message: flowpb.Package + "." + flowpb.MessageName(flow.SchemaVersion),
	}
	for _, c := range flow.Columns {
		doc.Columns = append(doc.Columns, columnJSON{
			Name: c.Name, Kind: c.Kind.String(), Bits: c.Bits, Proto: c.Proto,
			Dimension: c.Dimension, Description: c.Description,
		})
	}
	return doc
}
