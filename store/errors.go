package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error a request caused (a bad query, filter,
// dimension or name): the console answers it with 400 and the message.
var ErrInvalid = errors.New("invalid request")

// invalidf returns an error wrapping ErrInvalid whose text is the message only.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// LimitError is a request over one of the Limits. It wraps ErrInvalid.
type LimitError struct {
	Limit string // "range_days", "points", "dimensions" or "limit"
	Max   int
	Got   int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("over the %s limit: %d, at most %d", e.Limit, e.Got, e.Max)
}

// Unwrap makes a LimitError an ErrInvalid.
func (e *LimitError) Unwrap() error { return ErrInvalid }

// Limits bound what one request may ask of the store.
type Limits struct {
	MaxRange      time.Duration // End - Start
	MaxPoints     int
	MaxDimensions int
	MaxLimit      int // top-N
}

// DefaultLimits are the limits New sets.
var DefaultLimits = Limits{MaxRange: 400 * 24 * time.Hour, MaxPoints: 2000, MaxDimensions: 10, MaxLimit: 50}

// FilterError is a mistake in a filter and where it is: Offset counts bytes
// from 0, Line and Column count from 1 (Column in characters).
type FilterError struct {
	Offset  int    `json:"offset"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// InvalidFilterError is a query refused for its filter. It wraps ErrInvalid.
type InvalidFilterError struct {
	Errors []FilterError
}

func (e *InvalidFilterError) Error() string {
	var b strings.Builder
	b.WriteString("filter: ")
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d, column %d: %s", fe.Line, fe.Column, fe.Message)
	}
	return b.String()
}

// Unwrap makes an InvalidFilterError an ErrInvalid.
func (e *InvalidFilterError) Unwrap() error { return ErrInvalid }
