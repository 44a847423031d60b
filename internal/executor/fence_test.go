package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
	"github.com/synqhq/synq/schema"
)

// The scenarios of issue 20 (fenced writes) against real executors in
// this process: a real redis-server and asynq, the Notion emulator over
// HTTP. Page attempts are held inside Execute (gates) to build the
// interleavings a stalled or cancelled writer produces.

// gates holds Execute calls of chosen "<run>:<page>" until released.
type gates struct {
	mu      sync.Mutex
	held    map[string]chan struct{}
	entered map[string]chan struct{}
}

func newGates() *gates {
	return &gates{held: map[string]chan struct{}{}, entered: map[string]chan struct{}{}}
}

// hold makes the next Execute of key wait for release.
func (g *gates) hold(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[key] = make(chan struct{})
	g.entered[key] = make(chan struct{})
}

func (g *gates) release(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch, ok := g.held[key]; ok {
		close(ch)
		delete(g.held, key)
	}
}

// waitEntered waits until an Execute of key is being held.
func (g *gates) waitEntered(t *testing.T, key string) {
	t.Helper()
	g.mu.Lock()
	ch := g.entered[key]
	g.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("no Execute of %s within 60s", key)
	}
}

func (g *gates) pass(ctx context.Context, key string) error {
	g.mu.Lock()
	held, entered := g.held[key], g.entered[key]
	g.mu.Unlock()
	if held == nil {
		return nil
	}
	select {
	case <-entered:
	default:
		close(entered)
	}
	select {
	case <-held:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fenceEnv is one test's Redis, emulator and declarations.
type fenceEnv struct {
	t     *testing.T
	redis *redistest.Server
	emu   *emulator.Server
	nc    *notion.Client
	rdb   *rdb.RDB
	runs  *runs.Runs
	in    *queue.Inspector
	gates *gates
	// pages is how many pages each run has; pageSleep how long each takes.
	pages     int
	pageSleep time.Duration
}

// value is what a run writes: the number in its id ("r2" → 2).
func value(run string) int64 {
	var n int64
	fmt.Sscanf(strings.TrimLeft(run, "abcdefghijklmnopqrstuvwxyz-"), "%d", &n)
	return n
}

func newFenceEnv(t *testing.T) *fenceEnv {
	t.Helper()
	e := &fenceEnv{t: t, redis: redistest.Start(t), emu: notiontest.Start(t, emulator.Config{}), gates: newGates(), pages: 1}
	var err error
	e.nc, err = notion.New(notion.Config{BaseURL: e.emu.URL(), Token: notiontest.Token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c := e.redis.Client()
	e.rdb = rdb.New(c)
	e.in = queue.NewInspector(c)
	e.runs, err = runs.New(runs.Config{RDB: e.rdb, Queue: queue.NewClient(c), Inspector: e.in, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// set declares database "d" (Key, V) and syncs "s" and "p" writing to it:
// page n of run r upserts key "k" (sync s) or "p<n>" (sync p) with V =
// value(r), and the state {"run": r, "page": n+1}.
func (e *fenceEnv) set(worker string) *spec.Set {
	db := &spec.Database{Key: "d", InitialTitle: "D", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title(), "V": schema.Number()}}
	set := &spec.Set{Worker: worker, Databases: map[string]*spec.Database{"d": db}, Syncs: map[string]*spec.Sync{},
		DatabaseOrder: []string{"d"}}
	for _, key := range []string{"s", "p"} {
		key := key
		s := &spec.Sync{Key: key, Database: "d", Mode: spec.Incremental, Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"},
			Timeout: time.Minute, MaxAttempts: 3,
			Execute: func(ctx context.Context, state json.RawMessage) (spec.Page, error) {
				x := spec.ExecFrom(ctx)
				if err := e.gates.pass(ctx, fmt.Sprintf("%s:%d", x.Run, x.Page)); err != nil {
					return spec.Page{}, err
				}
				select {
				case <-time.After(e.pageSleep):
				case <-ctx.Done():
					return spec.Page{}, ctx.Err()
				}
				row := "k"
				if key == "p" {
					row = fmt.Sprintf("p%d", x.Page)
				}
				next, _ := json.Marshal(map[string]any{"run": x.Run, "page": x.Page + 1})
				return spec.Page{Changes: []spec.Change{{Key: row, Properties: builder.Properties{"V": builder.Int(value(x.Run))}}},
					HasMore: x.Page+1 < e.pages, NextState: next}, nil
			}}
		set.Syncs[key] = s
		set.SyncOrder = append(set.SyncOrder, key)
	}
	return set
}

// executor returns an executor of worker (not started).
func (e *fenceEnv) executor(worker string) *Executor {
	e.t.Helper()
	set := e.set(worker)
	eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.nc, ParentPageID: notiontest.ParentPageID(), Set: set, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	x, err := New(Config{Settings: Settings{Concurrency: 4, ManifestInterval: 100 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}, Set: set, Engine: eng, Redis: e.redis.Client()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := eng.Provision(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return x
}

func (e *fenceEnv) startExecutor(x *Executor) {
	e.t.Helper()
	if err := x.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = x.Stop(context.Background()) })
}

func (e *fenceEnv) opts(worker string) runs.TaskOptions {
	return runs.TaskOptions{Worker: worker, MaxAttempts: 3, Timeout: time.Minute}
}

func (e *fenceEnv) start(sync, run, worker string) {
	e.t.Helper()
	if err := e.runs.Start(context.Background(), runs.Start{Sync: sync, Run: run, Trigger: "manual", Options: e.opts(worker)}); err != nil {
		e.t.Fatalf("start %s: %v", run, err)
	}
}

func (e *fenceEnv) run(sync, run string) rdb.Run {
	e.t.Helper()
	r, ok, err := e.rdb.GetRun(context.Background(), sync, run)
	if err != nil || !ok {
		e.t.Fatalf("run %s: %v %v", run, ok, err)
	}
	return r
}

func (e *fenceEnv) waitFor(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEnded waits for a run to end and returns it.
func (e *fenceEnv) waitEnded(sync, run string, d time.Duration) rdb.Run {
	e.t.Helper()
	var r rdb.Run
	e.waitFor(d, "run "+run+" to end", func() bool {
		r = e.run(sync, run)
		return r.Ended()
	})
	return r
}

// waitTaskDone waits until asynq has finished task (completed, or gone).
func (e *fenceEnv) waitTaskDone(q, task string) {
	e.t.Helper()
	e.waitFor(60*time.Second, "task "+task+" to finish", func() bool {
		info, err := e.in.Task(context.Background(), q, task)
		return err == nil && (info.State == queue.TaskCompleted || info.State == queue.TaskMissing || info.State == queue.TaskArchived)
	})
}

// rows reads database d from Notion: key → V.
func (e *fenceEnv) rows() map[string]float64 {
	e.t.Helper()
	ids, ok, err := e.rdb.GetDatabase(context.Background(), "d")
	if err != nil || !ok {
		e.t.Fatalf("database d: %v %v", ok, err)
	}
	out := map[string]float64{}
	err = e.nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		key := p.Properties["Key"].Text()
		if _, dup := out[key]; dup {
			e.t.Errorf("key %q has two rows", key)
		}
		if n := p.Properties["V"].Number; n != nil {
			out[key] = *n
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *fenceEnv) state(sync string) string {
	e.t.Helper()
	st, err := e.rdb.GetSync(context.Background(), sync)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(st.State)
}

func (e *fenceEnv) logHas(sync, run, text string) bool {
	lines, _ := e.rdb.ReadLog(context.Background(), sync, run, 0)
	for _, l := range lines {
		if strings.Contains(l.Message, text) {
			return true
		}
	}
	return false
}

// Scenario 1 of issue 20: run 1 is cancelled while its page 0 runs, run 2
// is triggered and succeeds, then run 1's page 0 finishes. The sync's
// state is run 2's, run 2 succeeded, and Notion holds run 2's values.
func TestCancelThenTrigger(t *testing.T) {
	e := newFenceEnv(t)
	x := e.executor("w")
	e.startExecutor(x)
	e.gates.hold("r1:0")
	e.start("s", "r1", "w")
	e.gates.waitEntered(t, "r1:0")
	if err := e.runs.Cancel(context.Background(), "s", "r1", "a test"); err != nil {
		t.Fatal(err)
	}
	e.start("s", "r2", "w")
	if r := e.waitEnded("s", "r2", 60*time.Second); r.Status != rdb.RunSucceeded {
		t.Fatalf("run 2 = %+v", r)
	}
	e.gates.release("r1:0")
	e.waitTaskDone("synq:w", "r1:0")
	if got, want := e.state("s"), `{"page":1,"run":"r2"}`; got != want {
		t.Errorf("state = %s, want run 2's %s", got, want)
	}
	if r := e.run("s", "r2"); r.Status != rdb.RunSucceeded {
		t.Errorf("run 2 after run 1's page finished = %+v", r)
	}
	if r := e.run("s", "r1"); r.Status != rdb.RunCancelled {
		t.Errorf("run 1 = %+v", r)
	}
	if got := e.rows(); got["k"] != 2 {
		t.Errorf("Notion holds V=%v for k, want run 2's 2", got["k"])
	}
	if !e.logHas("s", "r1", "page attempt discarded: another run started") {
		t.Errorf("run 1's log does not say why its page was discarded")
	}
	// A third run goes on from run 2's state: nothing is out of order.
	e.start("s", "r3", "w")
	if r := e.waitEnded("s", "r3", 60*time.Second); r.Status != rdb.RunSucceeded {
		t.Fatalf("run 3 = %+v", r)
	}
}

// Scenario 1 of issue 20: cancel, then `ctl state reset`; the cancelled
// run's page finishes afterwards. The reset state stays reset.
func TestCancelThenReset(t *testing.T) {
	e := newFenceEnv(t)
	x := e.executor("w")
	e.startExecutor(x)
	e.start("s", "r5", "w")
	if r := e.waitEnded("s", "r5", 60*time.Second); r.Status != rdb.RunSucceeded {
		t.Fatalf("run 5 = %+v", r)
	}
	e.gates.hold("r1:0")
	e.start("s", "r1", "w")
	e.gates.waitEntered(t, "r1:0")
	if err := e.runs.Cancel(context.Background(), "s", "r1", "a test"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.rdb.GetSyncStatus(context.Background(), "s"); st.ActiveRun != "" {
		t.Fatalf("active run after cancel: %q", st.ActiveRun)
	}
	if err := e.rdb.ResetState(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	e.gates.release("r1:0")
	e.waitTaskDone("synq:w", "r1:0")
	if got := e.state("s"); got != "" {
		t.Errorf("state after reset = %s, want none", got)
	}
	if got := e.rows(); got["k"] != 5 {
		t.Errorf("Notion holds V=%v for k, want 5 (the cancelled page writes nothing after the reset)", got["k"])
	}
}

// Scenario 1 of issue 20: a page attempt stalls; its task is delivered
// again while the sync is paused and that delivery parks the run; the
// stalled attempt then finishes. After resume the run ends by itself,
// and the reaper does not fail it.
func TestZombieAfterPark(t *testing.T) {
	e := newFenceEnv(t)
	x := e.executor("w")
	ctx := context.Background()
	e.start("s", "r1", "w")
	e.gates.hold("r1:0")
	p := queue.Payload{Sync: "s", Run: "r1", Page: 0}
	zombie := make(chan error, 1)
	go func() { zombie <- x.runPage(ctx, p, queue.Attempt{TaskID: "r1:0", Retried: 0, MaxRetry: 2}) }()
	e.gates.waitEntered(t, "r1:0")
	if err := e.runs.Pause(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	// The redelivery (the stalled attempt lost its lease) parks the run.
	if err := x.runPage(ctx, p, queue.Attempt{TaskID: "r1:0", Retried: 1, MaxRetry: 2}); err != nil {
		t.Fatal(err)
	}
	if r := e.run("s", "r1"); r.Status != rdb.RunParked {
		t.Fatalf("run after the redelivery = %+v, want parked", r)
	}
	e.gates.release("r1:0")
	if err := <-zombie; err != nil {
		t.Fatalf("the stalled attempt: %v", err)
	}
	if run, err := e.runs.Resume(ctx, "s", e.opts("w")); err != nil || run != "r1" {
		t.Fatalf("resume = %q %v", run, err)
	}
	// The executor now runs whatever the queue holds; the leader's reaper
	// watches.
	e.startExecutor(x)
	reaper, err := e.runs.NewReaper(runs.ReaperConfig{Grace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var r rdb.Run
	e.waitFor(60*time.Second, "run r1 to end", func() bool {
		if _, err := reaper.Reap(ctx, []runs.Watched{{Key: "s", Declared: true, Options: e.opts("w")}}); err != nil {
			t.Logf("reap: %v", err)
		}
		r = e.run("s", "r1")
		return r.Ended()
	})
	if r.Status != rdb.RunSucceeded {
		t.Fatalf("run after resume = %+v", r)
	}
	if got := e.rows(); got["k"] != 1 {
		t.Fatalf("rows = %v", got)
	}
}

// Scenario 4 of issue 20: worker w1 is redeployed as w2 while sync s has
// a run in flight and sync p a parked run. Both finish on w2.
func TestWorkerRenameKeepsRunsGoing(t *testing.T) {
	e := newFenceEnv(t)
	e.pages, e.pageSleep = 3, 300*time.Millisecond
	ctx := context.Background()
	x1 := e.executor("w1")
	e.startExecutor(x1)
	// p's run parks after its first page.
	e.gates.hold("p1:1")
	e.start("p", "p1", "w1")
	e.gates.waitEntered(t, "p1:1")
	if err := e.runs.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	e.gates.release("p1:1")
	e.waitFor(60*time.Second, "p1 to park", func() bool { return e.run("p", "p1").Status == rdb.RunParked })
	// s's run is on its first page when w1 stops.
	e.gates.hold("s1:0")
	e.start("s", "s1", "w1")
	e.gates.waitEntered(t, "s1:0")
	stopped := make(chan error, 1)
	go func() { stopped <- x1.Stop(ctx) }()
	time.Sleep(100 * time.Millisecond)
	e.gates.release("s1:0")
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// w1's manifest expires; the redeploy comes up as w2.
	e.waitFor(30*time.Second, "w1's manifest to expire", func() bool {
		live, _ := e.rdb.LiveBuilds(ctx)
		_, ok := live["w1"]
		return !ok
	})
	x2 := e.executor("w2")
	e.startExecutor(x2)
	reaper, err := e.runs.NewReaper(runs.ReaperConfig{Grace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	watched := []runs.Watched{{Key: "s", Declared: true, Options: e.opts("w2")}, {Key: "p", Declared: true, Options: e.opts("w2")}}
	if run, err := e.runs.Resume(ctx, "p", e.opts("w2")); err != nil || run != "p1" {
		t.Fatalf("resume p = %q %v", run, err)
	}
	e.waitFor(90*time.Second, "both runs to end", func() bool {
		if _, err := reaper.Reap(ctx, watched); err != nil {
			t.Logf("reap: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		return e.run("s", "s1").Ended() && e.run("p", "p1").Ended()
	})
	for _, r := range []rdb.Run{e.run("s", "s1"), e.run("p", "p1")} {
		if r.Status != rdb.RunSucceeded || r.Queue != "synq:w2" || r.Counters["pages"] != 3 {
			t.Errorf("run %s = %+v, want succeeded on synq:w2 with 3 pages", r.ID, r)
		}
	}
	got := e.rows()
	if got["k"] != 1 || got["p0"] != 1 || got["p2"] != 1 {
		t.Errorf("rows = %v", got)
	}
}

// Scenario 6 of issue 20: a log attribute JSON cannot encode never fails
// the page's commit.
func TestNaNLogAttributeDoesNotFailTheCommit(t *testing.T) {
	e := newFenceEnv(t)
	x := e.executor("w")
	ctx := context.Background()
	s := x.cfg.Set.Syncs["s"]
	exec := s.Execute
	s.Execute = func(ctx context.Context, state json.RawMessage) (spec.Page, error) {
		spec.ExecFrom(ctx).Logger.Info("odd figures", "ratio", 0.0/zero(), "f", func() {})
		return exec(ctx, state)
	}
	e.start("s", "r1", "w")
	err := x.runPage(ctx, queue.Payload{Sync: "s", Run: "r1", Page: 0}, queue.Attempt{TaskID: "r1:0", MaxRetry: 2})
	if err != nil {
		t.Fatalf("page with a NaN log attribute: %v", err)
	}
	if r := e.run("s", "r1"); r.Status != rdb.RunSucceeded {
		t.Fatalf("run = %+v", r)
	}
	if !e.logHas("s", "r1", "odd figures") {
		t.Fatal("the line with the NaN attribute is not in the run log")
	}
}

func zero() float64 { return 0 }

var _ = errors.Is
