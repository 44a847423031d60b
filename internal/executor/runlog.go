package executor

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/rdb"
)

// runLog collects one page's log lines for the run's log in Redis while
// passing every record on to the executor's own handler.
type runLog struct {
	next   slog.Handler
	source string
	page   int
	attrs  []slog.Attr
	buf    *lineBuffer
}

type lineBuffer struct {
	mu    sync.Mutex
	lines []rdb.LogLine
}

// newRunLogger returns the page's platform logger. The engine logs its own
// lines with it and hands it to Execute, where synq.Logger swaps it for
// the user's (UserHandler): lines are tagged by who wrote them.
func newRunLogger(next slog.Handler, page int) (platform *slog.Logger, buf *lineBuffer) {
	buf = &lineBuffer{}
	return slog.New(&runLog{next: next, source: "platform", page: page, buf: buf}), buf
}

// UserHandler is the same run log with its lines tagged source=user: the
// logger user code gets from synq.Logger in Execute.
func (h *runLog) UserHandler() slog.Handler {
	c := *h
	c.source = "user"
	return &c
}

func (h *runLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *runLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		line := rdb.LogLine{Time: r.Time, Level: r.Level.String(), Source: h.source, Page: h.page, Message: r.Message}
		add := func(a slog.Attr) bool {
			if line.Attrs == nil {
				line.Attrs = map[string]any{}
			}
			rv := a.Value.Resolve()
			v := rv.Any()
			if rv.Kind() == slog.KindGroup {
				// A group (counters) is an object in the run log, as in JSON logs.
				m := map[string]any{}
				for _, g := range rv.Group() {
					m[g.Key] = g.Value.Resolve().Any()
				}
				v = m
			}
			if err, ok := v.(error); ok {
				// Errors have no exported fields: keep their text.
				v = err.Error()
			}
			line.Attrs[a.Key] = v
			return true
		}
		for _, a := range h.attrs {
			add(a)
		}
		r.Attrs(add)
		if line.Time.IsZero() {
			line.Time = time.Now()
		}
		h.buf.mu.Lock()
		h.buf.lines = append(h.buf.lines, line)
		h.buf.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		r = r.Clone()
		r.AddAttrs(slog.String("source", h.source))
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *runLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *runLog) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (b *lineBuffer) take() []rdb.LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.lines
	b.lines = nil
	return out
}

// put returns lines taken for a commit that failed, ahead of newer ones.
func (b *lineBuffer) put(lines []rdb.LogLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(append([]rdb.LogLine(nil), lines...), b.lines...)
}

// countersValue logs a page's counters as a group: created=3 unchanged=1
// under "counters." in text logs, an object in JSON logs and the run log
// (not Go's map[created:3 unchanged:1]).
func countersValue(c map[string]int64) slog.Value {
	attrs := make([]slog.Attr, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		attrs = append(attrs, slog.Int64(k, c[k]))
	}
	return slog.GroupValue(attrs...)
}
