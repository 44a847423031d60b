package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/schema"
)

// Every run ends: these tests kill, drop and starve runs the ways
// production does, and check that each run fails with a message that says
// what happened, in time, and that the sync can run again.

// waitEnded waits for a run to end and reports how long it took from
// since.
func (s *stack) waitEnded(run string, since time.Time, d time.Duration) (rdb.Run, time.Duration) {
	s.t.Helper()
	r := s.waitRun(run, d)
	return r, time.Since(since)
}

func TestKill9OnTheLastAttempt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sync string
		// replace: an executor of the same build comes back at once (a
		// restart); otherwise none is left.
		replace bool
		env     []string
		want    string
	}{
		{"only executor, MaxAttempts 1", "pagesSync", false, []string{"E2E_MAX_ATTEMPTS=1"}, "not declared by any live executor"},
		{"restarted executor, MaxAttempts 1", "pagesSync", true, []string{"E2E_MAX_ATTEMPTS=1"}, "lost on its last attempt (1 of 1)"},
		{"restarted executor, last of 2 attempts", "flakySync", true, nil, "lost on its last attempt (2 of 2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, append([]string{"E2E_PAGES=3", "E2E_ROWS=2", "E2E_SLEEP=20s"}, c.env...)...)
			a := s.executor()
			s.scheduler()
			run := s.trigger(c.sync)
			want := 1
			if c.sync == "flakySync" {
				want = 2 // the second attempt is the last
			}
			s.waitFor(60*time.Second, "the last attempt", func() bool { return len(s.marks(c.sync)) >= want })
			a.signal(syscall.SIGKILL)
			killed := time.Now()
			if c.replace {
				s.executor("E2E_SLEEP=100ms")
			}
			r, took := s.waitEnded(run, killed, 150*time.Second)
			t.Logf("%s: the run ended %v after the kill: %s", c.name, took.Round(time.Second), r.Error)
			if r.Status != rdb.RunFailed || !strings.Contains(r.Error, c.want) {
				t.Fatalf("run after kill -9 = %+v, want failed with %q", r, c.want)
			}
			if took > 130*time.Second {
				t.Fatalf("the run took %v to end, want about two minutes at most", took)
			}
			// The sync is free: a new trigger runs to the end.
			if !c.replace {
				s.executor("E2E_SLEEP=100ms")
			}
			if c.sync == "flakySync" {
				return // it hangs on purpose
			}
			if r := s.waitRun(s.triggerWhenDeclared(c.sync), 60*time.Second); r.Status != rdb.RunSucceeded {
				t.Fatalf("the next run = %+v", r)
			}
		})
	}
}

// triggerWhenDeclared triggers a sync as soon as a live executor declares
// it again.
func (s *stack) triggerWhenDeclared(sync string) string {
	s.t.Helper()
	var run string
	s.waitFor(30*time.Second, sync+" to be declared", func() bool {
		var err error
		run, err = s.ops.Trigger(context.Background(), sync, "manual")
		return err == nil
	})
	return run
}

func TestExecuteThatIgnoresItsDeadlineFailsTheRun(t *testing.T) {
	s := newStack(t)
	s.executor()
	start := time.Now()
	r, took := s.waitEnded(s.trigger("hangSync"), start, 60*time.Second)
	t.Logf("the run ended %v after the trigger", took.Round(time.Second))
	if r.Status != rdb.RunFailed || !strings.Contains(r.Error, "ignored its context's cancellation") || !strings.Contains(r.Error, "last attempt") {
		t.Fatalf("run = %+v", r)
	}
}

func TestDeployDropsASync(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"rolling deploy", "kill -9"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, "E2E_PAGES=100", "E2E_ROWS=1", "E2E_SLEEP=1s")
			old := s.executor("E2E_RETIRED=1")
			addr := s.scheduler()
			// A sync seen for the first time runs at once.
			var run string
			s.waitFor(30*time.Second, "retiredSync's scheduled run", func() bool {
				rs, _ := s.ops.Runs(context.Background(), "retiredSync", 0, 1)
				if len(rs) == 1 && len(s.marks("retiredSync")) > 0 {
					run = rs[0].ID
				}
				return run != ""
			})
			dropped := time.Now()
			if how == "rolling deploy" {
				s.executor() // the new build, without retiredSync
				old.signal(syscall.SIGTERM)
			} else {
				old.signal(syscall.SIGKILL)
				s.executor()
			}
			r, took := s.waitEnded(run, dropped, 60*time.Second)
			t.Logf("%s: the run ended %v after the deploy: %s", how, took.Round(time.Second), r.Error)
			if r.Status != rdb.RunFailed || !strings.Contains(r.Error, `"retiredSync"`) || !strings.Contains(r.Error, "ctl forget retiredSync") {
				t.Fatalf("run of the dropped sync = %+v", r)
			}
			// Listed by ctl, shown as undeclared, not scheduled again.
			out, errOut, code := s.ctl(addr, "runs", "list", "--plain")
			if code != 0 || !strings.Contains(out, run+"\tretiredSync\tschedule\tfailed") {
				t.Fatalf("ctl runs list (exit %d):\n%s%s", code, out, errOut)
			}
			out, _, _ = s.ctl(addr, "status", "-o", "table", "--no-watch")
			if !strings.Contains(out, "retiredSync: no live executor of worker \"e2e\" declares it since") {
				t.Fatalf("ctl status does not say retiredSync is undeclared:\n%s", out)
			}
			if err := s.rdb.SetNextRun(context.Background(), "retiredSync", time.Now()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if rs, _ := s.ops.Runs(context.Background(), "retiredSync", 0, 10); len(rs) != 1 {
				t.Fatalf("the scheduler started runs of a sync nobody declares: %+v", rs)
			}
			if _, err := s.ops.Trigger(context.Background(), "retiredSync", "manual"); err == nil || !strings.Contains(err.Error(), "not declared by any live executor") {
				t.Fatalf("trigger of an undeclared sync: %v", err)
			}
			// forget refuses a declared sync, and removes a retired one.
			if _, errOut, code := s.ctl(addr, "forget", "pagesSync"); code == 0 || !strings.Contains(errOut, "still declared by worker \"e2e\"") {
				t.Fatalf("forget of a declared sync: exit %d %s", code, errOut)
			}
			if out, errOut, code := s.ctl(addr, "forget", "retiredSync", "-o", "table"); code != 0 || !strings.Contains(out, "forgotten") {
				t.Fatalf("forget: exit %d %s%s", code, out, errOut)
			}
			if _, err := s.ops.Sync(context.Background(), "retiredSync"); err == nil {
				t.Fatal("retiredSync is still known after forget")
			}
			if out, _, _ := s.ctl(addr, "runs", "list", "--plain"); strings.Contains(out, "retiredSync") {
				t.Fatalf("retiredSync's runs survived forget:\n%s", out)
			}
		})
	}
}

func TestTwoWorkersShareOneRedis(t *testing.T) {
	s := newStack(t, "E2E_PAGES=2", "E2E_ROWS=2")
	s.executor()
	s.worker("bookworker")
	s.scheduler()
	ctx := context.Background()
	// Each worker's syncs, triggered and previewed 20 times per worker:
	// every task reaches an executor that declares its sync.
	syncs := []string{"pagesSync", "noopSync", "booksSync", "booksDelta"}
	for i := range 40 {
		sync := syncs[i%len(syncs)]
		r := s.waitRun(s.trigger(sync), 60*time.Second)
		if r.Status != rdb.RunSucceeded {
			t.Fatalf("run %d of %s = %+v", i, sync, r)
		}
		if r.Worker != map[bool]string{true: "books", false: "e2e"}[strings.HasPrefix(sync, "books")] {
			t.Fatalf("run %d of %s ran on worker %q", i, sync, r.Worker)
		}
	}
	for i := range 40 {
		sync := syncs[i%len(syncs)]
		p, err := s.ops.Preview(ctx, sync, nil)
		if err != nil || p.Error != "" {
			t.Fatalf("preview %d of %s: %v %s", i, sync, err, p.Error)
		}
	}
	// Triggered together, too.
	var all []string
	for _, sync := range syncs {
		all = append(all, s.trigger(sync))
	}
	for _, run := range all {
		if r := s.waitRun(run, 60*time.Second); r.Status != rdb.RunSucceeded {
			t.Fatalf("concurrent run = %+v", r)
		}
	}
}

func TestASyncKeyDeclaredByTwoWorkersIsRefused(t *testing.T) {
	s := newStack(t)
	s.executor()
	p := s.start("bookworker", "E2E_CLASH=pagesSync")
	err, ok := p.exited(30 * time.Second)
	if !ok || err == nil {
		t.Fatalf("bookworker declaring pagesSync started (exited=%v err=%v):\n%s", ok, err, p.out.String())
	}
	out := p.out.String()
	if !strings.Contains(out, `worker "books" cannot start`) || !strings.Contains(out, `sync "pagesSync" is already declared by worker "e2e"`) {
		t.Fatalf("refusal does not name both workers:\n%s", out)
	}
	// The first worker is untouched.
	if r := s.waitRun(s.trigger("pagesSync"), 60*time.Second); r.Status != rdb.RunSucceeded {
		t.Fatalf("run = %+v", r)
	}
}

func TestRollingDeployTheNewestBuildWins(t *testing.T) {
	t.Parallel()
	s := newStack(t, "E2E_PAGES=1", "E2E_ROWS=1")
	s.executor("E2E_SCHEDULE=1h")
	addr := s.scheduler()
	scheduleOf := func() string {
		out, errOut, code := s.ctl(addr, "status", "scheduledSync")
		if code != 0 {
			t.Fatalf("ctl status: exit %d %s", code, errOut)
		}
		var st struct {
			Syncs []struct {
				Schedule string `json:"schedule"`
				Build    string `json:"build"`
			} `json:"syncs"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Syncs) != 1 {
			t.Fatalf("status JSON: %v\n%s", err, out)
		}
		return st.Syncs[0].Schedule
	}
	s.waitFor(10*time.Second, "the first build", func() bool { return scheduleOf() == "1h" })
	// The new build changes the schedule; both builds stay alive and keep
	// republishing (every 500 ms here) for a minute.
	s.executor("E2E_SCHEDULE=2h")
	s.waitFor(10*time.Second, "the new build", func() bool { return scheduleOf() == "2h" })
	for i := range 60 {
		if got := scheduleOf(); got != "2h" {
			t.Fatalf("after %d s the schedule flipped back to %q", i, got)
		}
		time.Sleep(time.Second)
	}
}

// TestLifecycleRaceHammer pauses, resumes, cancels and triggers a replace
// sync at random while two executors commit its pages, then checks what
// must hold whatever the interleaving: no run is left parked with its sync
// unpaused, no cancelled run trashed a row, and every run ends.
func TestLifecycleRaceHammer(t *testing.T) {
	s := newStack(t)
	w := hammerWorker()
	inProcess(t, s, w)
	inProcess(t, s, w)
	ctx := context.Background()
	const sync = "hammer"
	var started []string
	resumed := 0
	deadline := time.Now().Add(20 * time.Second)
	// At most 60 runs: run retention keeps the newest 100.
	for i := 0; time.Now().Before(deadline) && len(started) < 60; i++ {
		switch i % 7 {
		case 0, 3:
			if run, err := s.ops.Trigger(ctx, sync, "manual", ops.TriggerOptions{}); err == nil {
				started = append(started, run)
			}
		case 1, 4:
			_ = s.ops.Pause(ctx, sync)
		case 2, 5:
			if run, _ := s.ops.Resume(ctx, sync); run != "" {
				resumed++
			}
		case 6:
			if st, _ := s.rdb.GetSyncStatus(ctx, sync); st.ActiveRun != "" {
				_, _ = s.ops.Cancel(ctx, st.ActiveRun)
			}
		}
		s.checkNotStranded(sync)
		time.Sleep(time.Duration(i%5) * 7 * time.Millisecond)
	}
	if len(started) < 3 {
		t.Fatalf("only %d runs started: the hammer did not exercise anything", len(started))
	}
	// Quiesce: the last word is a resume, then every run must end.
	if _, err := s.ops.Resume(ctx, sync); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, run := range started {
		r := s.waitRun(run, 60*time.Second)
		counts[r.Status]++
		if r.Status == rdb.RunCancelled && r.Counters["trashed"] > 0 {
			t.Errorf("cancelled run %s trashed %d rows", run, r.Counters["trashed"])
		}
		if r.Status == rdb.RunFailed {
			t.Errorf("run %s failed: %s", run, r.Error)
		}
	}
	st, _ := s.rdb.GetSyncStatus(ctx, sync)
	if st.Paused || st.ActiveRun != "" {
		t.Fatalf("after the hammer: %+v", st)
	}
	t.Logf("%d runs: %v; %d parked runs resumed", len(started), counts, resumed)
	if counts[rdb.RunSucceeded] == 0 || counts[rdb.RunCancelled] == 0 || resumed == 0 {
		t.Fatalf("the hammer did not finish, cancel and resume runs: %v, %d resumed", counts, resumed)
	}
}

// strandedScript reads, in one step, whether a sync's active run is parked
// while the sync is not paused: a state no interleaving may produce.
var strandedScript = redis.NewScript(`
local a = redis.call("HGET", KEYS[1], "active_run")
if not a then return 0 end
if redis.call("HGET", KEYS[1] .. ":run:" .. a, "status") == "parked" and redis.call("HGET", KEYS[1], "paused") ~= "1" then return 1 end
return 0`)

func (s *stack) checkNotStranded(sync string) {
	s.t.Helper()
	n, err := strandedScript.Run(context.Background(), s.redis.Client(), []string{rdb.SyncKey(sync)}).Int()
	if err != nil {
		s.t.Fatal(err)
	}
	if n == 1 {
		s.t.Fatalf("sync %s: its active run is parked while the sync is not paused", sync)
	}
}

// TestPauseRacesThePageThatParks pauses and resumes in a tight loop while
// pages commit: a resume that lands between the executor reading the pause
// and parking would leave the run parked with its sync unpaused.
func TestPauseRacesThePageThatParks(t *testing.T) {
	s := newStack(t)
	w := hammerWorker()
	inProcess(t, s, w)
	ctx := context.Background()
	for round := range 30 {
		run, err := s.ops.Trigger(ctx, "hammer", "manual")
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			_ = s.ops.Pause(ctx, "hammer")
			time.Sleep(time.Duration(round%4) * time.Millisecond)
			if _, err := s.ops.Resume(ctx, "hammer"); err != nil {
				t.Fatal(err)
			}
			s.checkNotStranded("hammer")
		}
		r := s.waitRun(run, 30*time.Second)
		if r.Status != rdb.RunSucceeded {
			t.Fatalf("round %d: run = %+v", round, r)
		}
	}
}

func TestFollowingLogsShowsTheLastPage(t *testing.T) {
	s := newStack(t, "E2E_PAGES=3", "E2E_ROWS=1", "E2E_SLEEP=10ms")
	s.executor()
	addr := s.scheduler()
	for i := range 10 {
		run := s.trigger("pagesSync")
		out, errOut, code := s.ctl(addr, "runs", "logs", run, "--follow", "-o", "table")
		if code != 0 {
			t.Fatalf("follow %d: exit %d %s", i, code, errOut)
		}
		for _, want := range []string{"p2   fetching page", "p2   page committed", "run succeeded", "run " + run + " succeeded"} {
			if !strings.Contains(out, want) {
				t.Fatalf("follow %d lacks %q:\n%s", i, want, out)
			}
		}
	}
}

func TestContinuousSyncBacksOffAfterFailures(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	inProcess(t, s, failingContinuousWorker())
	s.scheduler()
	// After failure n the next run waits 5 s · 2^(n-1): 5, 10, 20 s. A sync
	// restarting every 5 s without backoff would run 5 times in 22 s.
	time.Sleep(22 * time.Second)
	rs, _ := s.ops.Runs(context.Background(), "flapping", 0, 100)
	if len(rs) < 2 || len(rs) > 3 {
		t.Fatalf("%d runs of a failing continuous sync in 22 s, want 2–3 with backoff", len(rs))
	}
	for i := len(rs) - 1; i > 0; i-- {
		failures := len(rs) - i // consecutive failures when run i-1 started
		want := 5 * time.Second << (failures - 1)
		if gap := rs[i-1].Started.Sub(rs[i].Finished); gap < want-100*time.Millisecond {
			t.Fatalf("run %s started %v after the previous failure, want at least %v", rs[i-1].ID, gap, want)
		}
	}
}

// hammerWorker is a worker with one replace sync whose cycles write new
// keys every time, so every completed cycle trashes the previous one's
// rows: a cancelled run that swept would show trashed rows.
func hammerWorker() *synq.Worker {
	type state struct {
		Gen  string `json:"gen"`
		Page int    `json:"page"`
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "hammer"})
	db := w.Database("hammered", synq.DatabaseConfig{InitialTitle: "Hammered", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	synq.AddSync(w, "hammer", synq.SyncConfig[state]{Database: db, Schedule: "manual", MaxTrashFraction: 1,
		Execute: func(ctx context.Context, s *state) (synq.Result[state], error) {
			if s.Gen == "" {
				s.Gen = fmt.Sprint(time.Now().UnixNano())
			}
			time.Sleep(time.Duration(s.Page%3) * 5 * time.Millisecond)
			res := synq.Result[state]{HasMore: s.Page < 3, NextState: &state{Gen: s.Gen, Page: s.Page + 1}}
			for i := range 2 {
				res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("%s-%d-%d", s.Gen, s.Page, i), builder.Properties{}))
			}
			return res, nil
		}})
	return w
}

// failingContinuousWorker has one continuous sync that always fails.
func failingContinuousWorker() *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "flaps"})
	db := w.Database("flaps", synq.DatabaseConfig{InitialTitle: "Flaps", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	synq.AddSync(w, "flapping", synq.SyncConfig[pageState]{Database: db, Mode: synq.Incremental, Schedule: "continuous", MaxAttempts: 1,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			return synq.Result[pageState]{}, fmt.Errorf("upstream down")
		}})
	return w
}

// TestDeletionGuardEndsTheRunWithAWarning: an upstream that answers with
// nothing trashes nothing; the run ends as a warning naming the counts and
// the override, the sync's health says WARNING, and `ctl trigger
// --allow-trash` lets one run trash.
func TestDeletionGuardEndsTheRunWithAWarning(t *testing.T) {
	s := newStack(t)
	var n atomic.Int64
	w := synq.NewWorker(synq.WorkerConfig{Name: "guarded"})
	db := w.Database("annotated", synq.DatabaseConfig{InitialTitle: "Annotated", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	synq.AddSync(w, "mirror", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual",
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			var res synq.Result[struct{}]
			for i := range n.Load() {
				res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("row-%02d", i), builder.Properties{}))
			}
			return res, nil
		}})
	inProcess(t, s, w)
	addr := s.scheduler()
	n.Store(30)
	if r := s.waitRun(s.trigger("mirror"), 30*time.Second); r.Status != rdb.RunSucceeded || r.Counters["created"] != 30 {
		t.Fatalf("first run = %+v", r)
	}
	n.Store(0)
	r := s.waitRun(s.trigger("mirror"), 30*time.Second)
	if r.Status != rdb.RunWarning || r.Counters["trashed"] != 0 || !strings.Contains(r.Error, "would trash 30 of the 30 rows") || !strings.Contains(r.Error, "--allow-trash") {
		t.Fatalf("guarded run = %+v", r)
	}
	if v, _ := s.ops.View(context.Background(), "mirror"); v.Health != ops.Warning {
		t.Fatalf("health after a guarded run = %s", v.Health)
	}
	out, _, _ := s.ctl(addr, "runs", "list", "mirror", "--plain")
	if !strings.Contains(out, "\twarning\t") {
		t.Fatalf("ctl runs list does not show the warning:\n%s", out)
	}
	out, errOut, code := s.ctl(addr, "trigger", "mirror", "--allow-trash", "-o", "table")
	run := regexp.MustCompile(`mirror-\d{8}T\d{6}-[0-9a-f]{6}`).FindString(out)
	if code != 0 || run == "" {
		t.Fatalf("ctl trigger --allow-trash: exit %d %s%s", code, out, errOut)
	}
	if r := s.waitRun(run, 30*time.Second); r.Status != rdb.RunSucceeded || r.Counters["trashed"] != 30 || !r.AllowTrash {
		t.Fatalf("run with --allow-trash = %+v", r)
	}
	if v, _ := s.ops.View(context.Background(), "mirror"); v.Health != ops.Healthy {
		t.Fatalf("health after the allowed run = %s", v.Health)
	}
}
