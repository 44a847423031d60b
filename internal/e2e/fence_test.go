package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/holdproxy"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// keyCounts counts the live rows of the things database by key.
func (s *stack) keyCounts() map[string]int {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), "things")
	if err != nil || !ok {
		s.t.Fatalf("things not provisioned: %v", err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int{}
	err = nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		out[p.Properties["Key"].Text()]++
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// onceEach says whether counts hold exactly the keys of a pagesSync run
// of pages×rows, once each, and if not, what is wrong.
func onceEach(counts map[string]int, pages, rows int) string {
	var bad []string
	for p := range pages {
		for r := range rows {
			k := fmt.Sprintf("pagesSync-%03d-%03d", p, r)
			if counts[k] != 1 {
				bad = append(bad, fmt.Sprintf("%s×%d", k, counts[k]))
			}
		}
	}
	if n := len(counts); n != pages*rows {
		bad = append(bad, fmt.Sprintf("%d keys, want %d", n, pages*rows))
	}
	sort.Strings(bad)
	return strings.Join(bad, ", ")
}

// waitOnceEach waits until Notion holds one row per key of a pagesSync
// run, and fails the test saying what is wrong if it does not within d.
func (s *stack) waitOnceEach(pages, rows int, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		wrong := onceEach(s.keyCounts(), pages, rows)
		if wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v, not one row per key: %s", d, wrong)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// An executor cut off from Redis (not from Notion) while its create is in
// flight: executor A sends the create of pagesSync-002-002, which is held
// on its way to Notion, and loses Redis; executor B takes the page over
// once A's leases expire and writes the key; then A's create reaches
// Notion and the partition heals. Within two minutes Notion holds one row
// per key, the run succeeds and A is still up. (Before key claims fenced
// Notion writes: two rows for pagesSync-002-002, for good.)
func TestPartitionedWriterNeverLeavesADuplicate(t *testing.T) {
	const pages, rows = 6, 5
	const key = "pagesSync-002-002"
	s := newStack(t, fmt.Sprintf("E2E_PAGES=%d", pages), fmt.Sprintf("E2E_ROWS=%d", rows), "E2E_SLEEP=300ms", "SYNQ_CLAIM_TTL=3s")
	s.scheduler()
	rp := newTCPProxy(t, s.redis.Addr())
	np := holdproxy.New(t, s.emu.URL(), holdproxy.CreateOf(key))
	a := s.executor("REDIS_URL=redis://"+rp.addr()+"/0", "NOTION_API_BASE_URL="+np.URL())
	run := s.trigger("pagesSync")
	select {
	case <-np.Held():
	case <-time.After(60 * time.Second):
		t.Fatal("A never sent the create of " + key)
	}
	rp.Cut()
	cutAt := time.Now()
	t.Logf("A's create of %s is held; A is cut off from Redis", key)
	b := s.executor()
	// B takes the page over (A's task lease expires, asynq recovers it)
	// and writes the key.
	s.waitFor(4*time.Minute, "B to write "+key, func() bool { return s.keyCounts()[key] == 1 })
	t.Logf("B wrote %s %v after the cut", key, time.Since(cutAt).Round(time.Second))
	// A's create reaches Notion after all, then the partition heals.
	np.Release()
	select {
	case <-np.Landed():
	case <-time.After(30 * time.Second):
		t.Fatal("A's held create never reached Notion")
	}
	landed := time.Now()
	if n := s.keyCounts()[key]; n != 2 {
		t.Logf("right after A's late create landed, %s has %d rows", key, n)
	}
	rp.Heal()
	r := s.waitRun(run, 3*time.Minute)
	if r.Status != rdb.RunSucceeded {
		t.Fatalf("run = %+v, want succeeded", r)
	}
	s.waitOnceEach(pages, rows, 2*time.Minute)
	t.Logf("one row per key %v after A's late create landed", time.Since(landed).Round(100*time.Millisecond))
	if err, exited := a.exited(2 * time.Second); exited {
		t.Fatalf("the cut-off executor exited: %v", err)
	}
	if err, exited := b.exited(0); exited {
		t.Fatalf("executor B exited: %v", err)
	}
	if out := b.out.String(); !strings.Contains(out, "a create its writer gave up on landed") {
		t.Logf("B's output:\n%s", out)
	}
}

// SIGSTOP one of two executors in the middle of a paced backfill for
// longer than every lease, let the other take over, SIGCONT: the run
// succeeds with every row exactly once, and the woken executor stays up.
func TestFrozenExecutorWakesUpHarmless(t *testing.T) {
	const pages, rows = 10, 5
	s := newStack(t, fmt.Sprintf("E2E_PAGES=%d", pages), fmt.Sprintf("E2E_ROWS=%d", rows), "E2E_SLEEP=1s", "SYNQ_CLAIM_TTL=3s")
	s.scheduler()
	a := s.executor()
	b := s.executor()
	apid, bpid := a.cmd.Process.Pid, b.cmd.Process.Pid
	run := s.trigger("pagesSync")
	var frozenPage int
	s.waitFor(60*time.Second, "A to run a page past the first two", func() bool {
		for _, m := range s.marks("pagesSync") {
			if m.pid == apid && m.page >= 2 {
				frozenPage = m.page
				return true
			}
		}
		return false
	})
	// Mid-page: Execute takes 1 s, then the rows are written.
	time.Sleep(1100 * time.Millisecond)
	a.signal(syscall.SIGSTOP)
	frozeAt := time.Now()
	t.Logf("froze A (pid %d) on page %d", apid, frozenPage)
	// B takes over the page A holds (A may have moved on to the next
	// page before it froze).
	s.waitFor(4*time.Minute, "B to take the run over", func() bool {
		for _, m := range s.marks("pagesSync") {
			if m.pid == bpid && m.at.After(frozeAt) {
				return true
			}
		}
		return false
	})
	// Longer than every lease: asynq's (30 s) and the key claims' (3 s).
	if d := 35*time.Second - time.Since(frozeAt); d > 0 {
		time.Sleep(d)
	}
	a.signal(syscall.SIGCONT)
	t.Logf("woke A after %v", time.Since(frozeAt).Round(time.Second))
	r := s.waitRun(run, 4*time.Minute)
	if r.Status != rdb.RunSucceeded {
		t.Fatalf("run = %+v, want succeeded", r)
	}
	// A's zombie page may still be finishing its writes: they must leave
	// every row once.
	time.Sleep(5 * time.Second)
	s.waitOnceEach(pages, rows, 2*time.Minute)
	if err, exited := a.exited(2 * time.Second); exited {
		t.Fatalf("the woken executor exited: %v", err)
	}
}
