package store

// This file stands in for the store API until it is implemented: it declares
// the documented signatures so the console compiles. Delete it when the real
// Store lands.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is wrapped by every error a user caused.
var ErrInvalid = errors.New("invalid query")

// LimitError is a query over one of the store's limits.
type LimitError struct {
	Limit    string
	Max, Got int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s is %d, over the limit of %d", e.Limit, e.Got, e.Max)
}

// Unwrap makes a LimitError an ErrInvalid.
func (e *LimitError) Unwrap() error { return ErrInvalid }

// FilterError is a mistake in a filter, with its position.
type FilterError struct {
	Offset  int    `json:"offset"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// Completion is one suggestion for the filter being typed.
type Completion struct {
	Label  string `json:"label"`
	Detail string `json:"detail"`
	Kind   string `json:"kind"`
}

// ColumnInfo describes a column to the console.
type ColumnInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Dimension   bool   `json:"dimension"`
}

// FlowRate is the flow rate now and over the last hour.
type FlowRate struct {
	Rate  float64     `json:"rate"`
	Time  []time.Time `json:"time"`
	Rates []float64   `json:"rates"`
}

// Store answers the console's queries over a Backend.
type Store struct{ b Backend }

// New returns a store over b.
func New(b Backend) *Store { return &Store{b: b} }

var errShim = errors.New("store: not implemented")

func (s *Store) Line(context.Context, Query) (*LineResult, error)     { return nil, errShim }
func (s *Store) Sankey(context.Context, Query) (*SankeyResult, error) { return nil, errShim }
func (s *Store) Table(context.Context, Query) (*TableResult, error)   { return nil, errShim }
func (s *Store) ValidateFilter(string) []FilterError                  { return nil }
func (s *Store) Complete(context.Context, string, int) ([]Completion, error) {
	return nil, errShim
}
func (s *Store) Columns() []ColumnInfo                             { return nil }
func (s *Store) FlowRate(context.Context) (*FlowRate, error)       { return nil, errShim }
func (s *Store) Exporters(context.Context) (*TableResult, error)   { return nil, errShim }
func (s *Store) Top(context.Context, string) (*TableResult, error) { return nil, errShim }
func (s *Store) LastFlow(context.Context) (map[string]any, error)  { return nil, errShim }
func (s *Store) SavedFilters(ctx context.Context) ([]SavedFilter, error) {
	return s.b.SavedFilters(ctx)
}
func (s *Store) SaveFilter(ctx context.Context, f SavedFilter) error { return s.b.SaveFilter(ctx, f) }
func (s *Store) DeleteFilter(ctx context.Context, name string) error {
	return s.b.DeleteFilter(ctx, name)
}
