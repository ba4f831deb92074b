// Package main is testsummary, the filter `make test` pipes `go test -json`
// through: it prints what plain `go test` prints (a line per package, the
// output of failed tests, build errors), then how many tests passed,
// failed and were skipped, and why each was skipped, grouped by reason. It
// exits 1 when a test, a package or a build failed.
//
//	go test -json ./... | go run ./scripts/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail
}

type key struct{ pkg, test string }

// summary accumulates the events of a run.
type summary struct {
	out                  io.Writer
	output               map[key][]string // buffered output of running tests and packages
	passed, failed       int
	skipped              map[string][]string // reason → tests
	nSkipped             int
	failedPkgs, badLines int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, output: map[key][]string{}, skipped: map[string][]string{}}
}

func (s *summary) event(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
	case "build-fail":
		s.failedPkgs++
	case "output":
		s.output[k] = append(s.output[k], e.Output)
	case "pass", "fail", "skip":
		lines := s.output[k]
		delete(s.output, k)
		if e.Test == "" {
			s.packageDone(e, lines)
			return
		}
		switch e.Action {
		case "pass":
			s.passed++
		case "fail":
			s.failed++
			for _, l := range lines {
				if !strings.HasPrefix(l, "=== ") {
					fmt.Fprint(s.out, l)
				}
			}
		case "skip":
			s.nSkipped++
			r := skipReason(lines)
			s.skipped[r] = append(s.skipped[r], e.Package+" "+e.Test)
		}
	}
}

// packageDone prints a package's own lines: the ok/FAIL line, and on
// failure everything it printed outside tests.
func (s *summary) packageDone(e event, lines []string) {
	if e.Action == "fail" {
		s.failedPkgs++
		// Tests still running when the package failed (a panic, a
		// timeout): their output says why.
		var running []key
		for k := range s.output {
			if k.pkg == e.Package {
				running = append(running, k)
			}
		}
		slices.SortFunc(running, func(a, b key) int { return strings.Compare(a.test, b.test) })
		for _, k := range running {
			for _, l := range s.output[k] {
				fmt.Fprint(s.out, l)
			}
			delete(s.output, k)
		}
	}
	for _, l := range lines {
		switch {
		case e.Action == "fail" && l != "PASS\n" && !strings.HasPrefix(l, "=== "):
			fmt.Fprint(s.out, l)
		case strings.HasPrefix(l, "ok  "), strings.HasPrefix(l, "?   "), strings.HasPrefix(l, "FAIL"):
			fmt.Fprint(s.out, l)
		}
	}
}

// skipReason is the message of t.Skip: the last line the test printed
// before "--- SKIP", without the file:line prefix kept for grouping.
func skipReason(lines []string) string {
	reason := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		reason = t
	}
	if reason == "" {
		return "(no reason given)"
	}
	return fileLine.ReplaceAllString(reason, "")
}

// fileLine is the "name_test.go:12: " prefix of a test's log line.
var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// report prints the totals and the skips by reason, most frequent first.
func (s *summary) report() {
	fmt.Fprintf(s.out, "\ntests: %d passed, %d failed, %d skipped", s.passed, s.failed, s.nSkipped)
	if s.failedPkgs > 0 {
		fmt.Fprintf(s.out, "; %d packages failed", s.failedPkgs)
	}
	fmt.Fprintln(s.out)
	reasons := make([]string, 0, len(s.skipped))
	for r := range s.skipped {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if d := len(s.skipped[b]) - len(s.skipped[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, r := range reasons {
		tests := s.skipped[r]
		shown := tests[:min(len(tests), 3)]
		more := ""
		if len(tests) > len(shown) {
			more = fmt.Sprintf(", and %d more", len(tests)-len(shown))
		}
		fmt.Fprintf(s.out, "  skipped %d: %s\n    (%s%s)\n", len(tests), r, strings.Join(shown, ", "), more)
	}
}

func (s *summary) ok() bool { return s.failed == 0 && s.failedPkgs == 0 && s.badLines == 0 }

func run(in io.Reader, out io.Writer) bool {
	s := newSummary(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not test2json: pass it on (go vet output, a crash).
			fmt.Fprintln(out, sc.Text())
			if strings.Contains(sc.Text(), "FAIL") {
				s.badLines++
			}
			continue
		}
		s.event(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: %v\n", err)
		s.badLines++
	}
	s.report()
	return s.ok()
}

func main() {
	if !run(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}
