package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	extraCommands["healthcheck"] = func(args []string) int { return cmdHealthcheck(args, os.Stdout, os.Stderr) }
}

// cmdHealthcheck asks a running flowengine's /healthz (on its pipeline {
// listen } address) whether it is up: exit 0 when it answers 200, 1
// otherwise. Container images have no curl; compose health checks run this.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flowengine healthcheck [-timeout 3s] [ADDRESS]   (default 127.0.0.1:9090: the pipeline's listen address)")
	}
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 1
	}
	addr := "127.0.0.1:9090"
	if fs.NArg() == 1 {
		addr = fs.Arg(0)
	}
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + addr
	}
	url = strings.TrimSuffix(url, "/") + "/healthz"
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "flowengine healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "flowengine healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "flowengine healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", url)
	return 0
}
