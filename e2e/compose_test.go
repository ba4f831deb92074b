package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is what the test reads of docker-compose.yml.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn any `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

type prometheusFile struct {
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func loadYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDockerCompose checks docker-compose.yml without a Docker engine: it
// parses; the console is on port 80; every flowengine service runs a
// pipeline file of the image that validates with the variables the compose
// file sets, has a health check on its metrics address, and is scraped by
// Prometheus there; a scalable outlet binds no host port; every file the
// compose file mounts exists.
func TestDockerCompose(t *testing.T) {
	var c composeFile
	loadYAML(t, "../docker-compose.yml", &c)
	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"clickhouse", "console", "exporter", "inlet", "kafka", "outlet", "prometheus"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	if p := c.Services["console"].Ports; !slices.Equal(p, []string{"80:8080"}) {
		t.Errorf("console ports %v, want 80:8080", p)
	}
	if p := c.Services["outlet"].Ports; len(p) > 0 {
		t.Errorf("outlet binds host ports %v: it could not be scaled", p)
	}
	var prom prometheusFile
	loadYAML(t, "../prometheus.yml", &prom)
	scraped := map[string]int{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[n] = d.Port
			}
		}
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if ok && c.Volumes != nil {
				if _, declared := c.Volumes[src]; !declared {
					t.Errorf("%s mounts the volume %s, not declared", name, src)
				}
			}
		}
		if s.Image != "flowengine:local" || len(s.Command) < 2 || s.Command[0] != "run" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			pipeline := s.Command[len(s.Command)-1]
			local, ok := strings.CutPrefix(pipeline, "/etc/flowengine/")
			if !ok {
				t.Fatalf("runs %s, not a pipeline of the image (/etc/flowengine/pipelines)", pipeline)
			}
			listen := s.Environment["FLOWENGINE_VAR_metrics_listen"]
			host, port, ok := strings.Cut(listen, ":")
			if !ok || host != "0.0.0.0" {
				t.Errorf("FLOWENGINE_VAR_metrics_listen = %q, want 0.0.0.0:port (Prometheus scrapes it from its container)", listen)
			}
			if got := scraped[name]; port == "" || got == 0 || port != strconv.Itoa(got) {
				t.Errorf("prometheus.yml scrapes %s on port %d, its metrics listen on %q", name, got, listen)
			}
			if hc := s.Healthcheck.Test; !slices.Equal(hc, []string{"CMD", "flowengine", "healthcheck", "127.0.0.1:" + port}) {
				t.Errorf("health check %v, want flowengine healthcheck 127.0.0.1:%s", hc, port)
			}
			cmd := exec.Command(binary, "validate", filepath.Join("..", local))
			cmd.Env = os.Environ()
			for k, v := range s.Environment {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("flowengine validate %s with the compose variables: %v\n%s", local, err, out)
			}
		})
	}
}
