package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// rowCount counts the live rows of the e2e "things" database, failing on a
// duplicate key.
func (s *stack) rowCount() int {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), "things")
	if err != nil || !ok {
		s.t.Fatalf("things not provisioned: %v", err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	seen := map[string]bool{}
	err = nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		k := p.Properties["Key"].Text()
		if seen[k] {
			s.t.Errorf("key %q has two rows", k)
		}
		seen[k] = true
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(seen)
}

func (s *stack) trigger(sync string) string {
	s.t.Helper()
	run, err := s.ops.Trigger(context.Background(), sync, "manual")
	if err != nil {
		s.t.Fatal(err)
	}
	return run
}

func TestManualRunSharedByTwoExecutors(t *testing.T) {
	s := newStack(t, "E2E_PAGES=12", "E2E_ROWS=4", "E2E_SLEEP=100ms")
	s.executor()
	s.executor()
	run := s.trigger("pagesSync")
	if _, err := s.ops.Trigger(context.Background(), "pagesSync", "manual"); !errors.Is(err, ops.ErrRunActive) || !strings.Contains(err.Error(), run) {
		t.Fatalf("second trigger while active: %v, want refusal naming %s", err, run)
	}
	r := s.waitRun(run, 60*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["pages"] != 12 || r.Counters["created"] != 48 {
		t.Fatalf("run = %+v", r)
	}
	pids := map[int]bool{}
	for _, m := range s.marks("pagesSync") {
		pids[m.pid] = true
	}
	if len(pids) != 2 {
		t.Fatalf("pages ran on %d executor processes, want both", len(pids))
	}
	if n := s.rowCount(); n != 48 {
		t.Fatalf("%d rows, want 48", n)
	}
	logs, err := s.ops.Logs(context.Background(), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	var user, platform bool
	for _, l := range logs {
		user = user || (l.Source == "user" && l.Message == "fetching page")
		platform = platform || (l.Source == "platform" && l.Message == "run succeeded")
	}
	if !user || !platform {
		t.Fatalf("run log lacks user or platform lines: %+v", logs)
	}
}

func TestKill9MidPageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Log("runs the full asynq lease recovery (up to 90 s)")
	}
	s := newStack(t, "E2E_PAGES=6", "E2E_ROWS=5", "E2E_SLEEP=1500ms")
	a := s.executor()
	run := s.trigger("pagesSync")
	// Let a's first page start, then kill it mid-page; b picks up the run.
	s.waitFor(20*time.Second, "a page on the first executor", func() bool { return len(s.marks("pagesSync")) > 0 })
	a.signal(syscall.SIGKILL)
	s.executor()
	r := s.waitRun(run, 150*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["pages"] != 6 {
		t.Fatalf("run after kill -9 = %+v", r)
	}
	if n := s.rowCount(); n != 30 {
		t.Fatalf("%d rows, want 30 (every row exactly once)", n)
	}
	st, _ := s.rdb.GetSync(context.Background(), "pagesSync")
	if st.State != nil || st.RunPages != 6 {
		t.Fatalf("state after the run = %s, pages %d; want a reset replace state and 6 pages", st.State, st.RunPages)
	}
}

func TestSIGTERMFinishesThePageInFlight(t *testing.T) {
	s := newStack(t, "E2E_PAGES=3", "E2E_ROWS=2", "E2E_SLEEP=2s")
	a := s.executor()
	run := s.trigger("pagesSync")
	s.waitFor(20*time.Second, "the first page", func() bool { return len(s.marks("pagesSync")) > 0 })
	a.signal(syscall.SIGTERM)
	err, ok := a.exited(40 * time.Second)
	if !ok || err != nil {
		t.Fatalf("executor after SIGTERM: exited %v, err %v\n%s", ok, err, a.out.String())
	}
	if !strings.Contains(a.out.String(), "page committed") {
		t.Fatalf("the page in flight was not finished before exiting:\n%s", a.out.String())
	}
	s.executor()
	if r := s.waitRun(run, 60*time.Second); r.Status != rdb.RunSucceeded {
		t.Fatalf("run = %+v", r)
	}
	if n := s.rowCount(); n != 6 {
		t.Fatalf("%d rows, want 6", n)
	}
}

func TestPauseStopsAtPageBoundaryAndResumeFinishes(t *testing.T) {
	s := newStack(t, "E2E_PAGES=8", "E2E_ROWS=1", "E2E_SLEEP=300ms")
	s.executor()
	run := s.trigger("pagesSync")
	s.waitFor(20*time.Second, "two pages", func() bool { return len(s.marks("pagesSync")) >= 2 })
	if err := s.ops.Pause(context.Background(), "pagesSync"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(10*time.Second, "the run to park", func() bool {
		r, err := s.ops.Run(context.Background(), run)
		return err == nil && r.Status == rdb.RunParked
	})
	parkedAt := len(s.marks("pagesSync"))
	time.Sleep(time.Second)
	if n := len(s.marks("pagesSync")); n != parkedAt || n >= 8 {
		t.Fatalf("a paused run kept running: %d pages, then %d", parkedAt, n)
	}
	v, _ := s.ops.View(context.Background(), "pagesSync")
	if v.Health != ops.Disabled {
		t.Fatalf("health of a paused sync = %s", v.Health)
	}
	if _, err := s.ops.Resume(context.Background(), "pagesSync"); err != nil {
		t.Fatal(err)
	}
	r := s.waitRun(run, 30*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["pages"] != 8 {
		t.Fatalf("resumed run = %+v", r)
	}
	if len(s.marks("pagesSync")) != 8 {
		t.Fatalf("%d Execute calls for 8 pages: a page ran twice or was skipped", len(s.marks("pagesSync")))
	}
}

func TestTwoSchedulersStartOneRunPerTick(t *testing.T) {
	s := newStack(t, "E2E_PAGES=1", "E2E_ROWS=1")
	s.executor()
	s.start("scheduler")
	s.start("scheduler")
	// A sync seen for the first time runs at once.
	s.waitFor(20*time.Second, "the first scheduled run", func() bool {
		runs, _ := s.ops.Runs(context.Background(), "scheduledSync", 0, 10)
		return len(runs) == 1 && runs[0].Status == rdb.RunSucceeded
	})
	// Make the next tick due in a second: exactly one more run, on time.
	due := time.Now().Add(time.Second)
	if err := s.rdb.SetNextRun(context.Background(), "scheduledSync", due); err != nil {
		t.Fatal(err)
	}
	s.waitFor(20*time.Second, "the second scheduled run", func() bool {
		runs, _ := s.ops.Runs(context.Background(), "scheduledSync", 0, 10)
		return len(runs) == 2 && runs[0].Status == rdb.RunSucceeded
	})
	time.Sleep(1500 * time.Millisecond)
	runs, _ := s.ops.Runs(context.Background(), "scheduledSync", 0, 10)
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2: two schedulers started the same tick twice", len(runs))
	}
	if runs[0].Trigger != "schedule" || runs[0].Started.Before(due) {
		t.Fatalf("second run %+v started before it was due (%v)", runs[0], due)
	}
	st, _ := s.rdb.GetSyncStatus(context.Background(), "scheduledSync")
	if !st.NextRun.After(time.Now().Add(4 * time.Minute)) {
		t.Fatalf("next run %v, want about 5m ahead", st.NextRun)
	}
}

func TestFailuresMakeHealthErrorAndPanicsAreReported(t *testing.T) {
	s := newStack(t)
	s.executor()
	for i := range 3 {
		r := s.waitRun(s.trigger("failSync"), 30*time.Second)
		if r.Status != rdb.RunFailed || !strings.Contains(r.Error, "upstream says no") {
			t.Fatalf("failing run %d = %+v", i, r)
		}
		v, _ := s.ops.View(context.Background(), "failSync")
		want := ops.Warning
		if i == 2 {
			want = ops.Error
		}
		if v.Health != want {
			t.Fatalf("health after %d failed runs = %s, want %s", i+1, v.Health, want)
		}
	}
	run := s.trigger("panicSync")
	r := s.waitRun(run, 60*time.Second)
	if r.Status != rdb.RunFailed || !strings.Contains(r.Error, "panicked") {
		t.Fatalf("panicking run = %+v", r)
	}
	logs, _ := s.ops.Logs(context.Background(), run, 0)
	found := false
	for _, l := range logs {
		if strings.Contains(l.Message, "page failed") && strings.Contains(fmt.Sprint(l.Attrs["err"]), "assignment to entry in nil map") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the panic is not in the run log: %+v", logs)
	}
	if len(s.marks("panicSync")) != 2 {
		t.Fatalf("panicSync ran %d times, want MaxAttempts = 2", len(s.marks("panicSync")))
	}
}
