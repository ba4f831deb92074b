package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrPermanent marks provisioning errors that waiting will not fix (refused
// credentials, a change the pipeline may not make). Other errors, such as a
// server not answering yet, are retried with backoff before a run starts.
var ErrPermanent = errors.New("permanent error")

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as one that retrying will not fix; errors.Is(err,
// ErrPermanent) is then true, and err's own identity is kept.
func Permanent(err error) error { return permanentError{err} }

// Action is what a provisioning change does to a resource.
type Action string

// Actions, printed terraform-style.
const (
	ActionCreate  Action = "+"
	ActionUpdate  Action = "~"
	ActionDelete  Action = "-"
	ActionReplace Action = "-/+"
)

// Change is one difference between what a pipeline wants and what exists.
type Change struct {
	Action   Action
	Resource string   // "clickhouse table flows.flows_1m0s", "kafka topic flows-v1"
	Details  []string // lines printed under the resource: columns, settings
	// Destructive marks changes that lose data (drops, replaces, rewrites);
	// they are refused unless the stage allows them.
	Destructive bool
}

// Plan is the set of changes one stage needs.
type Plan struct {
	Stage   ID
	Changes []Change
}

// Provisioner is implemented by stages that own external resources (Kafka
// topics, ClickHouse tables). Plan looks and changes nothing; Apply makes the
// changes of a plan computed just before. The runtime applies every plan
// before any source starts.
type Provisioner interface {
	Plan(ctx context.Context) (*Plan, error)
	Apply(ctx context.Context, plan *Plan) error
}

// Counts returns the number of resources to add, change and destroy
// (a replace counts as one add and one destroy).
func (p *Plan) Counts() (add, change, destroy int) {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			add++
		case ActionUpdate:
			change++
		case ActionDelete:
			destroy++
		case ActionReplace:
			add++
			destroy++
		}
	}
	return
}

// WritePlans prints plans terraform-style and the closing summary line. It
// returns add + change + destroy, 0 when there is nothing to do.
func WritePlans(w io.Writer, plans []*Plan) int {
	var add, change, destroy int
	for _, p := range plans {
		if len(p.Changes) == 0 {
			continue
		}
		fmt.Fprintf(w, "# %s\n", p.Stage)
		for _, c := range p.Changes {
			note := ""
			if c.Destructive {
				note = "   # destructive"
			}
			fmt.Fprintf(w, "  %s %s%s\n", c.Action, c.Resource, note)
			for _, d := range c.Details {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
		fmt.Fprintln(w)
		a, c, d := p.Counts()
		add, change, destroy = add+a, change+c, destroy+d
	}
	if add+change+destroy == 0 {
		fmt.Fprintln(w, "No changes. The external resources match the pipeline.")
		return 0
	}
	fmt.Fprintf(w, "Plan: %d to add, %d to change, %d to destroy.\n", add, change, destroy)
	return add + change + destroy
}

// Plans asks every provisioning stage for its plan, in graph order. It
// changes nothing.
func (g *Graph) Plans(ctx context.Context) ([]*Plan, error) {
	var plans []*Plan
	for _, n := range g.Nodes {
		p, ok := n.Impl.(Provisioner)
		if !ok {
			continue
		}
		plan, err := p.Plan(ctx)
		if err != nil {
			return plans, fmt.Errorf("plan %s: %w", n.ID, err)
		}
		if plan == nil {
			plan = &Plan{}
		}
		plan.Stage = n.ID
		plans = append(plans, plan)
	}
	return plans, nil
}

// Provision plans and applies every provisioning stage before the pipeline
// runs. Stages refuse destructive changes they were not allowed to make.
func (g *Graph) Provision(ctx context.Context) error {
	for _, n := range g.Nodes {
		p, ok := n.Impl.(Provisioner)
		if !ok {
			continue
		}
		var plan *Plan
		var bo backoff
		for {
			var err error
			plan, err = p.Plan(ctx)
			if err == nil {
				break
			}
			if errors.Is(err, ErrPermanent) || ctx.Err() != nil {
				return fmt.Errorf("plan %s: %w", n.ID, err)
			}
			g.Logger.Warn("provisioning: cannot plan yet; retrying", "stage", n.ID.String(), "error", err,
				"delay", max(bo.next, 100*time.Millisecond))
			if !bo.wait(ctx) {
				return fmt.Errorf("plan %s: %w", n.ID, err)
			}
		}
		if plan == nil || len(plan.Changes) == 0 {
			continue
		}
		plan.Stage = n.ID
		a, c, d := plan.Counts()
		g.Logger.Info("provisioning", "stage", n.ID.String(), "add", a, "change", c, "destroy", d)
		if err := p.Apply(ctx, plan); err != nil {
			return fmt.Errorf("apply %s: %w", n.ID, err)
		}
	}
	return nil
}

// PlanEntry returns c: a stage's own plan entries embed a Change, and so
// are Entries.
func (c Change) PlanEntry() Change { return c }

// Entry is a stage's plan entry: a Change with what makes it.
type Entry interface{ PlanEntry() Change }

// Changes returns the Changes of entries (nil if none).
func Changes[E Entry](entries []E) []Change {
	if len(entries) == 0 {
		return nil
	}
	cs := make([]Change, len(entries))
	for i, e := range entries {
		cs[i] = e.PlanEntry()
	}
	return cs
}

// SameChanges reports whether got makes the changes of planned, in order:
// Apply refuses to go on when the resources changed since the plan.
func SameChanges[E Entry](planned []Change, got []E) bool {
	if len(planned) != len(got) {
		return false
	}
	for i := range planned {
		if c := got[i].PlanEntry(); planned[i].Action != c.Action || planned[i].Resource != c.Resource {
			return false
		}
	}
	return true
}

// Destructive lists the entries that lose data, as "action resource", for
// the error refusing them.
func Destructive[E Entry](entries []E) []string {
	var refused []string
	for _, e := range entries {
		if c := e.PlanEntry(); c.Destructive {
			refused = append(refused, fmt.Sprintf("%s %s", c.Action, c.Resource))
		}
	}
	return refused
}
