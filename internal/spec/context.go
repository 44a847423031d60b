package spec

import (
	"context"
	"log/slog"
)

// PacerWaiter is what a pacer handle's Wait uses inside an executor: the
// shared, Redis-backed pacer with the running sync as consumer.
type PacerWaiter interface {
	WaitPacer(ctx context.Context, p Pacer, consumer string) error
}

// Exec describes the Execute call in progress; the runtime puts it in the
// context it passes to user code.
type Exec struct {
	Sync   string
	Run    string
	Page   int
	Logger *slog.Logger
	Pacers PacerWaiter
}

type execKey struct{}

// WithExec returns ctx carrying e.
func WithExec(ctx context.Context, e *Exec) context.Context {
	return context.WithValue(ctx, execKey{}, e)
}

// ExecFrom returns the Exec in ctx, or nil outside an Execute call.
func ExecFrom(ctx context.Context) *Exec {
	e, _ := ctx.Value(execKey{}).(*Exec)
	return e
}
