// Package file provides sink "file": flows as JSON lines in a file (or on
// standard output), rotated by size and flushed on shutdown.
package file

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Spec documents sink "file".
var Spec = &dsl.Spec{
	Description: "Writes flows as JSON lines, one object per flow, keys as the flow columns.",
	Attrs: []dsl.Attr{
		{Name: "path", Type: dsl.TypeString, Required: true, Description: "file to write; \"-\" is standard output"},
		{Name: "rotate_size", Type: dsl.TypeSize, Default: int64(0), Description: "rotate when the file reaches this size (0: never)"},
		{Name: "rotate_keep", Type: dsl.TypeInt, Default: int64(5), Description: "rotated files to keep (path.1 is the newest)"},
		{Name: "flush_interval", Type: dsl.TypeDuration, Default: time.Second, Description: "how often buffered lines are written out"},
		{Name: "fsync", Type: dsl.TypeBool, Default: false, Description: "fsync the file at each flush before acknowledging flows"},
	},
}

func init() {
	engine.RegisterSink("file", Spec, New)
}

// Sink writes JSON lines.
type Sink struct {
	path       string
	rotateSize int64
	keep       int
	interval   time.Duration
	fsync      bool

	f       *os.File
	w       *bufio.Writer
	size    int64
	pending []*flow.Batch
	enc     flow.JSONEncoder

	flows  atomic.Uint64
	bytes  atomic.Uint64
	errors prometheus.Counter
}

var _ engine.Sink = (*Sink)(nil)

// New builds the sink from its configuration; it opens nothing.
func New(cfg *dsl.Config, env engine.Env) (*Sink, hcl.Diagnostics) {
	s := &Sink{path: cfg.String("path"), rotateSize: cfg.Size("rotate_size"), keep: int(cfg.Int("rotate_keep")),
		interval: cfg.Duration("flush_interval"), fsync: cfg.Bool("fsync")}
	var diags hcl.Diagnostics
	if s.path == "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid path",
			Detail: "path must name a file, or \"-\" for standard output.", Subject: cfg.Range("path")})
	}
	if s.path == "-" && s.rotateSize > 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot rotate standard output",
			Detail: "rotate_size needs a file path.", Subject: cfg.Range("rotate_size")})
	}
	if s.keep < 1 {
		s.keep = 1
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	m := engine.NewMetrics(env.Metrics)
	s.errors = m.Counter(prometheus.CounterOpts{Name: "flowengine_file_write_errors_total", Help: "Failed writes or flushes."})
	m.CounterFunc(prometheus.CounterOpts{Name: "flowengine_file_flows_written_total", Help: "Flows written to the file."},
		func() float64 { return float64(s.flows.Load()) })
	if err := m.Err(); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot register file metrics",
			Detail: err.Error(), Subject: &cfg.DefRange})
	}
	return s, diags
}

func (s *Sink) open() error {
	if s.path == "-" {
		s.w = bufio.NewWriterSize(os.Stdout, 1<<20)
		return nil
	}
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, st.Size()
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 1<<20)
	} else {
		s.w.Reset(f)
	}
	return nil
}

// Run writes batches until in is closed, then flushes and closes the file.
// Batches are released once their lines reached the file.
func (s *Sink) Run(ctx context.Context, in <-chan *flow.Batch) error {
	if s.w == nil {
		if err := s.open(); err != nil {
			s.errors.Inc()
			return err
		}
	}
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return s.close()
			}
			if err := s.write(b); err != nil {
				s.errors.Inc()
				return err
			}
		case <-ticker.C:
			if err := s.flush(); err != nil {
				s.errors.Inc()
				return err
			}
		}
	}
}

func (s *Sink) write(b *flow.Batch) error {
	s.pending = append(s.pending, b)
	for i := range b.Records {
		line := s.enc.Append(s.w.AvailableBuffer(), &b.Records[i])
		if _, err := s.w.Write(line); err != nil {
			return fmt.Errorf("write %s: %w", s.path, err)
		}
		s.size += int64(len(line))
		s.bytes.Add(uint64(len(line)))
	}
	s.flows.Add(uint64(b.Len()))
	if s.rotateSize > 0 && s.size >= s.rotateSize {
		return s.rotate()
	}
	if s.w.Buffered() > 512<<10 {
		return s.flush()
	}
	return nil
}

func (s *Sink) flush() error {
	if s.w == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", s.path, err)
	}
	if s.fsync && s.f != nil {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.path, err)
		}
	}
	for _, b := range s.pending {
		b.Release()
	}
	s.pending = s.pending[:0]
	return nil
}

func (s *Sink) rotate() error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	for i := s.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", s.path, i), fmt.Sprintf("%s.%d", s.path, i+1))
	}
	if err := os.Rename(s.path, s.path+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", s.path, err)
	}
	return s.open()
}

func (s *Sink) close() error {
	if err := s.flush(); err != nil {
		return err
	}
	if s.f != nil {
		err := s.f.Close()
		s.f, s.w = nil, nil
		return err
	}
	return nil
}
