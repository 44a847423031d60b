package synqtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// Env is a worker's syncs on a private redis-server and an in-process
// Notion emulator, its databases created: run its syncs with Run, read its
// databases with Rows. Everything is stopped and removed when the test
// ends. An Env is used by one goroutine at a time.
type Env struct {
	tb     TB
	set    *spec.Set
	emu    *emulator.Server
	notion *notion.Client
	rdb    *rdb.RDB
	eng    *engine.Engine
	log    *slog.Logger
	runs   int
}

// NewEnv starts a redis-server and a Notion emulator for the test and
// creates the worker's databases in the emulator, as an executor does at
// start-up. Declarations that do not validate fail the test, and so does
// a missing redis-server (with how to install it).
func NewEnv(tb TB, w *synq.Worker) *Env {
	tb.Helper()
	if w == nil {
		tb.Fatalf("synqtest: the worker is nil")
	}
	set, err := w.Spec(spec.Access{})
	if err != nil {
		tb.Fatalf("synqtest: %v", err)
	}
	e := &Env{tb: tb, set: set, log: logger(tb)}
	t := asTesting(tb)
	redis := redistest.Start(t)
	e.emu = notiontest.Start(t, emulator.Config{})
	// The client's idle connections are closed before the emulator stops
	// (cleanups run last-registered first): one it dialed but never used
	// would hold the emulator's graceful shutdown for 5 s.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	tb.Cleanup(hc.CloseIdleConnections)
	e.notion, err = notion.New(notion.Config{BaseURL: e.emu.URL(), Token: notiontest.Token, HTTPClient: hc,
		Backoff: 5 * time.Millisecond, Timeout: 10 * time.Second, Logger: discard})
	if err != nil {
		tb.Fatalf("synqtest: %v", err)
	}
	e.rdb = rdb.New(redis.Client())
	e.eng, err = engine.New(engine.Config{
		Redis: e.rdb, Notion: e.notion, ParentPageID: notiontest.ParentPageID(), Set: set, Logger: e.log,
		// In-process, an unknown write shows up at once: no need to give
		// it the seconds real Notion may take.
		SettleDelay: 20 * time.Millisecond, ProvisionBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		tb.Fatalf("synqtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.eng.Provision(ctx); err != nil {
		tb.Fatalf("synqtest: create the worker's databases: %v", err)
	}
	return e
}

// RunOption adjusts one Run.
type RunOption func(*runOptions)

type runOptions struct {
	state      []byte
	hasState   bool
	runs       int
	faults     *emulator.Faults
	allowTrash bool
	err        error
}

// InitialState sets the sync's committed state to state (encoded as JSON,
// as executors store it) before the run: an incremental sync resumes from
// a cursor, a replace cycle from a page.
func InitialState(state any) RunOption {
	return func(o *runOptions) {
		b, err := json.Marshal(state)
		if err != nil {
			o.err = fmt.Errorf("InitialState: encode %T: %w", state, err)
			return
		}
		o.state, o.hasState = b, true
	}
}

// Runs runs the sync n times in a row (default 1): an incremental sync's
// state carries over, a replace sync's second run finds its rows written.
// The Result is the last run's.
func Runs(n int) RunOption { return func(o *runOptions) { o.runs = n } }

// NotionFaults makes the emulator fail a fraction of Notion calls during
// the run, in the syntax of the emulator's --faults flag: "500=0.2" fails
// one call in five with a 500, "applied503=0.1" applies a write and then
// answers 503, "stall=0.05,stall_for=2s" holds calls, "429=0.1" answers
// rate limited, "seed=7" makes the draws repeatable. A sync whose rows come
// out right under faults survives Notion's bad days.
func NotionFaults(spec string) RunOption {
	return func(o *runOptions) {
		f, err := emulator.ParseFaults(spec)
		if err != nil {
			o.err = fmt.Errorf("NotionFaults(%q): %w", spec, err)
			return
		}
		o.faults = &f
	}
}

// AllowTrash lifts the deletion guard for the run, as
// `ctl trigger KEY --allow-trash` does.
func AllowTrash() RunOption { return func(o *runOptions) { o.allowTrash = true } }

// Result is what a run did and what Notion holds after it.
type Result struct {
	// Pages is the number of pages the run committed.
	Pages int
	// Counts are the run's counters.
	Counts Counts
	// Held is set when the deletion guard kept the run from trashing
	// rows: the warning the run ended with.
	Held string
	// Rows are the live rows of the sync's database, by primary key.
	Rows Rows
	// Databases are the live rows of every database the worker declares,
	// by database key.
	Databases map[string]Rows
	// State is the sync's committed state after the run (JSON; nil when
	// there is none, as after a completed replace cycle).
	State json.RawMessage
}

// Counts are a run's counters: rows created, updated, unchanged (no
// Notion call), trashed (replace sweeps, deletes), skipped (older than
// what was written for the key), and relation values left waiting for
// their related rows, filled in later, or given up.
type Counts struct {
	Created, Updated, Unchanged, Trashed, Skipped    int
	Unresolved, RelationsCompleted, RelationsDropped int
}

// Rows are the live rows of a database, by primary key.
type Rows map[string]Row

// Keys returns the primary keys of the rows, sorted.
func (r Rows) Keys() []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Row is a row as Notion holds it.
type Row struct {
	// Key is the row's primary key.
	Key string
	// Properties are the row's values as plain Go values (see the package
	// documentation): every property of the schema, with the ones never
	// written at their empty value.
	Properties map[string]any
	// Content is the row's page body as Markdown ("" for none).
	Content string
	// Icon is the row's emoji or icon URL; Cover its cover's URL.
	Icon, Cover string
}

// Run runs the sync named sync once (or as Runs says) on a new Env and
// returns the result; a run that fails fails the test.
func Run(tb TB, w *synq.Worker, sync string, opts ...RunOption) *Result {
	tb.Helper()
	return NewEnv(tb, w).Run(sync, opts...)
}

// Run runs the sync named sync once (or as Runs says): every page, from
// its committed state, until Execute reports no more; then the replace
// sweep or the incremental state kept for the next run. A run that fails
// fails the test; TryRun returns its error.
func (e *Env) Run(sync string, opts ...RunOption) *Result {
	e.tb.Helper()
	res, err := e.TryRun(sync, opts...)
	if err != nil {
		e.tb.Fatalf("synqtest: %v", err)
	}
	return res
}

// TryRun is Run returning the error of a run that fails (after the
// sync's MaxAttempts at a page, or at once for an error that retrying
// cannot fix) rather than failing the test. The pages committed before
// the failure stay committed: the next run resumes after them, as on an
// executor. Mistakes of the test itself (an undeclared sync, bad options)
// still fail it.
func (e *Env) TryRun(sync string, opts ...RunOption) (*Result, error) {
	e.tb.Helper()
	s, ok := e.set.Syncs[sync]
	if !ok {
		e.tb.Fatalf("synqtest: sync %q is not declared by worker %q (declared: %v)", sync, e.set.Worker, e.set.SyncOrder)
	}
	o := runOptions{runs: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		e.tb.Fatalf("synqtest: %v", o.err)
	}
	if o.runs < 1 {
		e.tb.Fatalf("synqtest: Runs(%d): want at least one run", o.runs)
	}
	ctx := context.Background()
	if o.hasState {
		if err := e.rdb.SetState(ctx, sync, o.state); err != nil {
			e.tb.Fatalf("synqtest: %v", err)
		}
	}
	if o.faults != nil {
		e.emu.SetFaults(*o.faults)
	}
	res := &Result{}
	var err error
	for range o.runs {
		if res, err = e.run(ctx, s, o.allowTrash); err != nil {
			break
		}
	}
	if o.faults != nil {
		e.emu.SetFaults(emulator.Faults{})
	}
	if err != nil {
		return nil, err
	}
	if res.Databases, err = e.readAll(ctx); err != nil {
		e.tb.Fatalf("synqtest: read the rows back from the emulator: %v", err)
	}
	res.Rows = res.Databases[s.Database]
	st, err := e.rdb.GetSync(ctx, sync)
	if err != nil {
		e.tb.Fatalf("synqtest: %v", err)
	}
	res.State = st.State
	return res, nil
}

// run is one run: RunCycle, resumed after a failed page until the page
// has had the sync's MaxAttempts.
func (e *Env) run(ctx context.Context, s *spec.Sync, allowTrash bool) (*Result, error) {
	e.runs++
	run := fmt.Sprintf("synqtest-%s-%d", s.Key, e.runs)
	log := e.log.With("sync", s.Key, "run", run)
	res := &Result{}
	counters := engine.Counters{}
	for attempt := 1; ; attempt++ {
		c, err := e.eng.RunCycleWith(ctx, s.Key, run, engine.CycleOptions{AllowTrash: allowTrash}, log)
		res.Pages += c.Pages
		res.Held = c.Held
		for k, v := range c.Counters {
			counters[k] += v
		}
		if err == nil {
			break
		}
		if c.Pages > 0 {
			attempt = 1 // the page that failed is a new one
		}
		var p interface{ Permanent() bool }
		if engine.IsValidation(err) || errors.As(err, &p) && p.Permanent() {
			return nil, fmt.Errorf("run %d of sync %q failed with an error that retrying cannot fix: %w", e.runs, s.Key, err)
		}
		if attempt >= s.MaxAttempts {
			return nil, fmt.Errorf("run %d of sync %q failed after %d attempts at a page: %w", e.runs, s.Key, attempt, err)
		}
		log.Warn("page failed; retrying it", "attempt", attempt, "err", err)
	}
	res.Counts = Counts{
		Created: int(counters[string(engine.Created)]), Updated: int(counters[string(engine.Updated)]),
		Unchanged: int(counters[string(engine.Unchanged)]), Trashed: int(counters[string(engine.Trashed)]),
		Skipped: int(counters[string(engine.Skipped)]), Unresolved: int(counters["unresolved"]),
		RelationsCompleted: int(counters["relations_completed"]), RelationsDropped: int(counters["relations_dropped"]),
	}
	return res, nil
}

// Rows returns the live rows of the database declared under key, as
// Notion holds them now.
func (e *Env) Rows(database string) Rows {
	e.tb.Helper()
	if _, ok := e.set.Databases[database]; !ok {
		e.tb.Fatalf("synqtest: database %q is not declared by worker %q (declared: %v)", database, e.set.Worker, e.set.DatabaseOrder)
	}
	all, err := e.readAll(context.Background())
	if err != nil {
		e.tb.Fatalf("synqtest: read the rows back from the emulator: %v", err)
	}
	return all[database]
}

// State decodes the sync's committed state into into (a pointer to the
// sync's state type) and reports whether there is one.
func (e *Env) State(sync string, into any) bool {
	e.tb.Helper()
	st, err := e.rdb.GetSync(context.Background(), sync)
	if err != nil {
		e.tb.Fatalf("synqtest: %v", err)
	}
	if len(st.State) == 0 {
		return false
	}
	if err := json.Unmarshal(st.State, into); err != nil {
		e.tb.Fatalf("synqtest: decode the state of sync %q (%s) into %T: %v", sync, st.State, into, err)
	}
	return true
}

// readAll reads every database's live rows: properties decoded back into
// plain values (people by email, relations by the related row's key) and
// page bodies as Markdown.
func (e *Env) readAll(ctx context.Context) (map[string]Rows, error) {
	type read struct {
		db    *spec.Database
		pages []*notion.Page
	}
	var reads []read
	keyOf := map[string]string{} // page id (no dashes) → primary key
	for _, k := range e.set.DatabaseOrder {
		db := e.set.Databases[k]
		ids, ok, err := e.rdb.GetDatabase(ctx, k)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("database %q was not created", k)
		}
		r := read{db: db}
		err = e.notion.QueryAll(ctx, ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
			r.pages = append(r.pages, p)
			keyOf[bare(p.ID)] = p.Properties[db.PrimaryKey].Text()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("database %q: %w", k, err)
		}
		reads = append(reads, r)
	}
	users, err := e.notion.AllUsers(ctx)
	if err != nil {
		return nil, err
	}
	emails := map[string]string{}
	for _, u := range users {
		emails[bare(u.ID)] = u.Email()
	}
	names := engine.Names{
		Email: func(id string) (string, bool) { em, ok := emails[bare(id)]; return em, ok && em != "" },
		Key:   func(id string) (string, bool) { k, ok := keyOf[bare(id)]; return k, ok },
	}
	// Rows are decoded and their bodies read in parallel: a body is a
	// request or more per row, and tests read whole databases after
	// every run.
	out := make(map[string]Rows, len(reads))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, r := range reads {
		rows := Rows{}
		out[r.db.Key] = rows
		for _, p := range r.pages {
			g.Go(func() error {
				row, err := e.row(gctx, r.db, p, keyOf[bare(p.ID)], names)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if _, dup := rows[row.Key]; dup {
					return fmt.Errorf("database %q holds two rows with key %q: synq wrote a row twice", r.db.Key, row.Key)
				}
				rows[row.Key] = row
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// row decodes page p of database db, whose primary key is key.
func (e *Env) row(ctx context.Context, db *spec.Database, p *notion.Page, key string, names engine.Names) (Row, error) {
	row := Row{Key: key, Properties: map[string]any{}, Icon: iconString(p.Icon), Cover: iconString(p.Cover)}
	for name, pv := range p.Properties {
		if _, declared := db.Schema[name]; !declared {
			continue // a column people added in Notion, a two-way relation's other side
		}
		v, err := engine.ValueFromNotion(pv, names)
		if err != nil {
			return Row{}, fmt.Errorf("database %q, key %q, property %q: %w", db.Key, key, name, err)
		}
		row.Properties[name] = Plain(v)
	}
	blocks, err := pagecontent.Read(ctx, e.notion, p.ID)
	if err != nil {
		return Row{}, fmt.Errorf("database %q, key %q: read the page body: %w", db.Key, key, err)
	}
	row.Content = pagecontent.Markdown(blocks)
	return row, nil
}

func bare(id string) string { return strings.ReplaceAll(id, "-", "") }

func iconString(i *notion.Icon) string {
	switch {
	case i == nil:
		return ""
	case i.Emoji != "":
		return i.Emoji
	case i.External != nil:
		return i.External.URL
	case i.File != nil:
		return i.File.URL
	}
	return ""
}

// asTesting adapts a TB to the testing.TB the Redis and emulator helpers
// take. A *testing.T (or any testing.TB) is passed as it is; another TB
// (a stand-in, as in the package's examples) gets the methods those
// helpers call.
func asTesting(tb TB) testingTB {
	if t, ok := tb.(testingTB); ok {
		return t
	}
	return &adapter{t: tb}
}
