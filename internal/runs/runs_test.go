package runs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

type env struct {
	rc   *redis.Client
	rdb  *rdb.RDB
	runs *runs.Runs
	in   *queue.Inspector
	opts runs.TaskOptions
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rc := redistest.Start(t).Client()
	in := queue.NewInspector(rc)
	r, err := runs.New(runs.Config{RDB: rdb.New(rc), Queue: queue.NewClient(rc), Inspector: in, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{rc: rc, rdb: rdb.New(rc), runs: r, in: in, opts: runs.TaskOptions{Worker: "w", MaxAttempts: 1, Timeout: time.Second}}
}

func (e *env) start(t *testing.T, sync, run string) {
	t.Helper()
	if err := e.runs.Start(context.Background(), runs.Start{Sync: sync, Run: run, Trigger: "manual", Options: e.opts}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(t *testing.T, sync, run string) rdb.Run {
	t.Helper()
	r, ok, err := e.rdb.GetRun(context.Background(), sync, run)
	if err != nil || !ok {
		t.Fatalf("run %s: %v %v", run, ok, err)
	}
	return r
}

func TestStartEnqueuesTheFirstPageAndRefusesASecondRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.start(t, "s", "s-1")
	if info, _ := e.in.Task(ctx, "synq:w", "s-1:0"); info.State != queue.TaskPending {
		t.Fatalf("first page task = %+v", info)
	}
	err := e.runs.Start(ctx, runs.Start{Sync: "s", Run: "s-2", Options: e.opts})
	var active *runs.ActiveError
	if !errors.As(err, &active) || active.Run != "s-1" || !strings.Contains(err.Error(), "ctl cancel s-1") {
		t.Fatalf("second start: %v", err)
	}
	_ = e.runs.Pause(ctx, "t")
	if err := e.runs.Start(ctx, runs.Start{Sync: "t", Run: "t-1", Options: e.opts}); !errors.Is(err, runs.ErrPaused) {
		t.Fatalf("start of a paused sync: %v", err)
	}
}

func TestResumeEnqueuesTheParkedPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.start(t, "s", "s-1")
	_ = e.runs.Pause(ctx, "s")
	if b, _ := e.runs.BeginPage(ctx, runs.Ref{Sync: "s", Run: "s-1", Page: 0}, ""); b.Action != rdb.PageParked {
		t.Fatalf("begin while paused = %+v", b)
	}
	run, err := e.runs.Resume(ctx, "s", e.opts)
	if err != nil || run != "s-1" {
		t.Fatalf("resume = %q %v", run, err)
	}
	if info, _ := e.in.Task(ctx, "synq:w", "s-1:0:r1"); info.State != queue.TaskPending {
		t.Fatalf("resumed page task = %+v", info)
	}
	if run, _ := e.runs.Resume(ctx, "s", e.opts); run != "" {
		t.Fatalf("a second resume continued %q", run)
	}
}

func TestCancelDeletesThePendingTaskAndRefusesWhileSweeping(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.start(t, "s", "s-1")
	if err := e.runs.Cancel(ctx, "s", "s-1", "an operator"); err != nil {
		t.Fatal(err)
	}
	if info, _ := e.in.Task(ctx, "synq:w", "s-1:0"); info.State != queue.TaskMissing {
		t.Fatalf("the cancelled run's task = %+v, want deleted", info)
	}
	if err := e.runs.Cancel(ctx, "s", "s-1", "an operator"); !errors.Is(err, runs.ErrNotActive) {
		t.Fatalf("second cancel: %v", err)
	}
	e.start(t, "s", "s-2")
	if ok, _ := e.runs.BeginSweep(ctx, runs.Ref{Sync: "s", Run: "s-2"}, nil); !ok {
		t.Fatal("BeginSweep refused a running run")
	}
	if err := e.runs.Cancel(ctx, "s", "s-2", "an operator"); !errors.Is(err, runs.ErrSweeping) {
		t.Fatalf("cancel while sweeping: %v", err)
	}
}

// reap runs the reaper until it stops changing anything or a deadline.
func reap(t *testing.T, p *runs.Reaper, w ...runs.Watched) []string {
	t.Helper()
	var all []string
	for range 20 {
		failed, err := p.Reap(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, failed...)
		time.Sleep(20 * time.Millisecond)
	}
	return all
}

func TestReaperFailsRunsNobodyWillMoveOn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.runs.NewReaper(runs.ReaperConfig{Grace: 100 * time.Millisecond, LeaseGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	declared := func(k string) runs.Watched { return runs.Watched{Key: k, Declared: true} }

	// A run whose next task is pending is left alone.
	e.start(t, "ok", "ok-1")
	// A run whose task was deleted fails after the grace period.
	e.start(t, "gone", "gone-1")
	if err := e.in.DeleteTask("synq:w", "gone-1:0"); err != nil {
		t.Fatal(err)
	}
	// A parked run of a sync nobody declares fails with the reason given.
	e.start(t, "retired", "retired-1")
	_ = e.runs.Pause(ctx, "retired")
	_, _ = e.runs.BeginPage(ctx, runs.Ref{Sync: "retired", Run: "retired-1", Page: 0}, "")
	failed := reap(t, p, declared("ok"), declared("gone"),
		runs.Watched{Key: "retired", Why: "sync \"retired\" is not declared by any live executor"})
	if len(failed) != 2 {
		t.Fatalf("reaped %v, want gone-1 and retired-1", failed)
	}
	if r := e.run(t, "ok", "ok-1"); r.Status != rdb.RunRunning {
		t.Fatalf("healthy run = %+v", r)
	}
	if r := e.run(t, "gone", "gone-1"); r.Status != rdb.RunFailed || !strings.Contains(r.Error, "is gone from queue synq:w") {
		t.Fatalf("run with a lost task = %+v", r)
	}
	if r := e.run(t, "retired", "retired-1"); r.Status != rdb.RunFailed || !strings.Contains(r.Error, "not declared") {
		t.Fatalf("run of an undeclared sync = %+v", r)
	}
	// The sync is free again.
	e.start(t, "gone", "gone-2")
	logs, _ := e.rdb.ReadLog(ctx, "gone", "gone-1", 0)
	if len(logs) == 0 || !strings.Contains(logs[len(logs)-1].Message, "run failed") {
		t.Fatalf("the reaped run's log = %+v", logs)
	}
}

// TestReaperEndsRunsAsynqGaveUpOn covers the two ways asynq ends a task
// without the executor ending the run: a deadline on the last attempt, and
// an executor lost on its last attempt (its lease ran out).
func TestReaperEndsRunsAsynqGaveUpOn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.runs.NewReaper(runs.ReaperConfig{Grace: 100 * time.Millisecond, LeaseGrace: time.Second})
	blocked := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(e.rc, queue.ServerConfig(2, "synq:w"))
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypePage, func(ctx context.Context, t *asynq.Task) error {
		pl, _ := queue.ParsePayload(t.Payload())
		if pl.Sync == "slow" {
			<-ctx.Done() // the task deadline
			return ctx.Err()
		}
		<-blocked // "lost": never returns while the test runs
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer close(blocked)

	// The task's deadline is Timeout + 30m; give this one 1 s directly.
	if err := queue.NewClient(e.rc).EnqueuePage(ctx, queue.PageTask{Payload: queue.Payload{Sync: "slow", Run: "slow-1"}, ID: "slow-1:0", Queue: "synq:w", MaxAttempts: 1, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rdb.StartRun(ctx, rdb.StartRun{Sync: "slow", Run: "slow-1", Worker: "w", Queue: "synq:w", Task: "slow-1:0"}); err != nil {
		t.Fatal(err)
	}
	e.start(t, "lost", "lost-1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := e.in.Task(ctx, "synq:w", "lost-1:0")
		slow, _ := e.in.Task(ctx, "synq:w", "slow-1:0")
		if info.State == queue.TaskActive && slow.State == queue.TaskArchived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks never reached active/archived: lost %+v slow %+v", info, slow)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Its executor is "killed": the lease ran out a minute ago.
	e.rc.ZAdd(ctx, "asynq:{synq:w}:lease", redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: "lost-1:0"})
	w := []runs.Watched{{Key: "slow", Declared: true}, {Key: "lost", Declared: true}}
	if failed := reap(t, p, w...); len(failed) != 2 {
		t.Fatalf("reaped %v", failed)
	}
	if r := e.run(t, "slow", "slow-1"); r.Status != rdb.RunFailed || !strings.Contains(r.Error, "task deadline on its last attempt") {
		t.Fatalf("run past its deadline = %+v", r)
	}
	if r := e.run(t, "lost", "lost-1"); r.Status != rdb.RunFailed || !strings.Contains(r.Error, "lost on its last attempt") || !strings.Contains(r.Error, "MaxAttempts") {
		t.Fatalf("run whose executor was lost = %+v", r)
	}
	pages, _ := e.rdb.RunPages(ctx, "lost", "lost-1")
	if len(pages) != 1 || pages[0].Page != 0 || pages[0].Error == "" {
		t.Fatalf("page records of the lost run = %+v", pages)
	}
}

// Issue 20, scenario 6: a resume whose enqueue fails says what helps. A
// second `ctl resume` does nothing (the run is running again), so it must
// not be what the message offers.
func TestResumeThatCannotEnqueueSaysWhatHelps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.start(t, "s", "s-1")
	_ = e.runs.Pause(ctx, "s")
	if b, _ := e.runs.BeginPage(ctx, runs.Ref{Sync: "s", Run: "s-1", Page: 0}, "s-1:0"); b.Action != rdb.PageParked {
		t.Fatalf("begin while paused = %+v", b)
	}
	// An enqueue that fails: the queue's Redis is gone.
	gone := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer gone.Close()
	broken, err := runs.New(runs.Config{RDB: e.rdb, Queue: queue.NewClient(gone), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	run, err := broken.Resume(ctx, "s", e.opts)
	if err == nil || run != "s-1" {
		t.Fatalf("resume with a failing enqueue = %q %v", run, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "ctl resume") || !strings.Contains(msg, "ctl cancel s-1") || !strings.Contains(msg, "ctl trigger s") {
		t.Fatalf("the message offers what does not help, or not what does: %s", msg)
	}
	// What it offers works: cancel, then trigger.
	if err := e.runs.Cancel(ctx, "s", "s-1", "a test"); err != nil {
		t.Fatal(err)
	}
	e.start(t, "s", "s-2")
}

// Issue 20, scenario 4: a task waiting on a queue no live worker reads is
// moved to the queue of the worker that declares the sync now; one on a
// queue a live worker reads is left alone.
func TestReaperMovesATaskFromAQueueNobodyReads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.start(t, "s", "s-1") // on synq:w, which no live worker reads
	p, err := e.runs.NewReaper(runs.ReaperConfig{Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w2 := runs.TaskOptions{Worker: "w2", MaxAttempts: 1, Timeout: time.Second}
	if failed := reap(t, p, runs.Watched{Key: "s", Declared: true, Options: w2}); len(failed) != 0 {
		t.Fatalf("reaped %v", failed)
	}
	run := e.run(t, "s", "s-1")
	if run.Status != rdb.RunRunning || run.Queue != "synq:w2" || run.Task != "s-1:0:h1" {
		t.Fatalf("run after the move = %+v", run)
	}
	if info, _ := e.in.Task(ctx, "synq:w2", "s-1:0:h1"); info.State != queue.TaskPending {
		t.Fatalf("moved task = %+v", info)
	}
	if info, _ := e.in.Task(ctx, "synq:w", "s-1:0"); info.State != queue.TaskMissing {
		t.Fatalf("old task = %+v, want deleted", info)
	}
	// A live worker reads its queue: its tasks stay where they are.
	if _, err := e.rdb.PublishBuild(ctx, "w3", "b", []byte(`{}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	e.start(t, "t", "t-1")
	if _, err := e.rc.Eval(ctx, `redis.call("HSET", KEYS[1], "queue", "synq:w3")`, []string{rdb.RunKey("t", "t-1")}).Result(); err != nil && !rdb.IsNil(err) {
		t.Fatal(err)
	}
	if err := queue.NewClient(e.rc).EnqueuePage(ctx, queue.PageTask{Payload: queue.Payload{Sync: "t", Run: "t-1"}, ID: "t-1:0", Queue: "synq:w3", MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	reap(t, p, runs.Watched{Key: "t", Declared: true, Options: w2})
	if run := e.run(t, "t", "t-1"); run.Queue != "synq:w3" || run.Task != "t-1:0" {
		t.Fatalf("a task on a live worker's queue was moved: %+v", run)
	}
}

// A sync keeps Config.Retention runs (the scheduler's --run-retention):
// starting one more drops the oldest records.
func TestRetentionKeepsTheNewestRuns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := runs.New(runs.Config{RDB: e.rdb, Queue: queue.NewClient(e.rc), Inspector: e.in, Logger: slog.New(slog.DiscardHandler), Retention: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		run := fmt.Sprintf("s-%d", i)
		if err := r.Start(ctx, runs.Start{Sync: "s", Run: run, Trigger: "manual", Options: e.opts}); err != nil {
			t.Fatal(err)
		}
		if err := r.Cancel(ctx, "s", run, "test"); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := e.rdb.ListRuns(ctx, "s", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0].ID != "s-3" || kept[1].ID != "s-2" {
		t.Fatalf("kept %+v, want s-3 and s-2", kept)
	}
}
