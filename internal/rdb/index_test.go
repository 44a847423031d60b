package rdb_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func pageID(i int) string { return fmt.Sprintf("1a2b3c4d-0000-4000-8000-%012d", i) }

func TestIndexEntriesRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	entries := map[string]rdb.IndexEntry{
		"uuid-hex":    {PageID: pageID(1), Hash: "0123456789abcdef", Upstream: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()},
		"ms":          {PageID: pageID(2), Hash: "fedcba9876543210", Upstream: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixNano()},
		"us":          {PageID: pageID(3), Upstream: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC).UnixNano()},
		"ns":          {PageID: pageID(4), Upstream: time.Date(2262, 1, 2, 3, 4, 5, 7, time.UTC).UnixNano()},
		"before-1970": {PageID: pageID(5), Upstream: time.Date(1901, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()},
		"odd":         {PageID: "not-a-uuid", Hash: "not hex either"},
		"upper-uuid":  {PageID: "1A2B3C4D-0000-4000-8000-000000000009", Hash: "ABCDEF0123456789"},
		"no hash":     {PageID: pageID(6)},
		"":            {PageID: pageID(7), Hash: "0123456789abcdef"},
	}
	before := time.Now()
	for k, e := range entries {
		e.Written = 42 // ignored: the server stamps the time
		if err := r.IndexSet(ctx, "db", k, e); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{"missing"}
	for k := range entries {
		keys = append(keys, k)
	}
	// No generation marker yet: the lookup says so and returns nothing.
	got, err := r.IndexLookup(ctx, "db", keys)
	if err != nil || got.Gen != "" || got.Entries != nil {
		t.Fatalf("lookup before IndexComplete = %+v, %v; want no generation", got, err)
	}
	gen, err := r.IndexComplete(ctx, "db", "tok", 0)
	if err != nil || gen == "" {
		t.Fatal(gen, err)
	}
	if d := time.Since(rdb.GenTime(gen)); d < 0 || d > time.Minute {
		t.Fatalf("generation %s does not start with the server time", gen)
	}
	got, err = r.IndexLookup(ctx, "db", keys)
	if err != nil || got.Gen != gen {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	if len(got.Entries) != len(entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(entries))
	}
	for k, want := range entries {
		e := got.Entries[k]
		if d := time.Unix(0, e.Written).Sub(before); d < -2*time.Second || d > time.Minute || e.Written%int64(time.Millisecond) != 0 {
			t.Errorf("%q: written %v, want the server's time in ms (test began %v)", k, time.Unix(0, e.Written), before)
		}
		e.Written = 0
		if e != want {
			t.Errorf("%q: got %+v, want %+v", k, e, want)
		}
	}
	if n, _ := r.IndexLen(ctx, "db"); n != int64(len(entries)) {
		t.Fatalf("IndexLen = %d", n)
	}
	// Overwriting a key does not count it twice; deleting does uncount it.
	if err := r.IndexSet(ctx, "db", "odd", rdb.IndexEntry{PageID: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := r.IndexDel(ctx, "db", "odd", "missing"); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.IndexLen(ctx, "db"); n != int64(len(entries)-1) {
		t.Fatalf("IndexLen after delete = %d", n)
	}
}

// TestIndexBucketsStayPackedAndScanSeesEachKeyOnce grows an index to 6000
// keys while scanning it: buckets split, every key stays readable, each
// bucket stays a listpack, and a scan reports every key once.
func TestIndexBucketsStayPackedAndScanSeesEachKeyOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	add := func(from, to int) {
		m := map[string]rdb.IndexEntry{}
		for i := from; i < to; i++ {
			m["key-"+strconv.Itoa(i)] = rdb.IndexEntry{PageID: pageID(i), Hash: "0123456789abcdef"}
		}
		if n, err := r.IndexAddMissing(ctx, "db", m); err != nil || n != to-from {
			t.Fatalf("added %d, %v", n, err)
		}
	}
	add(0, 3000)
	// Scan while another writer doubles the index.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 3000; i < 6000; i++ {
			if err := r.IndexSet(ctx, "db", "key-"+strconv.Itoa(i), rdb.IndexEntry{PageID: pageID(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]int{}
	err := r.IndexScan(ctx, "db", func(k string, e rdb.IndexEntry) error {
		seen[k]++
		if i, _ := strconv.Atoi(k[4:]); e.PageID != pageID(i) {
			t.Errorf("%s: page %s", k, e.PageID)
		}
		return nil
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if seen["key-"+strconv.Itoa(i)] != 1 {
			t.Fatalf("key-%d seen %d times by a scan during splits", i, seen["key-"+strconv.Itoa(i)])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", k, n)
		}
	}
	keys := make([]string, 6000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	got, err := r.IndexGet(ctx, "db", keys)
	if err != nil || len(got) != 6000 {
		t.Fatalf("IndexGet found %d of 6000: %v", len(got), err)
	}
	// Existing entries are not overwritten by IndexAddMissing.
	if n, _ := r.IndexAddMissing(ctx, "db", map[string]rdb.IndexEntry{"key-1": {PageID: pageID(99)}}); n != 0 {
		t.Fatal("IndexAddMissing overwrote an entry")
	}
	st, err := r.IndexInfo(ctx, "db")
	if err != nil || st.Rows != 6000 {
		t.Fatalf("info = %+v, %v", st, err)
	}
	if st.Buckets < 6000/64 || st.Buckets > 6000/24 {
		t.Fatalf("%d buckets for 6000 keys", st.Buckets)
	}
	for b := range st.Buckets {
		key := rdb.IndexMetaKey("db") + ":" + strconv.Itoa(b)
		enc, err := c.ObjectEncoding(ctx, key).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if enc != "listpack" {
			n, _ := c.HLen(ctx, key).Result()
			t.Fatalf("bucket %d is %q with %d fields, want listpack", b, enc, n)
		}
	}
	if err := r.ResetDatabase(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.DBSize(ctx).Result(); n != 0 {
		ks, _ := c.Keys(ctx, "*").Result()
		t.Fatalf("ResetDatabase left %d keys: %v", n, ks[:min(5, len(ks))])
	}
}

func TestLegacyIndexIsReadWithHashesCut(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	c.HSet(ctx, rdb.LegacyIndexKey("db"), "a", `{"p":"`+pageID(1)+`","h":"0123456789abcdef0123456789abcdef","u":5,"w":7}`)
	got, err := r.IndexLookup(ctx, "db", []string{"a"})
	if err != nil || !got.Legacy {
		t.Fatalf("lookup with an old index = %+v, %v; want Legacy", got, err)
	}
	var e rdb.IndexEntry
	if err := r.LegacyIndexScan(ctx, "db", func(k string, en rdb.IndexEntry) error { e = en; return nil }); err != nil {
		t.Fatal(err)
	}
	if e.Hash != "0123456789abcdef" || e.PageID != pageID(1) || e.Upstream != 5 {
		t.Fatalf("old entry read as %+v", e)
	}
}

func TestBeginCycleUsesTheServerClock(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	start, err := r.BeginCycle(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	now, _ := c.Time(ctx).Result()
	if d := now.Sub(start); d < 0 || d > 5*time.Second {
		t.Fatalf("cycle start %v, server time %v", start, now)
	}
	again, _ := r.BeginCycle(ctx, "s")
	if !again.Equal(start) {
		t.Fatalf("a cycle under way restarted: %v then %v", start, again)
	}
	st, _ := r.GetSync(ctx, "s")
	if !st.CycleStarted.Equal(start) {
		t.Fatalf("GetSync cycle start %v, want %v", st.CycleStarted, start)
	}
}

func TestWaitersFileReplaceRemoveExpire(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	w := rdb.Waiter{Database: "tasks", Key: "t1", Property: "Project", Hash: "0123456789abcdef", Related: []string{"p1", "p2", "p3"}}
	if err := r.AddWaiter(ctx, "projects", w, []string{"p2", "p3"}); err != nil {
		t.Fatal(err)
	}
	w2 := rdb.Waiter{Database: "tasks", Key: "t\x00odd", Property: "Project", Hash: "raw hash", Related: []string{"p2"}}
	if err := r.AddWaiter(ctx, "projects", w2, []string{"p2"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Waiters(ctx, "projects", []string{"p1", "p2", "p3"})
	if err != nil || len(got) != 3 {
		t.Fatalf("waiters = %+v, %v", got, err)
	}
	byTarget := map[string][]rdb.Waiter{}
	for _, g := range got {
		byTarget[g.Target] = append(byTarget[g.Target], g)
		if time.Since(g.Since) > time.Minute || time.Since(g.Since) < -time.Minute {
			t.Fatalf("since %v", g.Since)
		}
	}
	if len(byTarget["p2"]) != 2 || len(byTarget["p3"]) != 1 {
		t.Fatalf("by target = %+v", byTarget)
	}
	g := byTarget["p3"][0]
	if g.Database != "tasks" || g.Key != "t1" || g.Property != "Project" || g.Hash != w.Hash || len(g.Related) != 3 {
		t.Fatalf("decoded %+v", g)
	}
	for _, g := range byTarget["p2"] {
		if g.Key == "t\x00odd" && (g.Hash != "raw hash" || len(g.Related) != 1) {
			t.Fatalf("decoded %+v", g)
		}
	}
	since := g.Since
	time.Sleep(20 * time.Millisecond)
	// The row is rewritten (new hash) with p3 still missing: one record,
	// the new one, keeping the time it began waiting.
	w.Hash = "fedcba9876543210"
	if err := r.AddWaiter(ctx, "projects", w, []string{"p3"}); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Waiters(ctx, "projects", []string{"p3"})
	if len(got) != 1 || got[0].Hash != w.Hash || !got[0].Since.Equal(since) {
		t.Fatalf("after rewrite = %+v (since %v)", got, since)
	}
	// Removing the old record read earlier changes nothing; the current one goes.
	if err := r.RemoveWaiters(ctx, "projects", []rdb.Waiter{g}); err != nil {
		t.Fatal(err)
	}
	if got, _ = r.Waiters(ctx, "projects", []string{"p3"}); len(got) != 1 {
		t.Fatalf("a replaced record was removed by its old copy: %+v", got)
	}
	if err := r.RemoveWaiters(ctx, "projects", got); err != nil {
		t.Fatal(err)
	}
	if got, _ = r.Waiters(ctx, "projects", []string{"p3"}); len(got) != 0 {
		t.Fatalf("after remove = %+v", got)
	}
	if n, _ := r.WaitLen(ctx, "projects"); n != 1 { // p2
		t.Fatalf("WaitLen = %d, want 1", n)
	}
	// Nothing is old enough for a one-hour TTL; everything for 1 ms.
	if d, n, err := r.ExpireWaiters(ctx, "projects", time.Hour, 64, 10); err != nil || n != 0 || len(d) != 0 {
		t.Fatalf("expire(1h) = %v %d %v", d, n, err)
	}
	time.Sleep(5 * time.Millisecond)
	d, n, err := r.ExpireWaiters(ctx, "projects", time.Millisecond, 64, 1)
	if err != nil || n != 2 || len(d) != 1 {
		t.Fatalf("expire(1ms) = %+v %d %v; want 2 dropped, 1 returned", d, n, err)
	}
	if n, _ := r.WaitLen(ctx, "projects"); n != 0 {
		t.Fatalf("WaitLen after expiry = %d", n)
	}
}

func TestSeenKeysArePackedAndDroppedAtCycleEnd(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	// A cycle begun by an older version left a plain set.
	c.SAdd(ctx, rdb.SeenKey("s"), rdb.SeenMember("db", "old"))
	for page := range 5 {
		var seen []string
		for i := range 100 {
			seen = append(seen, rdb.SeenMember("db", fmt.Sprintf("k%d-%d", page, i)))
		}
		if ok, err := r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r", Page: page, Mode: rdb.StateKeep, Seen: seen, HasMore: true}); err != nil || !ok.Committed {
			t.Fatal(ok, err)
		}
	}
	if since, err := r.SeenSince(ctx, "s"); err != nil || time.Since(since) > time.Minute || time.Since(since) < -time.Minute {
		t.Fatalf("SeenSince = %v, %v; want the first commit's server time", since, err)
	}
	got, err := r.Seen(ctx, "s")
	if err != nil || len(got) != 501 {
		t.Fatalf("%d seen, %v; want 501", len(got), err)
	}
	if _, ok := got[rdb.SeenMember("db", "k3-42")]; !ok {
		t.Fatal("a seen key is missing")
	}
	if _, ok := got[rdb.SeenMember("db", "old")]; !ok {
		t.Fatal("the old set is not read")
	}
	ks, _ := c.Keys(ctx, rdb.SeenMetaKey("s")+":*").Result()
	for _, k := range ks {
		if enc, _ := c.ObjectEncoding(ctx, k).Result(); enc != "listpack" {
			t.Fatalf("%s is %s", k, enc)
		}
	}
	if err := r.ResetState(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Seen(ctx, "s"); len(got) != 0 {
		t.Fatalf("%d seen after a state reset", len(got))
	}
	if since, _ := r.SeenSince(ctx, "s"); !since.IsZero() {
		t.Fatalf("SeenSince after a reset = %v", since)
	}
	if _, err := r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r", Page: 5, Mode: rdb.StateReset, Seen: []string{"x"}, EndCycle: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Keys(ctx, "*seen*").Result(); len(n) != 0 {
		t.Fatalf("keys left after the cycle ended: %v", n)
	}
}

// An index marked complete in one history of the server (its replication
// id) is reported as HistoryChanged after a restart, until it is marked
// complete again; an index from before histories were recorded adopts the
// current one.
func TestIndexHistoryChangesWithTheServer(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	if err := r.IndexSet(ctx, "db", "k", rdb.IndexEntry{PageID: pageID(1)}); err != nil {
		t.Fatal(err)
	}
	lookup := func() rdb.IndexLookup {
		t.Helper()
		res, err := r.IndexLookup(ctx, "db", []string{"k"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := lookup(); res.Complete() || res.HistoryChanged {
		t.Fatalf("index without a marker: %+v, want incomplete and no history change", res)
	}
	gen, err := r.IndexComplete(ctx, "db", rdb.GenNew, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res := lookup(); !res.Complete() || res.Gen != gen || res.Entries["k"].PageID != pageID(1) {
		t.Fatalf("after IndexComplete: %+v", res)
	}

	srv.StopSaving()
	srv.Relaunch()
	res := lookup()
	if res.Complete() || !res.HistoryChanged || res.Entries != nil {
		t.Fatalf("after a restart: %+v, want HistoryChanged and no entries", res)
	}
	if again, err := r.IndexComplete(ctx, "db", rdb.GenVerified, 1); err != nil || again == gen || rdb.GenKind(again) != rdb.GenVerified {
		t.Fatalf("IndexComplete after the restart = %q, %v; want a new %q marker", again, err, rdb.GenVerified)
	}
	if res := lookup(); !res.Complete() || res.Entries["k"].PageID != pageID(1) {
		t.Fatalf("after checking: %+v", res)
	}

	// A marker written before synq recorded histories.
	if err := c.HDel(ctx, rdb.IndexMetaKey("db"), "hist").Err(); err != nil {
		t.Fatal(err)
	}
	if res := lookup(); !res.Complete() {
		t.Fatalf("marker without a history: %+v, want it trusted", res)
	}
	if h, err := c.HGet(ctx, rdb.IndexMetaKey("db"), "hist").Result(); err != nil || len(h) != 40 {
		t.Fatalf("history adopted = %q, %v; want the server's 40-digit replication id", h, err)
	}
}
