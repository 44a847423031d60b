package engine_test

import (
	"context"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
)

// Notion returns at most 10,000 results per query (here lowered to 150):
// the rebuild after Redis lost its data reads the database whole in
// created_time windows. Before, it stopped at the cap and every row past
// it was created a second time.
func TestRebuildAfterFlushReadsPastTheQueryResultLimit(t *testing.T) {
	const rows, limit = 640, 150
	src := newSource(rows)
	e := newEnvWith(t, itemsWorker(src), envOptions{emulator: emulator.Config{QueryResultLimit: limit}})
	ctx := context.Background()
	e.cycle("itemsBackfill")
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetStats()
	var l logs
	res := e.run(e.eng, "itemsBackfill", l.logger())
	_, routes := e.calls()
	if res.Counters["created"] != 0 || routes["POST /v1/pages"] != 0 {
		t.Fatalf("after the flush: %v, counters %v; want no row created", routes, res.Counters)
	}
	if n, err := e.rdb.IndexLen(ctx, "items"); err != nil || n != rows {
		t.Fatalf("index after the rebuild: %d entries (%v), want %d", n, err, rows)
	}
	want := `Redis lost synq's data: rebuilt the index of database "items" from Notion (640 rows)`
	if l.count(want) != 1 {
		t.Fatalf("want one line %q; log:\n%s", want, l.all())
	}
	q := routes["POST /v1/data_sources/{id}/query"]
	if q < rows/100+1 {
		t.Errorf("the rebuild made %d queries for %d rows under a cap of %d", q, rows, limit)
	}
	t.Logf("rebuild of %d rows under a cap of %d: %d query requests", rows, limit, q)
	if n := len(e.rows("items")); n != rows { // rows() fails on a duplicate key
		t.Fatalf("%d rows, want %d", n, rows)
	}
}

// The index check after a restart from an old snapshot reads past the
// cap too: the rows Redis forgot are past it (the newest), and none of
// them is created again.
func TestIndexCheckReadsPastTheQueryResultLimit(t *testing.T) {
	const limit = 50
	src := newSource(150)
	e := newEnvWith(t, itemsWorker(src), envOptions{emulator: emulator.Config{QueryResultLimit: limit}})
	ctx := context.Background()
	e.cycle("itemsBackfill")
	if err := e.redis.Client().Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addDelta(src, "late", 20)
	if res := e.cycle("itemsDelta"); res.Counters["created"] != 20 {
		t.Fatalf("delta before the crash: %v, want 20 created", res.Counters)
	}
	e.redis.Crash()
	e.redis.Relaunch()
	addDelta(src, "late", 20)
	e.emu.ResetStats()
	var l logs
	res := e.run(e.eng, "itemsDelta", l.logger())
	_, routes := e.calls()
	if routes["POST /v1/pages"] != 0 || res.Counters["created"] != 0 {
		t.Fatalf("after the restart: %v, counters %v; want no page created", routes, res.Counters)
	}
	want := `checked the index of database "items" against Notion: 170 rows, 20 missing from Redis and restored`
	if l.count(want) != 1 {
		t.Fatalf("want one line %q; log:\n%s", want, l.all())
	}
	if n := len(e.rows("items")); n != 170 {
		t.Fatalf("%d rows, want 170", n)
	}
}
