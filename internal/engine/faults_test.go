package engine_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
)

// A 300-row backfill against a Notion that misbehaves: 3% of requests
// answer 500 without doing anything, 2% of writes are applied and then
// answer 500 (the outcome is unknown), 5% of writes are applied and answer
// 503 naming what they committed, 2% of requests stall past the client's
// timeout (and are applied after it gave up), 3% answer 429. The run
// succeeds on its first attempt, with every row once.
func TestBackfillSurvivesNotionFaults(t *testing.T) {
	faults := emulator.Faults{
		Rate500: 0.03, RateAppliedThen500: 0.02, RateAppliedThen503: 0.05,
		RateStall: 0.02, StallFor: 2 * time.Second,
		Rate429: 0.03, RetryAfter429: 50 * time.Millisecond,
		Seed: 12,
	}
	if v := os.Getenv("SYNQ_FAULT_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		faults.Seed = seed
	}
	src := newSource(300)
	logs := &countingHandler{counts: map[string]int{}}
	e := newEnvWith(t, itemsWorker(src), envOptions{
		notion: func(c *notion.Config) {
			c.Timeout = 400 * time.Millisecond
			c.Backoff = 10 * time.Millisecond
		},
		engine: func(c *engine.Config) {
			c.SettleDelay = 200 * time.Millisecond
			c.ProvisionBackoff = 10 * time.Millisecond
			c.Logger = slog.New(logs)
		},
	})
	e.emu.SetFaults(faults)
	ctx := context.Background()
	// Provisioning (a search, a create, a schema read) meets the faults too.
	if err := e.eng.Provision(ctx); err != nil {
		t.Fatalf("provision under faults: %v", err)
	}
	res, err := e.eng.RunCycle(ctx, "itemsBackfill", "faults-run", slog.New(logs))
	if err != nil {
		t.Fatalf("the backfill's first run failed (page %d): %v", res.Pages, err)
	}
	st := e.emu.Stats()
	e.emu.SetFaults(emulator.Faults{})
	rows := e.rows("items") // fails the test on a duplicate key
	dups := 0
	ids, _, _ := e.rdb.GetDatabase(ctx, "items")
	all := 0
	if err := e.notion.QueryAll(ctx, ids.DataSourceID, notion.QueryRequest{}, func(*notion.Page) error { all++; return nil }); err != nil {
		t.Fatal(err)
	}
	dups = all - len(rows)
	if len(rows) != 300 || dups != 0 || res.Counters["created"] != 300 {
		t.Fatalf("%d rows (%d pages in Notion, %d duplicates), counters %v; want 300 rows created once", len(rows), all, dups, res.Counters)
	}
	for k, r := range rows {
		if r["Body"] == "" {
			t.Errorf("row %s has no body", k)
		}
	}
	n, _ := e.rdb.IndexLen(ctx, "items")
	if n != 300 {
		t.Errorf("index has %d keys, want 300", n)
	}
	var injected int64
	for _, v := range st.Faults {
		injected += v
	}
	if st.Faults["500"] == 0 || st.Faults["applied500"] == 0 || st.Faults["applied503"] == 0 || st.Faults["stall"] == 0 || st.Faults["429"] == 0 {
		t.Errorf("not every fault was injected: %v", st.Faults)
	}

	// A second cycle changing 30 rows, under the same faults: the updates
	// whose outcome is unknown are sent again.
	src.mu.Lock()
	for i := 0; i < 300; i += 10 {
		src.items[key(i)] = item{Body: "changed " + strconv.Itoa(i)}
	}
	src.mu.Unlock()
	e.emu.SetFaults(faults)
	res2, err := e.eng.RunCycle(ctx, "itemsBackfill", "faults-run-2", slog.New(logs))
	e.emu.SetFaults(emulator.Faults{})
	if err != nil {
		t.Fatalf("the second run failed: %v", err)
	}
	rows = e.rows("items")
	if res2.Counters["updated"] != 30 || len(rows) != 300 || rows[key(250)]["Body"] != "changed 250" || rows[key(251)]["Body"] != "body 251" {
		t.Fatalf("second run: counters %v, %d rows, k250 %v", res2.Counters, len(rows), rows[key(250)])
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	t.Logf("300-row backfill under faults (seed %d): %d rows, %d duplicates, %d pages run, 0 page retries; %d faults injected %v over %d requests (%d creates, %d queries); unknown create outcomes settled by lookup %d (found applied %d), updates resent %d",
		faults.Seed, len(rows), dups, res.Pages, injected, st.Faults, st.Requests, st.ByRoute["POST /v1/pages"], st.ByRoute["POST /v1/data_sources/{id}/query"],
		logs.counts["create outcome unknown; looking the key up"], logs.counts["the create was applied"], logs.counts["update outcome unknown; sending it again"])
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// Every create is applied and answered 500: each is settled by one lookup,
// none is sent twice, and the page goes on.
func TestUnknownCreateOutcomeSettledByLookup(t *testing.T) {
	src := newSource(0)
	e := newEnvWith(t, itemsWorker(src), envOptions{engine: func(c *engine.Config) { c.SettleDelay = 50 * time.Millisecond }})
	provision(t, e)
	for i := range 5 {
		src.delta = append(src.delta, up(key(i), "v", at(1)))
	}
	e.emu.SetFaults(emulator.Faults{RateAppliedThen500: 1, Seed: 1})
	e.emu.ResetStats()
	res, err := e.tryCycle("itemsDelta")
	e.emu.SetFaults(emulator.Faults{})
	if err != nil {
		t.Fatalf("a page whose creates answered 500 failed: %v", err)
	}
	st := e.emu.Stats()
	if res.Counters["created"] != 5 || st.ByRoute["POST /v1/pages"] != 5 || st.ByRoute["POST /v1/data_sources/{id}/query"] != 5 {
		t.Fatalf("counters %v, requests %v: want 5 creates settled by 5 lookups", res.Counters, st.ByRoute)
	}
	if rows := e.rows("items"); len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	// The index knows them: the next identical page costs nothing.
	src.delta = nil
	for i := range 5 {
		src.delta = append(src.delta, up(key(i), "v", at(1)))
	}
	e.emu.ResetStats()
	if res := e.cycle("itemsDelta"); res.Counters["unchanged"] != 5 || e.emu.Stats().Requests != 0 {
		t.Fatalf("after settling: %v, %d requests", res.Counters, e.emu.Stats().Requests)
	}
}
