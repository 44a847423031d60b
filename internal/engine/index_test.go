package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// The bug this guards against: an executor that keeps running while Redis
// loses its data used to trust its in-memory "index built" and duplicate
// every row.
func TestRunningEngineRebuildsIndexAfterFlush(t *testing.T) {
	src := newSource(200)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	before, _, _ := e.rdb.GetDatabase(ctx, "items")
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	delete(src.items, key(5)) // the cycle after the loss is complete: it sweeps
	src.mu.Unlock()
	e.emu.ResetStats()
	var l logs
	res := e.run(e.eng, "itemsBackfill", l.logger()) // the same engine
	_, routes := e.calls()
	if res.Counters["created"] != 0 || routes["POST /v1/pages"] != 0 || routes["POST /v1/databases"] != 0 || res.Counters["trashed"] != 1 {
		t.Fatalf("after the flush: %v, counters %v; want no row or database created, the row gone upstream trashed", routes, res.Counters)
	}
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 2 {
		t.Errorf("rebuild made %d queries for 200 rows, want 2", q)
	}
	if n := len(e.rows("items")); n != 199 { // rows() fails on a duplicate key
		t.Fatalf("%d rows, want 199", n)
	}
	want := `Redis lost synq's data: rebuilt the index of database "items" from Notion (200 rows); the sync's state was lost with it`
	if n := l.count(want); n != 1 {
		t.Fatalf("%d log lines %q, want 1; log:\n%s", n, want, l.all())
	}
	after, ok, _ := e.rdb.GetDatabase(ctx, "items")
	if !ok || after.DataSourceID != before.DataSourceID || !after.Indexed {
		t.Fatalf("ids after the flush = %+v, want the same data source as %+v, indexed", after, before)
	}
	// Rows were rewritten once (their hash was unknown); now they cost nothing.
	e.emu.ResetStats()
	if res := e.cycle("itemsBackfill"); res.Counters["unchanged"] != 199 {
		t.Fatalf("counters %v", res.Counters)
	}
	if total, routes := e.calls(); total != 0 {
		t.Fatalf("cycle after the rebuild made %d calls: %v", total, routes)
	}
}

func TestRacingEnginesRebuildOnceAfterFlush(t *testing.T) {
	src := newSource(230)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	for i := range 30 {
		src.delta = append(src.delta, synq.Upsert(key(i), builder.Properties{"Body": builder.RichText("from delta")}))
	}
	for i := range 5 {
		src.delta = append(src.delta, synq.Upsert(fmt.Sprintf("new%d", i), builder.Properties{"Body": builder.RichText("new")}))
	}
	src.mu.Unlock()
	e.emu.ResetStats()
	var l logs
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, s := range []string{"itemsBackfill", "itemsDelta"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng := e.newEngine() // two fresh executors
			if _, err := eng.RunCycle(ctx, s, s+"-after-flush", l.logger()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, routes := e.calls()
	if routes["POST /v1/databases"] != 0 {
		t.Fatalf("a second database was created: %v", routes)
	}
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 3 {
		t.Errorf("%d queries, want 3: one rebuild of 230 rows", q)
	}
	if n := l.count("rebuilt the index of database"); n < 1 || l.count("Redis lost synq's data: rebuilt") != 1 {
		t.Fatalf("want exactly one rebuild (and maybe one executor that waited for it); log:\n%s", l.all())
	}
	if routes["POST /v1/pages"] != 5 {
		t.Fatalf("%d creates, want 5 (the new keys): %v", routes["POST /v1/pages"], routes)
	}
	if n := len(e.rows("items")); n != 235 {
		t.Fatalf("%d rows, want 235", n)
	}
}

// cmdLog records the commands sent to Redis, one entry per round trip.
type cmdLog struct {
	mu    sync.Mutex
	trips []string
}

func (h *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd)
		return next(ctx, cmd)
	}
}

func (h *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.add(cmds...)
		return next(ctx, cmds)
	}
}

func (h *cmdLog) add(cmds ...redis.Cmder) {
	var trip []string
	for _, c := range cmds {
		trip = append(trip, fmt.Sprint(c.Args()...))
	}
	h.mu.Lock()
	h.trips = append(h.trips, strings.Join(trip, " | "))
	h.mu.Unlock()
}

func (h *cmdLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.trips
	h.trips = nil
	return out
}

func TestGenerationCheckCostsNoRoundTrip(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	hook := &cmdLog{}
	c := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	c.AddHook(hook)
	eng := e.engineWith(func(cfg *engine.Config) { cfg.Redis = rdb.New(c) })
	delta := func() {
		src.mu.Lock()
		defer src.mu.Unlock()
		for i := range 50 {
			src.delta = append(src.delta, synq.Upsert(key(i), builder.Properties{"Body": builder.RichText("x")}))
		}
	}
	delta()
	e.run(eng, "itemsDelta", quiet) // creates; loads the scripts
	delta()
	hook.take()
	res, err := eng.RunPage(context.Background(), engine.PageRequest{Sync: "itemsDelta", Run: "hooked", Page: 0, Logger: quiet})
	if err != nil || res.Counters["unchanged"] != 50 {
		t.Fatalf("page: %+v, %v", res, err)
	}
	trips := hook.take()
	var index, ids []string
	for _, s := range trips {
		if strings.Contains(s, rdb.IndexMetaKey("items")) {
			index = append(index, s)
		}
		if strings.Contains(s, rdb.DatabaseKey("items")+" ") || strings.HasSuffix(s, rdb.DatabaseKey("items")) {
			ids = append(ids, s)
		}
	}
	if len(index) != 1 || len(ids) != 0 {
		t.Fatalf("a page of 50 unchanged rows read the index in %d round trips and the database ids in %d, want 1 and 0 (the generation check rides on the lookup):\nindex: %q\nids: %q", len(index), len(ids), index, ids)
	}
	if len(trips) > 3 {
		t.Errorf("the page made %d round trips (want: read state, look up, commit): %q", len(trips), trips)
	}
}

func TestLostDatabaseKeyRediscoversTheSameDataSource(t *testing.T) {
	src := newSource(120)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	before, _, _ := e.rdb.GetDatabase(ctx, "items")

	// A fresh executor finds the database by search and keeps the index.
	e.redis.Client().Del(ctx, rdb.DatabaseKey("items"))
	e.eng = e.newEngine()
	e.emu.ResetStats()
	res := e.cycle("itemsBackfill")
	_, routes := e.calls()
	if routes["POST /v1/databases"] != 0 || routes["POST /v1/search"] == 0 || res.Counters["unchanged"] != 120 || routes["PATCH /v1/pages/{id}"] != 0 {
		t.Fatalf("after losing the ids: routes %v, counters %v; want a search, no new database, rows unchanged", routes, res.Counters)
	}
	after, ok, _ := e.rdb.GetDatabase(ctx, "items")
	if !ok || after.DataSourceID != before.DataSourceID || after.DatabaseID != before.DatabaseID {
		t.Fatalf("ids %+v, want %+v", after, before)
	}

	// A running executor that loses ids and index restores the ids it knows
	// (checking the data source) and rebuilds the index.
	e.redis.Client().Del(ctx, rdb.DatabaseKey("items"))
	if err := e.rdb.IndexDrop(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetStats()
	res = e.cycle("itemsBackfill")
	_, routes = e.calls()
	if routes["POST /v1/databases"] != 0 || routes["GET /v1/data_sources/{id}"] != 1 || res.Counters["created"] != 0 {
		t.Fatalf("running executor after losing ids and index: routes %v, counters %v", routes, res.Counters)
	}
	if after, _, _ := e.rdb.GetDatabase(ctx, "items"); after.DataSourceID != before.DataSourceID {
		t.Fatalf("ids %+v, want %+v", after, before)
	}
	if n := len(e.rows("items")); n != 120 {
		t.Fatalf("%d rows, want 120", n)
	}
}

// TestOldJSONIndexIsMigrated turns the index into the format of earlier
// synq versions (one hash of JSON entries with 16-byte hashes, "indexed" in
// the database hash) and checks the next run migrates it without a Notion
// call and without rewriting unchanged rows.
func TestOldJSONIndexIsMigrated(t *testing.T) {
	src := newSource(150)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	c := e.redis.Client()
	old := map[string]any{}
	err := e.rdb.IndexScan(ctx, "items", func(k string, en rdb.IndexEntry) error {
		// Old hashes were 16 bytes; today's are their first 8.
		old[k] = fmt.Sprintf(`{"p":%q,"h":%q,"w":%d}`, en.PageID, en.Hash+"00112233445566ff", en.Written)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.IndexDrop(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	c.HSet(ctx, rdb.LegacyIndexKey("items"), old)
	c.HSet(ctx, rdb.DatabaseKey("items"), "indexed", "1")
	src.mu.Lock()
	delete(src.items, key(7)) // a migration loses nothing: this cycle still sweeps
	src.mu.Unlock()
	e.eng = e.newEngine()
	e.emu.ResetStats()
	var l logs
	res := e.run(e.eng, "itemsBackfill", l.logger())
	if total, routes := e.calls(); total != 1 || routes["PATCH /v1/pages/{id}"] != 1 || res.Counters["unchanged"] != 149 || res.Counters["trashed"] != 1 {
		t.Fatalf("after migration: %d Notion calls %v, counters %v; want one trash, the rest unchanged", total, routes, res.Counters)
	}
	if n, _ := c.Exists(ctx, rdb.LegacyIndexKey("items")).Result(); n != 0 {
		t.Fatal("the old index is still there")
	}
	if l.count("migrated the key index to the compact format") != 1 {
		t.Fatalf("log:\n%s", l.all())
	}
	if n, _ := e.rdb.IndexLen(ctx, "items"); n != 149 {
		t.Fatalf("IndexLen = %d", n)
	}
}

// A delta written by an executor whose clock is minutes off must survive
// the sweep of a replace cycle run by another: both times come from Redis.
func TestSkewedClocksNeverSweepAFreshRow(t *testing.T) {
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			src := newSource(150) // two pages
			e := newEnv(t, itemsWorker(src))
			ctx := context.Background()
			e.cycle("itemsBackfill")
			// The backfill's executor runs ahead (or behind) by skew, the
			// delta's the other way.
			backfill := e.engineWith(func(c *engine.Config) { c.Now = func() time.Time { return time.Now().Add(skew) } })
			delta := e.engineWith(func(c *engine.Config) { c.Now = func() time.Time { return time.Now().Add(-skew) } })
			src.mu.Lock()
			delete(src.items, key(3)) // gone upstream: the sweep must trash it
			src.mu.Unlock()
			run := "skewed-" + fmt.Sprint(skew)
			if _, err := backfill.RunPage(ctx, engine.PageRequest{Sync: "itemsBackfill", Run: run, Page: 0, Logger: quiet}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			src.mu.Lock()
			src.delta = []synq.Change{synq.Upsert("fresh", builder.Properties{"Body": builder.RichText("from the delta")})}
			src.mu.Unlock()
			if res := e.run(delta, "itemsDelta", quiet); res.Counters["created"] != 1 {
				t.Fatalf("delta: %v", res.Counters)
			}
			res, err := backfill.RunPage(ctx, engine.PageRequest{Sync: "itemsBackfill", Run: run, Page: 1, Logger: quiet})
			if err != nil || res.HasMore {
				t.Fatalf("final page: %+v, %v", res, err)
			}
			rows := e.rows("items")
			if _, ok := rows["fresh"]; !ok {
				t.Fatalf("the sweep trashed the row the delta created during the cycle (skew %v)", skew)
			}
			if _, ok := rows[key(3)]; ok || res.Counters["trashed"] != 1 {
				t.Fatalf("the sweep did not trash the row gone upstream: counters %v", res.Counters)
			}
		})
	}
}

// If the index is rebuilt while a replace cycle runs (Redis lost data),
// what the cycle saw is unknown: the sweep trashes nothing.
func TestIndexRebuiltDuringCycleSkipsSweep(t *testing.T) {
	src := newSource(150)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	src.mu.Lock()
	delete(src.items, key(140)) // would be trashed by a normal cycle
	src.mu.Unlock()
	if _, err := e.eng.RunPage(ctx, engine.PageRequest{Sync: "itemsBackfill", Run: "r", Page: 0, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.IndexDrop(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	var l logs
	res, err := e.eng.RunPage(ctx, engine.PageRequest{Sync: "itemsBackfill", Run: "r", Page: 1, Logger: l.logger()})
	if err != nil || res.HasMore {
		t.Fatalf("final page: %+v, %v", res, err)
	}
	if res.Counters["trashed"] != 0 || l.count("nothing is trashed this cycle") != 1 {
		t.Fatalf("counters %v; log:\n%s", res.Counters, l.all())
	}
	if n := len(e.rows("items")); n != 150 {
		t.Fatalf("%d rows, want 150", n)
	}
	// The next complete cycle sweeps.
	if res := e.cycle("itemsBackfill"); res.Counters["trashed"] != 1 {
		t.Fatalf("next cycle: %v", res.Counters)
	}
}

// related returns the keys of relatedDB that row key's relation prop names.
func (e *env) related(db, key, prop, relatedDB string) []string {
	e.t.Helper()
	byID := map[string]string{}
	for k, r := range e.rows(relatedDB) {
		byID[strings.ReplaceAll(r["_id"], "-", "")] = k
	}
	ids, _, _ := e.rdb.GetDatabase(context.Background(), db)
	pk := e.set.Databases[db].PrimaryKey
	var out []string
	found := false
	err := e.notion.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		if p.Properties[pk].Text() != key {
			return nil
		}
		found = true
		for _, r := range p.Properties[prop].Relation {
			out = append(out, byID[strings.ReplaceAll(r.ID, "-", "")])
		}
		return nil
	})
	if err != nil || !found {
		e.t.Fatalf("%s row %q: found=%v err=%v", db, key, found, err)
	}
	slices.Sort(out)
	return out
}

// A rebuild that outlasts its page (a big database: one query per 100
// rows) goes on in the background; the retried page waits for it instead
// of starting another.
func TestSlowRebuildOutlivesItsPage(t *testing.T) {
	src := newSource(250)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	slow, err := notion.New(notion.Config{BaseURL: e.emu.URL(), Token: notiontest.Token, Logger: quiet,
		Before: func(ctx context.Context, r notion.Request) error {
			if r.Route == "POST /v1/data_sources/{id}/query" {
				time.Sleep(300 * time.Millisecond)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	eng := e.engineWith(func(c *engine.Config) { c.Notion = slow })
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetStats()
	short, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	_, err = eng.RunPage(short, engine.PageRequest{Sync: "itemsBackfill", Run: "slow", Page: 0, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "goes on in the background") {
		t.Fatalf("page with a deadline shorter than the rebuild: err = %v", err)
	}
	// The retry (another executor) waits for the rebuild in progress.
	res := e.run(e.newEngine(), "itemsBackfill", quiet)
	if res.Counters["created"] != 0 {
		t.Fatalf("counters %v", res.Counters)
	}
	if _, routes := e.calls(); routes["POST /v1/data_sources/{id}/query"] != 3 {
		t.Fatalf("%d queries, want one rebuild of 250 rows (3): %v", routes["POST /v1/data_sources/{id}/query"], routes)
	}
	if n := len(e.rows("items")); n != 250 {
		t.Fatalf("%d rows", n)
	}
}
