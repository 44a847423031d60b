package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// A Redis that comes back with its data but without the last writes (an
// RDB snapshot, a replica promoted while it lagged) keeps the index's
// generation marker: only the server's new replication id says the index
// may be missing rows synq created just before. These tests lose exactly
// such writes and check that no row is created twice.

// addDelta queues n new keys (and an edit of key 0) for the next delta run.
func addDelta(src *source, prefix string, n int) {
	src.mu.Lock()
	defer src.mu.Unlock()
	src.delta = append(src.delta, synq.Upsert(key(0), builder.Properties{"Body": builder.RichText("edited " + prefix)}))
	for i := range n {
		src.delta = append(src.delta, synq.Upsert(prefix+strconv.Itoa(i), builder.Properties{"Body": builder.RichText("new")}))
	}
}

func TestIndexCheckedAfterRestartFromOldSnapshot(t *testing.T) {
	src := newSource(150)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	e.cycle("itemsBackfill")
	if err := e.redis.Client().Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addDelta(src, "late", 20)
	if res := e.cycle("itemsDelta"); res.Counters["created"] != 20 {
		t.Fatalf("delta before the crash: %v, want 20 created", res.Counters)
	}
	// kill -9 and back from the snapshot: the 20 entries are gone, the
	// marker is not.
	e.redis.Crash()
	e.redis.Relaunch()
	if n, err := e.rdb.IndexLen(ctx, "items"); err != nil || n != 150 {
		t.Fatalf("index after the restart: %d entries (%v), want the snapshot's 150", n, err)
	}
	addDelta(src, "late", 20) // upstream sends the changes Redis forgot again
	e.emu.ResetStats()
	var l logs
	res := e.run(e.eng, "itemsDelta", l.logger()) // the same engine, as a running executor
	_, routes := e.calls()
	if routes["POST /v1/pages"] != 0 || res.Counters["created"] != 0 {
		t.Fatalf("after the restart: %v, counters %v; want no page created", routes, res.Counters)
	}
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 2 {
		t.Errorf("the check made %d queries for 170 rows, want 2", q)
	}
	want := `checked the index of database "items" against Notion: 170 rows, 20 missing from Redis and restored`
	if l.count(want) != 1 {
		t.Fatalf("want one line %q; log:\n%s", want, l.all())
	}
	if n := len(e.rows("items")); n != 170 { // rows() fails on a duplicate key
		t.Fatalf("%d rows, want 170", n)
	}
	// Checked once: the next run trusts the index again.
	addDelta(src, "again", 0)
	e.emu.ResetStats()
	if res := e.cycle("itemsDelta"); res.Counters["updated"] != 1 {
		t.Fatalf("counters %v, want key 0 updated", res.Counters)
	}
	if _, routes := e.calls(); routes["POST /v1/data_sources/{id}/query"] != 0 {
		t.Fatalf("the index was checked again: %v", routes)
	}
}

// A restart that lost nothing (SHUTDOWN SAVE) is checked too (Redis
// cannot tell), and costs reads only: no write, an Info line.
func TestIndexCheckedAfterCleanRestartCostsReadsOnly(t *testing.T) {
	src := newSource(120)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")
	e.redis.StopSaving()
	e.redis.Relaunch()
	e.emu.ResetStats()
	var l logs
	res := e.run(e.newEngine(), "itemsBackfill", l.logger()) // a fresh executor
	total, routes := e.calls()
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 2 || total != q {
		t.Fatalf("after a clean restart: %d calls %v; want the check's 2 queries and nothing else", total, routes)
	}
	if res.Counters["unchanged"] != 120 {
		t.Fatalf("counters %v, want 120 unchanged", res.Counters)
	}
	if l.count(`120 rows, 0 missing from Redis and restored`) != 1 || l.count("sweeps nothing") != 0 {
		t.Fatalf("log:\n%s", l.all())
	}
}

// The failover case: a replica promoted while it lagged behind the master
// lacks the master's last entries. Two executors meet the new master: one
// checks the index, the other waits for it.
func TestIndexCheckedAfterLaggingReplicaPromoted(t *testing.T) {
	src := newSource(100)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	replica := redistest.StartConfig(t, redistest.Config{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(e.redis.Port())}})
	e.cycle("itemsBackfill")
	waitReplicated(t, e)
	// The replica stops following here: what the master does next is the
	// lag it never received.
	if err := replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	for i := range 30 {
		src.items[fmt.Sprintf("late%02d", i)] = item{Body: "late"}
	}
	src.mu.Unlock()
	if res := e.cycle("itemsBackfill"); res.Counters["created"] != 30 {
		t.Fatalf("backfill on the old master: %v, want 30 created", res.Counters)
	}
	e.redis.Stop()

	e.rdb = rdb.New(replica.Client())
	addDelta(src, "x", 0)
	e.emu.ResetStats()
	var l logs
	errs := make(chan error, 2)
	for _, s := range []string{"itemsBackfill", "itemsDelta"} {
		eng := e.engineWith(func(c *engine.Config) { c.Redis = e.rdb })
		go func() {
			_, err := eng.RunCycle(ctx, s, s+"-after-failover", l.logger())
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_, routes := e.calls()
	if routes["POST /v1/pages"] != 0 {
		t.Fatalf("after the failover: %v; want no page created", routes)
	}
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 2 {
		t.Errorf("%d queries, want 2: one check of 130 rows", q)
	}
	if l.count("130 rows, 30 missing from Redis and restored") != 1 {
		t.Fatalf("want one executor to check the index and restore 30 entries; log:\n%s", l.all())
	}
	if n := len(e.rows("items")); n != 130 {
		t.Fatalf("%d rows, want 130", n)
	}
}

// waitReplicated waits until every replica of e's Redis has its writes.
func waitReplicated(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := e.redis.Client().Do(context.Background(), "WAIT", 1, 1000).Int()
		if err == nil && n >= 1 {
			return
		}
	}
	t.Fatal("the replica never caught up with the master")
}

// A body edit lost with Redis's last writes: the stored block ids and
// hashes are older than the page. The next write of the body must not
// trust them (an append would be made twice).
func TestContentAfterRestartFromOldSnapshot(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	props := builder.Properties{"Body": builder.RichText("p")}
	v1 := manyBlocks(6, "v1")
	e.step(src, synq.Upsert("a", props).Content(v1))
	v1b := strings.Replace(v1, "Paragraph 2 v1", "Paragraph 2 v1b", 1)
	e.step(src, synq.Upsert("a", props).Content(v1b)) // the block ids are stored now
	if err := e.redis.Client().Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	v2 := v1b + "One more.\n"
	if _, routes := e.step(src, synq.Upsert("a", props).Content(v2)); total(routes) != 1 {
		t.Fatalf("the append before the crash: %v, want one call", routes)
	}
	e.redis.Crash()
	e.redis.Relaunch()
	var l logs
	src.mu.Lock()
	src.delta = []synq.Change{synq.Upsert("a", props).Content(v2)}
	src.mu.Unlock()
	e.run(e.eng, "itemsDelta", l.logger())
	e.sameBody("items", "a", v2)
	if l.count("1 row bodies to read again") != 1 {
		t.Fatalf("log:\n%s", l.all())
	}
	// Known again: the next edit is one call.
	v3 := strings.Replace(v2, "Paragraph 4 v1", "Paragraph 4 v3", 1)
	if _, routes := e.step(src, synq.Upsert("a", props).Content(v3)); total(routes) != 1 {
		t.Fatalf("an edit after the check: %v", routes)
	}
	e.sameBody("items", "a", v3)
}
