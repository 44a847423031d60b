package rdb_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// begin starts an attempt of page of run under task and returns its token.
func begin(t *testing.T, r *rdb.RDB, sync, run string, page int, task string) *rdb.Fence {
	t.Helper()
	b, err := r.BeginPage(context.Background(), sync, run, page, task)
	if err != nil || b.Action != rdb.PageRun || b.Fence == nil {
		t.Fatalf("begin page %d of %s (task %s): %+v %v", page, run, task, b, err)
	}
	return b.Fence
}

// fencedCommit commits page of run with the token f and state.
func fencedCommit(r *rdb.RDB, sync, run string, page int, more bool, state string, f *rdb.Fence) (rdb.CommitResult, error) {
	return r.CommitPage(context.Background(), rdb.Commit{Sync: sync, Run: run, Page: page, Mode: rdb.StateSet, State: []byte(state),
		HasMore: more, Fence: f, Queue: "synq:w", Lifecycle: &rdb.PageDone{LogCap: 100}})
}

func wantStale(t *testing.T, err error, why string) {
	t.Helper()
	var se *rdb.StaleError
	if !errors.Is(err, rdb.ErrStale) || !errors.As(err, &se) || !strings.HasPrefix(se.Why, why) {
		t.Fatalf("got %v, want a stale attempt (%s)", err, why)
	}
}

func state(t *testing.T, r *rdb.RDB, sync string) string {
	t.Helper()
	st, err := r.GetSync(context.Background(), sync)
	if err != nil {
		t.Fatal(err)
	}
	return string(st.State)
}

func cancel(t *testing.T, r *rdb.RDB, sync, run string) {
	t.Helper()
	if ok, status, err := r.CancelRun(context.Background(), sync, run, "cancelled", 10, rdb.LogLine{Message: "cancelled"}); !ok || err != nil {
		t.Fatalf("cancel %s: %q %v", run, status, err)
	}
}

// Issue 20, scenario 1: run 1 is cancelled while its page 0 is in flight
// and run 2 starts and commits; run 1's page 0 then commits. It must not
// overwrite run 2's state nor break run 2's page order.
func TestCancelledPageNeverCommitsOverANewerRun(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	start(t, r, "s", "r1")
	f1 := begin(t, r, "s", "r1", 0, "r1:0")
	cancel(t, r, "s", "r1")
	start(t, r, "s", "r2")
	f2 := begin(t, r, "s", "r2", 0, "r2:0")
	if _, err := fencedCommit(r, "s", "r2", 0, true, `{"run":2}`, f2); err != nil {
		t.Fatal(err)
	}
	_, err := fencedCommit(r, "s", "r1", 0, true, `{"run":1}`, f1)
	wantStale(t, err, "epoch")
	if got := state(t, r, "s"); got != `{"run":2}` {
		t.Fatalf("state = %s, want run 2's", got)
	}
	f2 = begin(t, r, "s", "r2", 1, "r2:1")
	res, err := fencedCommit(r, "s", "r2", 1, false, `{"run":2,"page":1}`, f2)
	if err != nil || res.Next != rdb.NextFinished {
		t.Fatalf("run 2's page 1 after the stale commit: %+v %v", res, err)
	}
}

// A cancelled run's page in flight still commits its state when nothing
// started since: the next run resumes from what it wrote.
func TestCancelledPageCommitsWhenNothingStartedSince(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	start(t, r, "s", "r1")
	f1 := begin(t, r, "s", "r1", 0, "r1:0")
	cancel(t, r, "s", "r1")
	res, err := fencedCommit(r, "s", "r1", 0, true, `{"run":1}`, f1)
	if err != nil || res.Next != rdb.NextStopped || res.Status != rdb.RunCancelled {
		t.Fatalf("commit of the cancelled run's page: %+v %v", res, err)
	}
	if got := state(t, r, "s"); got != `{"run":1}` {
		t.Fatalf("state = %s", got)
	}
}

// Issue 20, scenario 1: cancel, then state reset; the cancelled page's
// commit must not bring the state back.
func TestCancelledPageNeverCommitsOverAReset(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r0")
	f0 := begin(t, r, "s", "r0", 0, "r0:0")
	if _, err := fencedCommit(r, "s", "r0", 0, false, `{"old":true}`, f0); err != nil {
		t.Fatal(err)
	}
	start(t, r, "s", "r1")
	f1 := begin(t, r, "s", "r1", 0, "r1:0")
	cancel(t, r, "s", "r1")
	if err := r.ResetState(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckFence(ctx, "s", "r1", 0, f1); !errors.Is(err, rdb.ErrStale) {
		t.Fatalf("fence check after the reset: %v", err)
	}
	_, err := fencedCommit(r, "s", "r1", 0, true, `{"run":1}`, f1)
	wantStale(t, err, "epoch")
	if got := state(t, r, "s"); got != "" {
		t.Fatalf("state after reset and the stale commit = %s, want none", got)
	}
}

// Issue 20, scenario 1: a page attempt stalls, its task is redelivered
// while the sync is paused and the redelivery parks the run; the stalled
// attempt then commits. It must be refused, so that resume runs the page
// and the run ends.
func TestZombieAfterParkIsRefused(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	zombie := begin(t, r, "s", "r", 0, "r:0")
	_ = r.SetPaused(ctx, "s", true)
	if b, _ := r.BeginPage(ctx, "s", "r", 0, "r:0"); b.Action != rdb.PageParked {
		t.Fatalf("redelivery while paused = %+v, want parked", b)
	}
	_, err := fencedCommit(r, "s", "r", 0, true, `{"zombie":1}`, zombie)
	wantStale(t, err, "parked")
	task, page, err := r.Resume(ctx, "s", "r", "synq:w")
	if err != nil || task != "r:0:r1" || page != 0 {
		t.Fatalf("resume = %q %d %v", task, page, err)
	}
	// The zombie is still stale, and so is its old task.
	_, err = fencedCommit(r, "s", "r", 0, true, `{"zombie":1}`, zombie)
	wantStale(t, err, "task r:0:r1")
	if b, _ := r.BeginPage(ctx, "s", "r", 0, "r:0"); b.Action != rdb.PageSuperseded || b.Task != "r:0:r1" {
		t.Fatalf("a late delivery of the old task = %+v, want superseded", b)
	}
	f := begin(t, r, "s", "r", 0, "r:0:r1")
	res, err := fencedCommit(r, "s", "r", 0, false, `{"page":0}`, f)
	if err != nil || res.Next != rdb.NextFinished {
		t.Fatalf("the resumed page: %+v %v", res, err)
	}
}

// Two attempts of one page (a redelivery after a lost lease): only the
// newest commits.
func TestOnlyTheNewestAttemptCommits(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	start(t, r, "s", "r")
	old := begin(t, r, "s", "r", 0, "r:0")
	cur := begin(t, r, "s", "r", 0, "r:0")
	_, err := fencedCommit(r, "s", "r", 0, true, `{"old":1}`, old)
	wantStale(t, err, "attempt 2")
	if _, err := fencedCommit(r, "s", "r", 0, true, `{"cur":1}`, cur); err != nil {
		t.Fatal(err)
	}
	if got := state(t, r, "s"); got != `{"cur":1}` {
		t.Fatalf("state = %s", got)
	}
}

// A stale holder never sweeps; a handover fences the old task and records
// the queue of the new one.
func TestSweepIsFencedAndHandoverMovesTheQueue(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	f := begin(t, r, "s", "r", 0, "r:0")
	id, err := r.Handover(ctx, "s", "r", "r:0", "synq:other")
	if err != nil || id != "r:0:h1" {
		t.Fatalf("handover = %q %v", id, err)
	}
	if run := getRun(t, r, "s", "r"); run.Queue != "synq:other" || run.Task != "r:0:h1" {
		t.Fatalf("run after handover = %+v", run)
	}
	_, err = r.BeginSweep(ctx, "s", "r", 0, f)
	wantStale(t, err, "task r:0:h1")
	if run := getRun(t, r, "s", "r"); run.Sweeping {
		t.Fatal("a stale attempt began the sweep")
	}
	f = begin(t, r, "s", "r", 0, "r:0:h1")
	if ok, err := r.BeginSweep(ctx, "s", "r", 0, f); !ok || err != nil {
		t.Fatalf("the current attempt's sweep: %v %v", ok, err)
	}
	// The next task goes to the committing executor's queue.
	res, err := fencedCommit(r, "s", "r", 0, true, `{}`, f)
	if err != nil || res.Task != "r:1" {
		t.Fatalf("commit = %+v %v", res, err)
	}
	if run := getRun(t, r, "s", "r"); run.Queue != "synq:w" {
		t.Fatalf("queue after commit = %q", run.Queue)
	}
}

// Issue 20, scenario 6: a parked run whose final page had begun sweeping
// can be cancelled.
func TestParkedRunThatBeganSweepingCanBeCancelled(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	f := begin(t, r, "s", "r", 0, "r:0")
	if ok, err := r.BeginSweep(ctx, "s", "r", 0, f); !ok || err != nil {
		t.Fatalf("begin sweep: %v %v", ok, err)
	}
	// The sweep failed part-way; the retry finds the sync paused.
	_ = r.SetPaused(ctx, "s", true)
	if b, _ := r.BeginPage(ctx, "s", "r", 0, "r:0"); b.Action != rdb.PageParked {
		t.Fatalf("retry while paused = %+v", b)
	}
	if ok, status, err := r.CancelRun(ctx, "s", "r", "cancelled", 10, rdb.LogLine{}); !ok || err != nil {
		t.Fatalf("cancel of a parked run that had begun sweeping: %q %v", status, err)
	}
}

// Issue 20, scenario 6: a log attribute JSON cannot encode never fails a
// commit.
func TestUnencodableLogAttributesNeverFailACommit(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	line := rdb.LogLine{Message: "odd values", Attrs: map[string]any{"nan": math.NaN(), "inf": math.Inf(1), "f": func() {}, "ok": 1}}
	res, err := r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r", Page: 0, Mode: rdb.StateKeep,
		Lifecycle: &rdb.PageDone{Lines: []rdb.LogLine{line}, LogCap: 10, FinishLines: []rdb.LogLine{line}}})
	if err != nil || res.Next != rdb.NextFinished {
		t.Fatalf("commit with a NaN log attribute: %+v %v", res, err)
	}
	if err := r.AppendLog(ctx, "s", "r", 10, line); err != nil {
		t.Fatalf("append with a NaN log attribute: %v", err)
	}
	lines, _ := r.ReadLog(ctx, "s", "r", 0)
	if len(lines) != 3 || lines[0].Attrs["nan"] != "NaN" || lines[0].Attrs["inf"] != "+Inf" || lines[0].Attrs["ok"] != float64(1) {
		t.Fatalf("log = %+v", lines)
	}
}

// Issue 20, scenario 6: a follower reading by sequence number keeps up
// past the log cap.
func TestLogFollowerKeepsUpPastTheCap(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	const logCap = 5
	var seen []string
	var next int64
	follow := func() {
		lines, err := r.ReadLog(ctx, "s", "r", next)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			seen = append(seen, l.Message)
			next = l.Seq + 1
		}
	}
	n := 0
	for round := range 6 {
		for range 3 {
			if err := r.AppendLog(ctx, "s", "r", logCap, rdb.LogLine{Message: fmt.Sprint(n)}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		// A commit's lines count too.
		f := begin(t, r, "s", "r", round, "")
		if _, err := r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r", Page: round, Mode: rdb.StateKeep, HasMore: true, Fence: f,
			Lifecycle: &rdb.PageDone{LogCap: logCap, Lines: []rdb.LogLine{{Message: fmt.Sprint(n)}}}}); err != nil {
			t.Fatal(err)
		}
		n++
		follow()
	}
	if len(seen) != n {
		t.Fatalf("the follower saw %d of %d lines: %v", len(seen), n, seen)
	}
	for i, m := range seen {
		if m != fmt.Sprint(i) {
			t.Fatalf("line %d = %q: %v", i, m, seen)
		}
	}
	// A follower that fell behind the cap resumes at the oldest line kept.
	lines, _ := r.ReadLog(ctx, "s", "r", 0)
	if len(lines) != logCap || lines[0].Seq != int64(n-logCap) {
		t.Fatalf("read from 0 after the cap = %d lines from seq %d", len(lines), lines[0].Seq)
	}
	if run := getRun(t, r, "s", "r"); run.Counters["log_dropped"] != 0 {
		t.Fatalf("log_dropped shows as a counter: %+v", run.Counters)
	}
}

// A commit sent again after its reply was lost (a Redis outage) finds the
// page committed and the run on its next task: it is a no-op, not stale,
// so that the executor still makes sure the next task exists.
func TestACommitSentTwiceIsNotStale(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	start(t, r, "s", "r")
	f := begin(t, r, "s", "r", 0, "r:0")
	if res, err := fencedCommit(r, "s", "r", 0, true, `{"n":1}`, f); err != nil || res.Task != "r:1" {
		t.Fatalf("commit = %+v %v", res, err)
	}
	res, err := fencedCommit(r, "s", "r", 0, true, `{"n":1}`, f)
	if err != nil || res.Committed {
		t.Fatalf("the same commit again = %+v %v, want already committed", res, err)
	}
}
