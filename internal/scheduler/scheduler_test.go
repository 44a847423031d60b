package scheduler

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

type fixture struct {
	t   *testing.T
	ops *ops.Ops
	rdb *rdb.RDB
	s   *Scheduler
	now time.Time
}

func newFixture(t *testing.T, syncs ...spec.ManifestSync) *fixture {
	t.Helper()
	rc := redistest.Start(t).Client()
	o, err := ops.New(ops.Config{Redis: rc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ops: o, rdb: o.RDB(), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	f.s, err = New(Config{Ops: o, ID: "s1", Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.publish("w", syncs...)
	return f
}

// publish stores a live manifest of worker w declaring syncs.
func (f *fixture) publish(w string, syncs ...spec.ManifestSync) {
	f.t.Helper()
	m := spec.Manifest{Worker: w, Syncs: syncs}
	m.Build = m.BuildID()
	b, _ := json.Marshal(m)
	if _, err := f.rdb.PublishBuild(context.Background(), w, m.Build, b, time.Hour); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tick() {
	f.t.Helper()
	if err := f.s.Tick(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) runs(sync string) []rdb.Run {
	f.t.Helper()
	rs, err := f.rdb.ListRuns(context.Background(), sync, 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

// end finishes a sync's active run as succeeded or failed.
func (f *fixture) end(sync string, ok bool) {
	f.t.Helper()
	ctx := context.Background()
	st, _ := f.rdb.GetSyncStatus(ctx, sync)
	if st.ActiveRun == "" {
		f.t.Fatalf("%s has no active run", sync)
	}
	if ok {
		if _, err := f.rdb.CommitPage(ctx, rdb.Commit{Sync: sync, Run: st.ActiveRun, Page: 0, Mode: rdb.StateKeep, Lifecycle: &rdb.PageDone{}}); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	if _, err := f.rdb.FailRun(ctx, rdb.Fail{Sync: sync, Run: st.ActiveRun, Message: "boom", Page: -1}); err != nil {
		f.t.Fatal(err)
	}
}

func every(key, schedule string) spec.ManifestSync {
	sched, err := spec.ParseSchedule(schedule)
	if err != nil {
		panic(err)
	}
	return spec.ManifestSync{Key: key, Schedule: sched, MaxAttempts: 1, Timeout: time.Minute}
}

func TestIntervalSchedule(t *testing.T) {
	f := newFixture(t, every("s", "5m"), spec.ManifestSync{Key: "m", Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}})
	ctx := context.Background()
	f.tick()
	if n := len(f.runs("s")); n != 1 {
		t.Fatalf("a sync seen for the first time ran %d times, want at once", n)
	}
	if n := len(f.runs("m")); n != 0 {
		t.Fatalf("a manual sync was scheduled %d times", n)
	}
	st, _ := f.rdb.GetSyncStatus(ctx, "s")
	if d := st.NextRun.Sub(f.now); d < 5*time.Minute || d >= 5*time.Minute+30*time.Second || d != 5*time.Minute+spread("s", 5*time.Minute) {
		t.Fatalf("next run in %v, want 5m and its spread (%v, under a tenth of the interval)", d, spread("s", 5*time.Minute))
	}
	// Before it is due nothing happens; when due while the run is still
	// active, the tick is skipped and counted.
	f.now = f.now.Add(4 * time.Minute)
	f.tick()
	f.now = f.now.Add(2 * time.Minute)
	f.tick()
	if n := len(f.runs("s")); n != 1 {
		t.Fatalf("%d runs, want 1 while the first is active", n)
	}
	st, _ = f.rdb.GetSyncStatus(ctx, "s")
	if st.SkippedTicks != 1 {
		t.Fatalf("skipped ticks = %d, want 1", st.SkippedTicks)
	}
	// After a long pause the next run is due once, then on the grid.
	f.end("s", true)
	f.now = f.now.Add(time.Hour)
	f.tick()
	if n := len(f.runs("s")); n != 2 {
		t.Fatalf("%d runs after an hour, want 2 (missed ticks are not replayed)", n)
	}
	st, _ = f.rdb.GetSyncStatus(ctx, "s")
	if d := st.NextRun.Sub(f.now); d <= 0 || d > 5*time.Minute {
		t.Fatalf("next run %v after now, want within one interval", d)
	}
}

func TestPausedAndUndeclaredSyncsAreNotScheduled(t *testing.T) {
	f := newFixture(t, every("s", "5m"))
	ctx := context.Background()
	if err := f.ops.Pause(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if n := len(f.runs("s")); n != 0 {
		t.Fatalf("a paused sync ran %d times", n)
	}
	// A sync only the registry remembers (its worker's manifest expired).
	reg, _ := json.Marshal(spec.Registered{Worker: "gone", Sync: every("old", "5m")})
	if err := f.rdb.Register(ctx, map[string][]byte{"old": reg}); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if n := len(f.runs("old")); n != 0 {
		t.Fatalf("an undeclared sync ran %d times", n)
	}
	info, err := f.ops.Sync(ctx, "old")
	if err != nil || info.Declared {
		t.Fatalf("catalog entry of the undeclared sync = %+v, %v", info, err)
	}
}

func TestContinuousBacksOff(t *testing.T) {
	f := newFixture(t, every("c", "continuous"))
	ctx := context.Background()
	info, _ := f.ops.Sync(ctx, "c")
	for failures, want := range map[int]time.Duration{0: 5 * time.Second, 1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 10: 5 * time.Minute} {
		if got := f.s.continuousWait(info, rdb.SyncStatus{ConsecutiveFailures: failures}); got != want {
			t.Errorf("wait after %d failures = %v, want %v", failures, got, want)
		}
	}
	// The scheduler keeps to it: a run right after a failure is not
	// started before the wait, and is after.
	f.tick()
	f.end("c", false)
	st, _ := f.rdb.GetSyncStatus(ctx, "c")
	f.now = st.LastFinished.Add(4 * time.Second)
	f.tick()
	if n := len(f.runs("c")); n != 1 {
		t.Fatalf("%d runs 4 s after a failure, want 1", n)
	}
	f.now = st.LastFinished.Add(5 * time.Second)
	f.tick()
	if n := len(f.runs("c")); n != 2 {
		t.Fatalf("%d runs 5 s after a failure, want 2", n)
	}
	f.end("c", false) // two failures in a row: 10 s
	st, _ = f.rdb.GetSyncStatus(ctx, "c")
	f.now = st.LastFinished.Add(9 * time.Second)
	f.tick()
	if n := len(f.runs("c")); n != 2 {
		t.Fatalf("%d runs 9 s after the second failure, want 2", n)
	}
	f.now = st.LastFinished.Add(10 * time.Second)
	f.tick()
	if n := len(f.runs("c")); n != 3 {
		t.Fatalf("%d runs 10 s after the second failure, want 3", n)
	}
}

func TestOnlyTheLeaderSchedules(t *testing.T) {
	f := newFixture(t, every("s", "5m"))
	other, err := New(Config{Ops: f.ops, ID: "s2", Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.tick() // s1 takes the lease and starts the run
	if err := other.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !f.s.IsLeader() || other.IsLeader() {
		t.Fatalf("leaders: s1 %v, s2 %v", f.s.IsLeader(), other.IsLeader())
	}
	if err := f.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A stopped leader that never started gives nothing up; release by hand.
	_ = f.rdb.ReleaseLeader(context.Background(), "s1")
	if err := other.Tick(context.Background()); err != nil || !other.IsLeader() {
		t.Fatalf("s2 did not take over a released lease: %v", err)
	}
}

// dueAt is when the leader looks at sync next; zero when it is not in the
// due set.
func (f *fixture) dueAt(sync string) time.Time {
	f.t.Helper()
	at, ok, err := f.rdb.DueAt(context.Background(), sync)
	if err != nil {
		f.t.Fatal(err)
	}
	if !ok {
		return time.Time{}
	}
	return at
}

func TestDueSetFollowsPauseResumeAndScheduleChanges(t *testing.T) {
	f := newFixture(t, every("s", "1h"), spec.ManifestSync{Key: "m", Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}})
	ctx := context.Background()
	f.tick()
	first := f.now.Add(time.Hour + spread("s", time.Hour)).Truncate(time.Millisecond)
	if got := f.dueAt("s"); !got.Equal(first) {
		t.Fatalf("due at %v after the first run, want %v", got, first)
	}
	if !f.dueAt("m").IsZero() {
		t.Fatal("a manual sync is in the due set")
	}
	if active, _ := f.rdb.ActiveSyncs(ctx); len(active) != 1 || active[0] != "s" {
		t.Fatalf("active syncs %v, want [s]", active)
	}
	f.end("s", true)
	if active, _ := f.rdb.ActiveSyncs(ctx); len(active) != 0 {
		t.Fatalf("active syncs %v after the run ended, want none", active)
	}
	// A pause takes the sync out; a resume brings it back to be looked at
	// at once, which puts it back at its next run without starting one.
	if err := f.ops.Pause(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if !f.dueAt("s").IsZero() {
		t.Fatal("a paused sync is still in the due set")
	}
	f.tick()
	if _, err := f.ops.Resume(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := f.dueAt("s"); got.IsZero() || got.After(f.now) {
		t.Fatalf("a resumed sync is due at %v, want at once", got)
	}
	f.tick()
	if n := len(f.runs("s")); n != 1 {
		t.Fatalf("%d runs after a resume before the next run is due, want 1", n)
	}
	if got := f.dueAt("s"); !got.Equal(first) {
		t.Fatalf("due at %v after the resume, want %v", got, first)
	}
	// A shorter interval takes effect at once: the next run comes within
	// the new interval, not at the old next run.
	f.publish("w", every("s", "5m"))
	f.tick()
	if got, want := f.dueAt("s"), f.now.Add(5*time.Minute+spread("s", 5*time.Minute)).Truncate(time.Millisecond); !got.Equal(want) {
		t.Fatalf("due at %v after the interval became 5m, want %v", got, want)
	}
	f.now = f.now.Add(5*time.Minute + spread("s", 5*time.Minute))
	f.tick()
	if n := len(f.runs("s")); n != 2 {
		t.Fatalf("%d runs 5 minutes after the interval became 5m, want 2", n)
	}
	// Made manual, it leaves the due set and is not run again.
	f.publish("w", spec.ManifestSync{Key: "s", Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}})
	f.end("s", true)
	f.tick()
	if !f.dueAt("s").IsZero() {
		t.Fatal("a sync made manual is still in the due set")
	}
	f.now = f.now.Add(time.Hour)
	f.tick()
	if n := len(f.runs("s")); n != 2 {
		t.Fatalf("%d runs of a sync made manual, want 2", n)
	}
}

func TestContinuousSyncLeavesTheDueSetWhileItRuns(t *testing.T) {
	f := newFixture(t, every("c", "continuous"))
	f.tick()
	if !f.dueAt("c").IsZero() {
		t.Fatal("a continuous sync with its run active is in the due set")
	}
	f.end("c", true)
	if f.dueAt("c").IsZero() {
		t.Fatal("the end of a continuous sync's run did not put it back in the due set")
	}
	st, _ := f.rdb.GetSyncStatus(context.Background(), "c")
	f.now = st.LastFinished.Add(time.Second)
	f.tick()
	if got, want := f.dueAt("c"), st.LastFinished.Add(5*time.Second).Truncate(time.Millisecond); !got.Equal(want) {
		t.Fatalf("due at %v, want the end of its floor %v", got, want)
	}
}

func TestCatalogIsReadWhenItChanges(t *testing.T) {
	f := newFixture(t, every("a", "5m"))
	f.tick()
	// A new build declaring another sync bumps the catalog version: the
	// next tick schedules it.
	f.publish("w", every("a", "5m"), every("b", "5m"))
	f.tick()
	if n := len(f.runs("b")); n != 1 {
		t.Fatalf("a newly declared sync ran %d times on the next tick, want 1", n)
	}
	// A manifest that expires bumps nothing, but the leader sees it gone:
	// the worker's syncs are undeclared and leave the due set when due.
	ctx := context.Background()
	builds, _ := f.rdb.Client().ZRange(ctx, rdb.BuildsKey("w"), 0, -1).Result()
	for _, b := range builds {
		if err := f.rdb.Client().Del(ctx, rdb.BuildManifestKey("w", b)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(5*time.Minute + maxSpread)
	f.tick()
	if n := len(f.runs("a")); n != 1 {
		t.Fatalf("an undeclared sync ran %d times, want 1", n)
	}
	if !f.dueAt("a").IsZero() {
		t.Fatal("an undeclared sync stays in the due set")
	}
}

// A manifest that expired while Redis was away (or that a promoted replica
// never had) comes back when its executor republishes it: a leader that
// read the catalog while it was gone must see the syncs declared again at
// its next tick, not after the catalog's maximum age — meanwhile it would
// schedule nothing and the reaper would fail their active runs.
func TestManifestBackAfterExpiryRedeclares(t *testing.T) {
	f := newFixture(t, every("s", "5m"))
	ctx := context.Background()
	f.tick()
	if !f.s.cat["s"].Declared {
		t.Fatal("s is not declared after the first tick")
	}
	m := spec.Manifest{Worker: "w", Syncs: []spec.ManifestSync{every("s", "5m")}}
	if err := f.rdb.Client().Del(ctx, rdb.BuildManifestKey("w", m.BuildID())).Err(); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if f.s.cat["s"].Declared {
		t.Fatal("s is still declared with its manifest gone")
	}
	f.publish("w", every("s", "5m"))
	f.tick()
	if !f.s.cat["s"].Declared {
		t.Fatal("s is still undeclared at the tick after its manifest came back")
	}
}
