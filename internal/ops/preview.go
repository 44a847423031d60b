package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
)

// PreviewChange is one row of a preview.
type PreviewChange struct {
	Database   string            `json:"database"`
	Key        string            `json:"key"`
	Kind       string            `json:"kind"` // created, updated, unchanged, skipped, trashed
	Properties map[string]string `json:"properties,omitempty"`
	// Message says what a change without properties is (a delete).
	Message string `json:"message,omitempty"`
	// Old are an updated row's values in Notion now, property by
	// property (nil when not read: OldError says why).
	Old      map[string]string `json:"old,omitempty"`
	OldError string            `json:"old_error,omitempty"`
}

// Changed lists the properties of an updated row whose value changes
// (old ≠ new), sorted; nil when the old values were not read.
func (c PreviewChange) Changed() []string {
	if c.Old == nil {
		return nil
	}
	var out []string
	for name, v := range c.Properties {
		if c.Old[name] != v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// PreviewResult is what an executor answers to a preview.
type PreviewResult struct {
	Changes   []PreviewChange `json:"changes"`
	HasMore   bool            `json:"has_more"`
	NextState json.RawMessage `json:"next_state,omitempty"`
	// Error is Execute's or validation's error, for the operator to read.
	Error string `json:"error,omitempty"`
}

// ErrNoExecutor means no executor answered a preview.
var ErrNoExecutor = errors.New("no executor answered")

// Preview asks an executor to run Execute once from state (nil: the stored
// state) and report what would change, writing nothing.
func (o *Ops) Preview(ctx context.Context, key string, state json.RawMessage) (PreviewResult, error) {
	s, err := o.declared(ctx, key)
	if err != nil {
		return PreviewResult{}, err
	}
	if state != nil && !json.Valid(state) {
		return PreviewResult{}, fmt.Errorf("the given state is not valid JSON: %w", ErrInvalidState)
	}
	id := uuid.NewString()
	wait := s.Timeout + 30*time.Second
	if err := o.queue.EnqueuePreview(ctx, queue.PreviewPayload{ID: id, Sync: key, State: state}, queue.ForWorker(s.Worker), s.Timeout+time.Minute); err != nil {
		return PreviewResult{}, err
	}
	b, err := o.rdb.WaitPreview(ctx, id, wait)
	if errors.Is(err, rdb.ErrPreviewTimeout) {
		return PreviewResult{}, fmt.Errorf("no executor of worker %q answered the preview of %q within %v: start one: %w", s.Worker, key, wait, ErrNoExecutor)
	}
	if err != nil {
		return PreviewResult{}, err
	}
	var res PreviewResult
	if err := json.Unmarshal(b, &res); err != nil {
		return PreviewResult{}, fmt.Errorf("decode preview result: %w", err)
	}
	return res, nil
}

// ErrInvalidState is a state given by an operator that is not JSON.
var ErrInvalidState = errors.New("invalid state")
