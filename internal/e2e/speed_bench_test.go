package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/rdb"
)

// BenchmarkNotionLatencyBudget measures how much of a Notion budget a
// first backfill uses when each call takes as long as api.notion.com's
// (200–400 ms): the emulator answers with that latency and enforces
// Notion's Business budget (600 requests a minute), which the two
// executor processes are told (SYNQ_NOTION_RATE_LIMIT=600). A page's rows
// are written WriteConcurrency at once (SYNQ_WRITE_CONCURRENCY, default
// 8); one at a time, one run cannot send more than 1/latency calls a
// second whatever its budget.
//
// Figures: budget_use (calls made / (budget × the run's duration)),
// rate_limited (429s answered), calls_per_row (calls made / rows written)
// and the run's seconds.
//
// Sub-benchmarks: write_concurrency=8 (the default) and =1 (rows one after
// another, as before); -bench 'NotionLatencyBudget/write_concurrency=8'
// runs one.
func BenchmarkNotionLatencyBudget(b *testing.B) {
	for _, wc := range []int{8, 1} {
		b.Run(fmt.Sprintf("write_concurrency=%d", wc), func(b *testing.B) { latencyBudget(b, wc) })
	}
}

func latencyBudget(b *testing.B, writeConcurrency int) {
	const pages, rows, perMinute = 6, 100, 600
	for range b.N {
		s := newStack(b, fmt.Sprintf("E2E_PAGES=%d", pages), fmt.Sprintf("E2E_ROWS=%d", rows),
			fmt.Sprintf("SYNQ_NOTION_RATE_LIMIT=%d", perMinute), fmt.Sprintf("SYNQ_WRITE_CONCURRENCY=%d", writeConcurrency))
		s.emu.SetLatency(emulator.Latency{Min: 200 * time.Millisecond, Max: 400 * time.Millisecond})
		s.emu.SetRateLimit(perMinute)
		s.executor()
		s.executor()
		// Both provisioned at start (their calls are not the backfill's);
		// a quiet spell lets the emulator's bucket fill as after any pause.
		time.Sleep(3 * time.Second)
		s.emu.ResetStats()
		run := s.trigger("pagesSync")
		r := s.waitRun(run, 10*time.Minute)
		st := s.emu.Stats()
		if r.Status != rdb.RunSucceeded || r.Counters["created"] != pages*rows {
			b.Fatalf("run %+v, want %d rows created", r, pages*rows)
		}
		secs := r.Finished.Sub(r.Started).Seconds()
		b.ReportMetric(float64(st.Requests)/(perMinute/60.0*secs), "budget_use")
		b.ReportMetric(float64(st.ByStatus[429]), "rate_limited")
		b.ReportMetric(float64(st.Requests)/float64(pages*rows), "calls_per_row")
		b.ReportMetric(secs, "run_s")
		b.ReportMetric(float64(st.MaxInFlight), "max_in_flight")
	}
}
