package synqtest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/spec"
)

// Page is what one Execute returned, checked.
type Page[S any] struct {
	// Changes are the page's changes in the order Execute returned them.
	Changes []Change
	// HasMore is Execute's HasMore: another page follows.
	HasMore bool
	// NextState is the state the next page (or, for an incremental sync,
	// the next run) starts from: Execute's NextState, or the state Execute
	// was given when it returned none.
	NextState *S
}

// Change is an upsert or a delete, with its values as they are written.
type Change struct {
	// Key is the row's primary key.
	Key string
	// Database is the key of the database the change writes: the sync's,
	// or the one the change named with In.
	Database string
	// Delete is set for a delete (Properties is then nil).
	Delete bool
	// Properties are the values written, as plain Go values (see the
	// package documentation), the primary key property included (synq
	// fills it from Key).
	Properties map[string]any
	// Content is the Markdown set by Upsert(…).Content; nil when the
	// change leaves the page body as it is.
	Content *string
	// Icon and Cover are the change's icon and cover ("" for none).
	Icon, Cover string
	// UpdatedAt is the change's UpdatedAt (zero when not set).
	UpdatedAt time.Time
}

// Change returns the last change of the page for key, or false.
func (p *Page[S]) Change(key string) (Change, bool) {
	for i := len(p.Changes) - 1; i >= 0; i-- {
		if p.Changes[i].Key == key {
			return p.Changes[i], true
		}
	}
	return Change{}, false
}

// Keys returns the keys of the page's changes, in order.
func (p *Page[S]) Keys() []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.Key
	}
	return out
}

// Execute calls the Execute of the sync named sync, declared on w, once
// from state (nil: the zero state), with the sync's Timeout, and checks its
// changes as an executor does before writing anything. Execute's error, an
// invalid change or a state of another type than the sync's fails the
// test; TryExecute returns them instead. Lines Execute logs with
// synq.Logger go to the test's log.
func Execute[S any](tb TB, w *synq.Worker, sync string, state *S) *Page[S] {
	tb.Helper()
	p, err := TryExecute(tb, w, sync, state)
	if err != nil {
		tb.Fatalf("synqtest: %v", err)
	}
	return p
}

// TryExecute is Execute returning Execute's error or the validation error
// (an engine error naming sync, key, property and what to change) rather
// than failing the test. Mistakes of the test itself (declarations that do
// not validate, an undeclared sync, a state of another type) still fail
// it.
func TryExecute[S any](tb TB, w *synq.Worker, sync string, state *S) (*Page[S], error) {
	tb.Helper()
	set, s := declared(tb, w, sync)
	if want := reflect.TypeFor[S](); s.State != nil && s.State != want {
		tb.Fatalf("synqtest: sync %q has state type %v; Execute was given a *%v", sync, s.State, want)
	}
	var raw json.RawMessage
	if state != nil {
		b, err := json.Marshal(state)
		if err != nil {
			tb.Fatalf("synqtest: encode the state of sync %q: %v", sync, err)
		}
		raw = b
	}
	page, err := engine.Execute(context.Background(), s, spec.Exec{Sync: sync, Run: "synqtest", Logger: logger(tb)}, raw)
	if err != nil {
		return nil, err
	}
	checked, err := engine.Validate(set, s, page.Changes)
	if err != nil {
		return nil, err
	}
	out := &Page[S]{HasMore: page.HasMore, Changes: make([]Change, len(checked))}
	for i, c := range checked {
		out.Changes[i] = Change{
			Key: c.Change.Key, Database: c.Database, Delete: c.Change.Delete, Content: c.Change.Content,
			Icon: c.Change.Icon, Cover: c.Change.Cover, UpdatedAt: c.Change.UpstreamUpdatedAt,
		}
		if !c.Change.Delete {
			out.Changes[i].Properties = plainProperties(c.Properties)
		}
	}
	next := page.NextState
	if next == nil {
		next = raw
	}
	out.NextState = new(S)
	if len(next) > 0 {
		if err := json.Unmarshal(next, out.NextState); err != nil {
			return nil, fmt.Errorf("sync %q: decode NextState %s: %w", sync, next, err)
		}
	}
	return out, nil
}

// declared validates w and returns its declarations and the sync named
// sync, failing the test on a mistake.
func declared(tb TB, w *synq.Worker, sync string) (*spec.Set, *spec.Sync) {
	tb.Helper()
	if w == nil {
		tb.Fatalf("synqtest: the worker is nil")
	}
	set, err := w.Spec(spec.Access{})
	if err != nil {
		tb.Fatalf("synqtest: %v", err)
	}
	s, ok := set.Syncs[sync]
	if !ok {
		tb.Fatalf("synqtest: sync %q is not declared by worker %q (declared: %v)", sync, set.Worker, set.SyncOrder)
	}
	return set, s
}
