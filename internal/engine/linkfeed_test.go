package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// linkFeed serves changes, 100 a page; an empty feed serves one empty page.
type linkFeed struct {
	mu      sync.Mutex
	changes []synq.Change
}

// add queues a "links" row naming rows of "targets".
func (f *linkFeed) add(k string, targets ...string) {
	f.push(synq.Upsert(k, builder.Properties{"Target": builder.Relation(targets...)}))
}

func (f *linkFeed) push(c ...synq.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, c...)
}

func (f *linkFeed) execute(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(100, len(f.changes))
	c := f.changes[:n]
	f.changes = f.changes[n:]
	return synq.Result[struct{}]{Changes: c, HasMore: len(f.changes) > 0}, nil
}

// linksWorld declares "targets" and "links" (links.Target → targets), with
// an incremental sync for each.
type linksWorld struct {
	w                *synq.Worker
	targets, links   *synq.Database
	targetsF, linksF *linkFeed
}

func newLinksWorld() *linksWorld {
	lw := &linksWorld{targetsF: &linkFeed{}, linksF: &linkFeed{}}
	lw.w = synq.NewWorker(synq.WorkerConfig{Name: "links"})
	lw.targets = lw.w.Database("targets", synq.DatabaseConfig{InitialTitle: "Targets", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":  schema.Title(),
		"Note": schema.RichText(),
	}})
	lw.links = lw.w.Database("links", synq.DatabaseConfig{InitialTitle: "Links", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":    schema.Title(),
		"Note":   schema.RichText(),
		"Target": schema.Relation("targets"),
	}})
	synq.AddSync(lw.w, "targetsSync", synq.SyncConfig[struct{}]{Database: lw.targets, Mode: synq.Incremental, Schedule: "manual", Execute: lw.targetsF.execute})
	synq.AddSync(lw.w, "linksSync", synq.SyncConfig[struct{}]{Database: lw.links, Mode: synq.Incremental, Schedule: "manual", Execute: lw.linksF.execute})
	return lw
}

// logs records log lines (message and attributes) for assertions.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logger() *slog.Logger { return slog.New(&logHandler{l: l}) }

func (l *logs) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type logHandler struct {
	l     *logs
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.l.mu.Lock()
	h.l.lines = append(h.l.lines, b.String())
	h.l.mu.Unlock()
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
