package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// kill -9 of an executor while 8 writes of its page are in flight (a
// page's rows are written SYNQ_WRITE_CONCURRENCY at once, and Notion
// answers in 200-400 ms): another executor takes the page over, the run
// succeeds, and Notion ends with every row once — the creates that were
// in flight are settled by the create intents they left, and any that
// landed after the takeover's lookup by its doubt checks.
func TestKill9WithWritesInFlightLosesNothing(t *testing.T) {
	const pages, rows = 4, 40
	s := newStack(t, fmt.Sprintf("E2E_PAGES=%d", pages), fmt.Sprintf("E2E_ROWS=%d", rows), "SYNQ_CLAIM_TTL=3s", "SYNQ_WRITE_CONCURRENCY=8")
	s.emu.SetLatency(emulator.Latency{Min: 200 * time.Millisecond, Max: 400 * time.Millisecond})
	s.scheduler()
	a := s.executor()
	run := s.trigger("pagesSync")
	var inFlight int64
	s.waitFor(2*time.Minute, "8 writes of page 1 in flight", func() bool {
		if len(s.marks("pagesSync")) < 2 { // A is on its second page
			return false
		}
		inFlight = s.emu.Stats().InFlight
		return inFlight >= 8
	})
	a.signal(syscall.SIGKILL)
	killed := time.Now()
	if _, ok := a.exited(10 * time.Second); !ok {
		t.Fatal("the executor did not die")
	}
	before := s.keyCounts()
	t.Logf("killed A with %d Notion requests in flight, %d rows written", inFlight, len(before))
	s.executor()
	r := s.waitRun(run, 4*time.Minute)
	if r.Status != rdb.RunSucceeded {
		t.Fatalf("run after kill -9 = %+v, want succeeded", r)
	}
	t.Logf("the run succeeded %v after the kill: counters %v", time.Since(killed).Round(time.Second), r.Counters)
	s.waitOnceEach(pages, rows, 2*time.Minute)
}

// Two syncs writing the same keys of one database at the same time, on two
// executors, a page's rows written concurrently: Notion ends with one row
// per key holding the newer value (the one with the newer upstream time),
// whichever sync's write landed last.
func TestTwoSyncsWritingTheSameKeysConcurrently(t *testing.T) {
	const pages, rows = 4, 30
	s := newStack(t, fmt.Sprintf("E2E_PAGES=%d", pages), fmt.Sprintf("E2E_ROWS=%d", rows), "E2E_SHARED=1", "SYNQ_WRITE_CONCURRENCY=8")
	s.emu.SetLatency(emulator.Latency{Min: 10 * time.Millisecond, Max: 60 * time.Millisecond})
	s.executor()
	s.executor()
	ra, rb := s.trigger("sharedA"), s.trigger("sharedB")
	for _, run := range []string{ra, rb} {
		if r := s.waitRun(run, 4*time.Minute); r.Status != rdb.RunSucceeded {
			t.Fatalf("run %+v, want succeeded", r)
		}
	}
	counts, values := s.sharedRows()
	var bad []string
	for p := range pages {
		for r := range rows {
			k := fmt.Sprintf("shared-%03d-%03d", p, r)
			want := 2.0
			if r%2 == 0 {
				want = 1
			}
			if counts[k] != 1 || values[k] != want {
				bad = append(bad, fmt.Sprintf("%s: %d rows, Page %v (want 1 row, %v)", k, counts[k], values[k], want))
			}
		}
	}
	if len(counts) != pages*rows {
		bad = append(bad, fmt.Sprintf("%d keys, want %d", len(counts), pages*rows))
	}
	if len(bad) > 0 {
		t.Fatalf("%d wrong: %s", len(bad), strings.Join(bad[:min(len(bad), 10)], "; "))
	}
	st := s.emu.Stats()
	t.Logf("two syncs × %d rows on the same keys: %d creates, %d updates, at most %d requests in flight",
		pages*rows, st.ByRoute["POST /v1/pages"], st.ByRoute["PATCH /v1/pages/{id}"], st.MaxInFlight)
}

// sharedRows counts the things database's rows by key and reads their
// Page value.
func (s *stack) sharedRows() (map[string]int, map[string]float64) {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), "things")
	if err != nil || !ok {
		s.t.Fatalf("things not provisioned: %v", err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	counts, values := map[string]int{}, map[string]float64{}
	err = nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		k := p.Properties["Key"].Text()
		counts[k]++
		if n := p.Properties["Page"].Number; n != nil {
			values[k] = *n
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return counts, values
}
