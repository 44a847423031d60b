package rdb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func start(t *testing.T, r *rdb.RDB, sync, run string) {
	t.Helper()
	res, err := r.StartRun(context.Background(), rdb.StartRun{Sync: sync, Run: run, Trigger: "manual", Worker: "w", Queue: "synq:w", Task: run + ":0", RefusePaused: true})
	if err != nil || !res.Started {
		t.Fatalf("start %s: %+v %v", run, res, err)
	}
}

func commit(t *testing.T, r *rdb.RDB, sync, run string, page int, more bool, done rdb.PageDone) rdb.CommitResult {
	t.Helper()
	res, err := r.CommitPage(context.Background(), rdb.Commit{Sync: sync, Run: run, Page: page, Mode: rdb.StateKeep, HasMore: more,
		Counters: map[string]int64{"created": 1}, Lifecycle: &done})
	if err != nil || !res.Committed {
		t.Fatalf("commit page %d of %s: %+v %v", page, run, res, err)
	}
	return res
}

func getRun(t *testing.T, r *rdb.RDB, sync, run string) rdb.Run {
	t.Helper()
	got, ok, err := r.GetRun(context.Background(), sync, run)
	if err != nil || !ok {
		t.Fatalf("get run %s: ok=%v %v", run, ok, err)
	}
	return got
}

func TestOneActiveRunPerSyncAndHealth(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r1")
	res, err := r.StartRun(ctx, rdb.StartRun{Sync: "s", Run: "r2", Task: "r2:0", RefusePaused: true})
	if err != nil || res.Started || res.Active != "r1" {
		t.Fatalf("second start while r1 active: %+v %v", res, err)
	}
	run := getRun(t, r, "s", "r1")
	if run.Status != rdb.RunRunning || run.Task != "r1:0" || run.Worker != "w" || run.Queue != "synq:w" || run.Started.IsZero() {
		t.Fatalf("started run = %+v", run)
	}
	if ok, err := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r1", Message: "boom", Page: 0, LogCap: 10}); !ok || err != nil {
		t.Fatalf("fail r1: %v %v", ok, err)
	}
	if ok, _ := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r1", Message: "again", Page: -1}); ok {
		t.Fatal("a failed run was failed again")
	}
	st, _ := r.GetSyncStatus(ctx, "s")
	if st.ActiveRun != "" || st.ConsecutiveFailures != 1 || st.LastRun != "r1" || st.LastFailure.IsZero() {
		t.Fatalf("status after failure: %+v", st)
	}
	pages, _ := r.RunPages(ctx, "s", "r1")
	if len(pages) != 1 || pages[0].Error != "boom" || pages[0].Page != 0 {
		t.Fatalf("page records of the failed run = %+v", pages)
	}
	start(t, r, "s", "r2")
	commit(t, r, "s", "r2", 0, false, rdb.PageDone{})
	st, _ = r.GetSyncStatus(ctx, "s")
	if st.ConsecutiveFailures != 0 || st.LastSuccess.IsZero() || st.ActiveRun != "" {
		t.Fatalf("status after success: %+v", st)
	}
	// A warning (the deletion guard) counts against health like a failure.
	start(t, r, "s", "r3")
	res3 := commit(t, r, "s", "r3", 0, false, rdb.PageDone{Outcome: rdb.RunWarning, Message: "deletion guard: held"})
	if res3.Next != rdb.NextFinished || res3.Status != rdb.RunWarning {
		t.Fatalf("commit of a guarded final page = %+v", res3)
	}
	if got := getRun(t, r, "s", "r3"); got.Status != rdb.RunWarning || got.Error != "deletion guard: held" {
		t.Fatalf("guarded run = %+v", got)
	}
	st, _ = r.GetSyncStatus(ctx, "s")
	if st.ConsecutiveFailures != 1 {
		t.Fatalf("consecutive failures after a warning = %d, want 1", st.ConsecutiveFailures)
	}
	runs, _ := r.ListRuns(ctx, "s", 0, 10)
	if len(runs) != 3 || runs[0].ID != "r3" || runs[2].Error != "boom" {
		t.Fatalf("runs = %+v", runs)
	}
	if err := r.TrimRuns(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.GetRun(ctx, "s", "r1"); ok {
		t.Fatal("r1 survived retention of 1")
	}
	if p, _ := r.RunPages(ctx, "s", "r1"); len(p) != 0 {
		t.Fatal("r1's page records survived retention")
	}
}

func TestStartRefusesAPausedSync(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	_ = r.SetPaused(ctx, "s", true)
	res, err := r.StartRun(ctx, rdb.StartRun{Sync: "s", Run: "r1", Task: "r1:0", RefusePaused: true})
	if err != nil || res.Started || !res.Paused {
		t.Fatalf("start of a paused sync: %+v %v", res, err)
	}
}

func TestCommitMovesTheRunOn(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	b, err := r.BeginPage(ctx, "s", "r", 0, "")
	if err != nil || b.Action != rdb.PageRun || b.Attempt != 1 {
		t.Fatalf("begin page 0: %+v %v", b, err)
	}
	if b, _ = r.BeginPage(ctx, "s", "r", 0, ""); b.Attempt != 2 {
		t.Fatalf("second attempt counted as %d", b.Attempt)
	}
	line := rdb.LogLine{Message: "page 0 line"}
	res := commit(t, r, "s", "r", 0, true, rdb.PageDone{Lines: []rdb.LogLine{line}, LogCap: 100})
	if res.Next != rdb.NextEnqueue || res.Task != "r:1" {
		t.Fatalf("commit with more pages = %+v, want enqueue r:1", res)
	}
	if run := getRun(t, r, "s", "r"); run.Task != "r:1" || run.TaskPage != 1 || run.Counters["pages"] != 1 || run.Counters["created"] != 1 {
		t.Fatalf("run after page 0 = %+v", run)
	}
	// A redelivered page 0 is reported committed, with no effect.
	if b, _ := r.BeginPage(ctx, "s", "r", 0, ""); b.Action != rdb.PageCommitted {
		t.Fatalf("begin of a committed page = %+v", b)
	}
	res = commit(t, r, "s", "r", 1, false, rdb.PageDone{LogCap: 100, FinishLines: []rdb.LogLine{{Message: "run succeeded"}}})
	if res.Next != rdb.NextFinished || res.Status != rdb.RunSucceeded {
		t.Fatalf("final commit = %+v", res)
	}
	lines, _ := r.ReadLog(ctx, "s", "r", 0)
	if len(lines) != 2 || lines[0].Message != "page 0 line" || lines[1].Message != "run succeeded" {
		t.Fatalf("log = %+v", lines)
	}
	pages, _ := r.RunPages(ctx, "s", "r")
	if len(pages) != 2 || pages[0].Attempts != 2 || pages[1].Attempts != 1 || pages[0].Counters["created"] != 1 || pages[0].Started.IsZero() || pages[0].Finished.Before(pages[0].Started) {
		t.Fatalf("page records = %+v", pages)
	}
	if b, _ := r.BeginPage(ctx, "s", "r", 2, ""); b.Action != rdb.PageStop {
		t.Fatalf("begin on an ended run = %+v", b)
	}
	if b, _ := r.BeginPage(ctx, "s", "nope", 0, ""); b.Action != rdb.PageMissing {
		t.Fatalf("begin on a missing run = %+v", b)
	}
}

func TestPauseParksAndResumeContinues(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	_ = r.SetPaused(ctx, "s", true)
	// Parked after a page commits…
	res := commit(t, r, "s", "r", 0, true, rdb.PageDone{})
	if res.Next != rdb.NextParked {
		t.Fatalf("commit while paused = %+v, want parked", res)
	}
	run := getRun(t, r, "s", "r")
	if run.Status != rdb.RunParked || run.ParkedPage != 1 || run.Task != "" {
		t.Fatalf("parked run = %+v", run)
	}
	task, page, err := r.Resume(ctx, "s", "r", "synq:w")
	if err != nil || task != "r:1:r1" || page != 1 {
		t.Fatalf("resume = %q %d %v", task, page, err)
	}
	run = getRun(t, r, "s", "r")
	if run.Status != rdb.RunRunning || run.Task != "r:1:r1" || run.TaskPage != 1 {
		t.Fatalf("resumed run = %+v", run)
	}
	if st, _ := r.GetSyncStatus(ctx, "s"); st.Paused {
		t.Fatal("resume left the sync paused")
	}
	// …and at a page's start.
	_ = r.SetPaused(ctx, "s", true)
	if b, _ := r.BeginPage(ctx, "s", "r", 1, ""); b.Action != rdb.PageParked {
		t.Fatalf("begin while paused = %+v", b)
	}
	if task, _, _ := r.Resume(ctx, "s", "r", "synq:w"); task != "r:1:r2" {
		t.Fatalf("second resume task = %q", task)
	}
	// Resuming a sync whose run is not parked unpauses only.
	_ = r.SetPaused(ctx, "s", true)
	if task, _, _ := r.Resume(ctx, "s", "r", "synq:w"); task != "" {
		t.Fatalf("resume of a running run returned task %q", task)
	}
}

func TestCancel(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r1")
	ok, status, err := r.CancelRun(ctx, "s", "r1", "cancelled by an operator", 10, rdb.LogLine{Message: "cancelled"})
	if err != nil || !ok || status != "cancelled" {
		t.Fatalf("cancel running: %v %q %v", ok, status, err)
	}
	if ok, status, _ := r.CancelRun(ctx, "s", "r1", "", 10, rdb.LogLine{}); ok || status != rdb.RunCancelled {
		t.Fatalf("second cancel: %v %q", ok, status)
	}
	// The page in flight still commits, but the run does not move on.
	res := commit(t, r, "s", "r1", 0, true, rdb.PageDone{})
	if res.Next != rdb.NextStopped || res.Status != rdb.RunCancelled {
		t.Fatalf("commit after cancel = %+v", res)
	}
	if ok, _ := r.BeginSweep(ctx, "s", "r1", 0, nil); ok {
		t.Fatal("a cancelled run may sweep")
	}
	// A sweeping run cannot be cancelled.
	start(t, r, "s", "r2")
	if ok, _ := r.BeginSweep(ctx, "s", "r2", 0, nil); !ok {
		t.Fatal("a running run may not sweep")
	}
	if ok, status, _ := r.CancelRun(ctx, "s", "r2", "", 10, rdb.LogLine{}); ok || status != "sweeping" {
		t.Fatalf("cancel of a sweeping run: %v %q", ok, status)
	}
	commit(t, r, "s", "r2", 0, false, rdb.PageDone{})
	// A parked run can be cancelled.
	start(t, r, "s", "r3")
	_ = r.SetPaused(ctx, "s", true)
	commit(t, r, "s", "r3", 0, true, rdb.PageDone{})
	if ok, _, _ := r.CancelRun(ctx, "s", "r3", "", 10, rdb.LogLine{}); !ok {
		t.Fatal("a parked run could not be cancelled")
	}
	if st, _ := r.GetSyncStatus(ctx, "s"); st.ActiveRun != "" || st.ConsecutiveFailures != 0 {
		t.Fatalf("status after cancels: %+v (cancels do not count as failures)", st)
	}
}

func TestFailConditions(t *testing.T) {
	c := redistest.Start(t).Client()
	r := rdb.New(c)
	ctx := context.Background()
	start(t, r, "s", "r")
	// The reaper's failure applies only to the task it looked at.
	if ok, _ := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r", Message: "lost", ExpectTask: "r:7", Page: -1}); ok {
		t.Fatal("failed a run that moved on to another task")
	}
	_ = r.SetPaused(ctx, "s", true)
	commit(t, r, "s", "r", 0, true, rdb.PageDone{}) // parked
	if ok, _ := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r", Message: "x", Page: -1}); ok {
		t.Fatal("failed a parked run without AllowParked")
	}
	if ok, _ := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r", Message: "sync gone", AllowParked: true, Page: -1}); !ok {
		t.Fatal("could not fail a parked run of a sync that is gone")
	}
	// An active run whose record vanished frees the sync.
	_ = r.SetPaused(ctx, "s", false)
	start(t, r, "s", "r2")
	c.Del(ctx, rdb.RunKey("s", "r2"))
	if ok, _ := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r2", Message: "gone", AllowParked: true, Page: -1}); !ok {
		t.Fatal("could not free a sync whose active run record is gone")
	}
	if st, _ := r.GetSyncStatus(ctx, "s"); st.ActiveRun != "" {
		t.Fatalf("active run after freeing = %q", st.ActiveRun)
	}
}

func TestHandover(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r")
	if id, _ := r.Handover(ctx, "s", "r", "r:0", "synq:w"); id != "r:0:h1" {
		t.Fatalf("handover id = %q", id)
	}
	if id, _ := r.Handover(ctx, "s", "r", "r:0", "synq:w"); id != "" {
		t.Fatalf("handover of a superseded task = %q, want none", id)
	}
	if id, _ := r.Handover(ctx, "s", "r", "r:0:h1", "synq:w"); id != "r:0:h2" {
		t.Fatalf("second handover id = %q", id)
	}
}

func TestRunLogIsCapped(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := r.AppendLog(ctx, "s", "r", 3, rdb.LogLine{Message: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	lines, _ := r.ReadLog(ctx, "s", "r", 0)
	if len(lines) != 3 || lines[0].Message != "c" || lines[2].Message != "e" {
		t.Fatalf("log = %+v, want the newest 3 (c, d, e)", lines)
	}
}

func TestLeaderLease(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	a, _ := r.AcquireOrRenewLeader(ctx, "a", time.Second)
	b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second)
	if !a || b {
		t.Fatalf("a=%v b=%v, want only a", a, b)
	}
	if id, ttl, _ := r.Leader(ctx); id != "a" || ttl <= 0 || ttl > time.Second {
		t.Fatalf("leader = %q ttl %v", id, ttl)
	}
	if again, _ := r.AcquireOrRenewLeader(ctx, "a", time.Second); !again {
		t.Fatal("leader could not renew")
	}
	if err := r.ReleaseLeader(ctx, "b"); err != nil { // not the holder
		t.Fatal(err)
	}
	if b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second); b {
		t.Fatal("b took the lease after releasing someone else's")
	}
	if err := r.ReleaseLeader(ctx, "a"); err != nil {
		t.Fatalf("release the lease: %v", err)
	}
	if b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second); !b {
		t.Fatal("b could not take a released lease")
	}
}

func TestNewestLiveBuildWins(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	if n, err := r.PublishBuild(ctx, "w", "old", []byte(`{"v":1}`), time.Minute); err != nil || n != "old" {
		t.Fatalf("first publish: %q %v", n, err)
	}
	time.Sleep(5 * time.Millisecond) // builds are ordered by first publish (ms)
	if n, _ := r.PublishBuild(ctx, "w", "new", []byte(`{"v":2}`), 300*time.Millisecond); n != "new" {
		t.Fatalf("newest after the new build published = %q", n)
	}
	// The old build republishing does not take over.
	for range 3 {
		if n, _ := r.PublishBuild(ctx, "w", "old", []byte(`{"v":1}`), time.Minute); n != "new" {
			t.Fatalf("old build's republish made %q the newest", n)
		}
	}
	live, _ := r.LiveBuilds(ctx)
	if lb := live["w"]; lb.Build != "new" || string(lb.Manifest) != `{"v":2}` || lb.Since.IsZero() {
		t.Fatalf("live build = %+v", lb)
	}
	// When the new build's executors are gone, its manifest expires and
	// the old build counts again.
	time.Sleep(400 * time.Millisecond)
	live, _ = r.LiveBuilds(ctx)
	if live["w"].Build != "old" {
		t.Fatalf("live build after the new one expired = %q", live["w"].Build)
	}
	if n, _ := r.PublishBuild(ctx, "w", "old", []byte(`{"v":1}`), time.Minute); n != "old" {
		t.Fatalf("newest = %q", n)
	}
}

func TestRegistryAndForget(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	if err := r.Register(ctx, map[string][]byte{"a": []byte(`{"worker":"w"}`)}); err != nil {
		t.Fatal(err)
	}
	reg, _ := r.Registry(ctx)
	if e := reg["a"]; string(e.Spec) != `{"worker":"w"}` || time.Since(e.Declared) > time.Minute {
		t.Fatalf("registry = %+v", reg)
	}
	start(t, r, "a", "r1")
	commit(t, r, "a", "r1", 0, false, rdb.PageDone{Lines: []rdb.LogLine{{Message: "x"}}, LogCap: 10})
	if err := r.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	reg, _ = r.Registry(ctx)
	runs, _ := r.ListRuns(ctx, "a", 0, 10)
	lines, _ := r.ReadLog(ctx, "a", "r1", 0)
	st, _ := r.GetSyncStatus(ctx, "a")
	if len(reg) != 0 || len(runs) != 0 || len(lines) != 0 || st.LastRun != "" {
		t.Fatalf("after forget: registry %v runs %v log %v status %+v", reg, runs, lines, st)
	}
}

func TestExecutorsExpire(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	if err := r.Heartbeat(ctx, "x1", 200*time.Millisecond, map[string]string{"worker": "w"}); err != nil {
		t.Fatal(err)
	}
	_ = r.Heartbeat(ctx, "x2", time.Minute, map[string]string{"worker": "w"})
	ex, _ := r.Executors(ctx)
	if len(ex) != 2 || ex["x1"]["worker"] != "w" || ex["x1"]["last_seen"] == "" {
		t.Fatalf("executors = %v", ex)
	}
	time.Sleep(300 * time.Millisecond)
	_ = r.Heartbeat(ctx, "x2", time.Minute, nil)
	ex, _ = r.Executors(ctx)
	if len(ex) != 1 || ex["x2"] == nil {
		t.Fatalf("executors after x1 expired = %v", ex)
	}
	_ = r.Gone(ctx, "x2")
	if ex, _ = r.Executors(ctx); len(ex) != 0 {
		t.Fatalf("executors after x2 left = %v", ex)
	}
}

// The recent-runs index lists every sync's newest runs in one read, newest
// first, pages, leaves out runs whose record is gone, and stays bounded.
func TestRecentRuns(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	if _, ok, err := r.ListRecentRuns(ctx, 0, 10); err != nil || ok {
		t.Fatalf("empty index: ok=%v %v, want not ok (the caller reads sync by sync)", ok, err)
	}
	for i, s := range []string{"a", "b", "c", "d", "e"} {
		start(t, r, s, fmt.Sprintf("%s-r%d", s, i))
	}
	ids := func(offset, limit int) []string {
		t.Helper()
		runs, ok, err := r.ListRecentRuns(ctx, offset, limit)
		if err != nil || !ok {
			t.Fatalf("list: ok=%v %v", ok, err)
		}
		var out []string
		for _, run := range runs {
			out = append(out, run.ID)
		}
		return out
	}
	if got := ids(0, 3); !slices.Equal(got, []string{"e-r4", "d-r3", "c-r2"}) {
		t.Fatalf("first page %v", got)
	}
	if got := ids(3, 3); !slices.Equal(got, []string{"b-r1", "a-r0"}) {
		t.Fatalf("second page %v", got)
	}
	srv.Client().Del(ctx, rdb.RunKey("d", "d-r3")) // retention dropped it
	if got := ids(0, 3); !slices.Equal(got, []string{"e-r4", "c-r2"}) {
		t.Fatalf("after d-r3's record went: %v", got)
	}
	for i := range rdb.RecentRunsMax {
		start(t, r, fmt.Sprintf("s%05d", i), fmt.Sprintf("run%05d", i))
	}
	if n := srv.Client().ZCard(ctx, rdb.RecentRunsKey()).Val(); n != rdb.RecentRunsMax {
		t.Fatalf("index holds %d runs, want at most %d", n, rdb.RecentRunsMax)
	}
	if got := ids(0, 1); !slices.Equal(got, []string{fmt.Sprintf("run%05d", rdb.RecentRunsMax-1)}) {
		t.Fatalf("newest %v", got)
	}
}
