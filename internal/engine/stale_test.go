package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/schema"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func up(k, body string, when time.Time) synq.Change {
	c := synq.Upsert(k, builder.Properties{"Body": builder.RichText(body)})
	if !when.IsZero() {
		c = c.UpdatedAt(when)
	}
	return c
}

func del(k string, when time.Time) synq.Change {
	c := synq.Delete(k)
	if !when.IsZero() {
		c = c.UpdatedAt(when)
	}
	return c
}

// The stale rule, one interleaving per case: each step is one page of an
// incremental sync; the row ends with the newest content whatever the
// order, and an older change is counted skipped.
func TestStaleRuleInterleavings(t *testing.T) {
	none := time.Time{}
	cases := []struct {
		name  string
		steps [][]synq.Change
		body  string // "" means the row is gone
		last  map[string]int64
		// upstream is the newest upstream time the index keeps (0: none).
		upstream time.Time
	}{
		{"identical content at a newer time, then an older change",
			[][]synq.Change{{up("a", "X", at(0))}, {up("a", "X", at(3))}, {up("a", "Y", at(2))}},
			"X", map[string]int64{"skipped": 1}, at(3)},
		{"older change", [][]synq.Change{{up("a", "X", at(1))}, {up("a", "Y", at(0))}}, "X", map[string]int64{"skipped": 1}, at(1)},
		{"older identical content", [][]synq.Change{{up("a", "X", at(5))}, {up("a", "X", at(4))}}, "X", map[string]int64{"skipped": 1}, at(5)},
		{"same time, other content", [][]synq.Change{{up("a", "X", at(1))}, {up("a", "Y", at(1))}}, "Y", map[string]int64{"updated": 1}, at(1)},
		{"newer change", [][]synq.Change{{up("a", "X", at(1))}, {up("a", "Y", at(2))}}, "Y", map[string]int64{"updated": 1}, at(2)},
		{"no time after a time", [][]synq.Change{{up("a", "X", at(1))}, {up("a", "Y", none)}}, "Y", map[string]int64{"updated": 1}, at(1)},
		{"a time after no time", [][]synq.Change{{up("a", "X", none)}, {up("a", "Y", at(1))}}, "Y", map[string]int64{"updated": 1}, at(1)},
		{"one page, newer then older", [][]synq.Change{{up("a", "X", at(2)), up("a", "Y", at(1))}}, "X", map[string]int64{"created": 1, "skipped": 1}, at(2)},
		{"one page, older then newer", [][]synq.Change{{up("a", "X", at(1)), up("a", "Y", at(2))}}, "Y", map[string]int64{"created": 1, "updated": 1}, at(2)},
		{"one page, identical newer then older", [][]synq.Change{{up("a", "X", at(1)), up("a", "X", at(3)), up("a", "Y", at(2))}},
			"X", map[string]int64{"created": 1, "unchanged": 1, "skipped": 1}, at(3)},
		{"a delete older than the row", [][]synq.Change{{up("a", "X", at(3))}, {del("a", at(2))}}, "X", map[string]int64{"skipped": 1}, at(3)},
		{"a delete newer than the row", [][]synq.Change{{up("a", "X", at(1))}, {del("a", at(2))}}, "", map[string]int64{"trashed": 1}, time.Time{}},
		{"a delete without time", [][]synq.Change{{up("a", "X", at(1))}, {del("a", none)}}, "", map[string]int64{"trashed": 1}, time.Time{}},
		{"an upsert older than a delete", [][]synq.Change{{up("a", "X", at(1))}, {del("a", at(3))}, {up("a", "Y", at(2))}},
			"", map[string]int64{"skipped": 1}, time.Time{}},
		{"an upsert older than a delete without time", [][]synq.Change{{up("a", "X", at(2))}, {del("a", none)}, {up("a", "Y", at(1))}},
			"", map[string]int64{"skipped": 1}, time.Time{}},
		{"the deleted upsert replayed", [][]synq.Change{{up("a", "X", at(2))}, {del("a", none)}, {up("a", "X", at(2))}},
			"", map[string]int64{"skipped": 1}, time.Time{}},
		{"an upsert newer than a delete", [][]synq.Change{{up("a", "X", at(1))}, {del("a", at(2))}, {up("a", "Y", at(3))}},
			"Y", map[string]int64{"created": 1}, at(3)},
		{"one page, delete then older upsert", [][]synq.Change{{up("a", "X", at(1))}, {del("a", at(3)), up("a", "Y", at(2))}},
			"", map[string]int64{"trashed": 1, "skipped": 1}, time.Time{}},
		{"an upsert without time after a delete", [][]synq.Change{{up("a", "X", at(1))}, {del("a", at(2))}, {up("a", "Y", none)}},
			"Y", map[string]int64{"created": 1}, time.Time{}},
		{"identical content at newer times, twice, then older", [][]synq.Change{{up("a", "X", at(0))}, {up("a", "X", at(2))}, {up("a", "X", at(4))}, {up("a", "Y", at(3))}},
			"X", map[string]int64{"skipped": 1}, at(4)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(0)
			e := newEnv(t, itemsWorker(src))
			var res map[string]int64
			for _, step := range tc.steps {
				src.delta = step
				res = e.cycle("itemsDelta").Counters
			}
			for k, want := range tc.last {
				if res[k] != want {
					t.Errorf("last page counters = %v, want %s=%d", res, k, want)
				}
			}
			rows := e.rows("items")
			if got := rows["a"]["Body"]; got != tc.body || (tc.body == "" && len(rows) != 0) {
				t.Errorf("row a = %q (%d rows), want %q", got, len(rows), tc.body)
			}
			m, err := e.rdb.IndexGet(context.Background(), "items", []string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			if !tc.upstream.IsZero() {
				want = tc.upstream.UnixNano()
			}
			if m["a"].Upstream != want {
				t.Errorf("index keeps upstream %v, want %v", time.Unix(0, m["a"].Upstream).UTC(), tc.upstream)
			}
		})
	}
}

// waitClaimed waits until the engine has tried and failed to claim key
// while the test holds it: the key's claim is the test's, and the engine
// keeps polling.
func waitBlocked(t *testing.T, e *env, done <-chan error) {
	t.Helper()
	// The engine polls the claim every few tens of milliseconds; give it
	// time to reach the claim and find it held.
	select {
	case err := <-done:
		t.Fatalf("the cycle finished while another writer held the key: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
}

// A writer that loses the race to create a key decides again from the
// winner's entry: an older change is skipped, not written over the
// winner's newer row, and no second page is created.
func TestRacingCreateLoserIsStale(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	ids := provision(t, e)
	// Another writer claims the new key "r" and is creating it.
	c, err := e.rdb.ClaimRow(ctx, "items", "r", "other-writer", time.Minute, true)
	if err != nil || !c.Got {
		t.Fatalf("claim: %+v %v", c, err)
	}
	src.delta = []synq.Change{up("r", "older", at(1))}
	done := make(chan error, 1)
	var res map[string]int64
	go func() {
		r, err := e.tryCycle("itemsDelta")
		res = r.Counters
		done <- err
	}()
	waitBlocked(t, e, done)
	// The other writer's create lands, with a newer upstream time.
	page, err := e.notion.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ids.DataSourceID, Properties: map[string]notion.PropertyValue{
		"ID": notion.TitleValue(notion.Text("r")), "Body": notion.RichTextValue(notion.Text("newer")),
	}})
	if err != nil {
		t.Fatal(err)
	}
	next := rdb.IndexEntry{PageID: page.ID, Hash: "other-content", Upstream: at(2).UnixNano()}
	if cas, err := e.rdb.IndexCAS(ctx, "items", "r", rdb.RowState{}, &next, "other-writer", true); err != nil || !cas.OK {
		t.Fatalf("other writer's commit: %+v %v", cas, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res["skipped"] != 1 || res["created"] != 0 || res["updated"] != 0 {
		t.Errorf("counters = %v, want the older change skipped", res)
	}
	if rows := e.rows("items"); len(rows) != 1 || rows["r"]["Body"] != "newer" {
		t.Errorf("rows = %v, want the winner's newer row only", rows)
	}
	if m, _ := e.rdb.IndexGet(ctx, "items", []string{"r"}); m["r"].Upstream != at(2).UnixNano() {
		t.Errorf("index upstream = %v, want the winner's", time.Unix(0, m["r"].Upstream).UTC())
	}
	// The loser's newer change after that is written over the winner's row.
	src.delta = []synq.Change{up("r", "newest", at(3))}
	if res := e.cycle("itemsDelta").Counters; res["updated"] != 1 {
		t.Errorf("newest change: counters %v", res)
	}
	if rows := e.rows("items"); rows["r"]["Body"] != "newest" {
		t.Errorf("row r = %v", rows["r"])
	}
}

// Unchanged content at a newer time is recorded even while another writer
// holds the key: the newer time waits for the holder, then wins or loses
// on its time.
func TestUnchangedNewerTimeWaitsForTheWriterOfTheKey(t *testing.T) {
	for _, tc := range []struct {
		name      string
		otherAt   int
		wantBody  string
		wantUp    int
		wantCount string
	}{
		{"the holder's change is older", 2, "X", 3, "updated"},
		{"the holder's change is newer", 4, "Y", 4, "skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(0)
			e := newEnv(t, itemsWorker(src))
			ctx := context.Background()
			src.delta = []synq.Change{up("u", "X", at(1))}
			e.cycle("itemsDelta")
			before, _ := e.rdb.IndexGet(ctx, "items", []string{"u"})
			// Another writer claims "u" to write Y.
			c, err := e.rdb.ClaimRow(ctx, "items", "u", "other-writer", time.Minute, true)
			if err != nil || !c.Got {
				t.Fatalf("claim: %+v %v", c, err)
			}
			src.delta = []synq.Change{up("u", "X", at(3))}
			done := make(chan error, 1)
			var res map[string]int64
			go func() {
				r, err := e.tryCycle("itemsDelta")
				res = r.Counters
				done <- err
			}()
			waitBlocked(t, e, done)
			if m, _ := e.rdb.IndexGet(ctx, "items", []string{"u"}); m["u"] != before["u"] {
				t.Fatalf("the index changed while another writer held the key: %+v", m["u"])
			}
			pageID := before["u"].PageID
			if _, err := e.notion.UpdatePage(ctx, pageID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Body": notion.RichTextValue(notion.Text("Y"))}}); err != nil {
				t.Fatal(err)
			}
			next := rdb.IndexEntry{PageID: pageID, Hash: "content-Y", Upstream: at(tc.otherAt).UnixNano()}
			if cas, err := e.rdb.IndexCAS(ctx, "items", "u", c.RowState, &next, "other-writer", true); err != nil || !cas.OK {
				t.Fatalf("other writer's commit: %+v %v", cas, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if res[tc.wantCount] != 1 {
				t.Errorf("counters = %v, want %s=1", res, tc.wantCount)
			}
			if rows := e.rows("items"); rows["u"]["Body"] != tc.wantBody {
				t.Errorf("row u = %q, want %q", rows["u"]["Body"], tc.wantBody)
			}
			if m, _ := e.rdb.IndexGet(ctx, "items", []string{"u"}); m["u"].Upstream != at(tc.wantUp).UnixNano() {
				t.Errorf("index upstream = %v, want %v", time.Unix(0, m["u"].Upstream).UTC(), at(tc.wantUp))
			}
		})
	}
}

func provision(t *testing.T, e *env) rdb.DatabaseIDs {
	t.Helper()
	if err := e.eng.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids, ok, err := e.rdb.GetDatabase(context.Background(), "items")
	if err != nil || !ok {
		t.Fatalf("database not provisioned: %v", err)
	}
	return ids
}

// pagedFeed is an incremental sync's upstream: a list of changes served in
// pages of pageSize.
type pagedFeed struct {
	changes  []synq.Change
	pageSize int
}

type feedState struct {
	Page int `json:"page"`
}

func (f *pagedFeed) execute(_ context.Context, s *feedState) (synq.Result[feedState], error) {
	from := min(s.Page*f.pageSize, len(f.changes))
	to := min(from+f.pageSize, len(f.changes))
	return synq.Result[feedState]{Changes: f.changes[from:to], HasMore: to < len(f.changes), NextState: &feedState{Page: s.Page + 1}}, nil
}

// Two syncs write the same keys at once, each sending several versions
// of every key with shuffled upstream times, from two executors: Notion
// ends with the newest version of every key, and the index with its time.
func TestConcurrentSyncsKeepTheNewestVersion(t *testing.T) {
	const keys, versions = 40, 4
	rng := rand.New(rand.NewPCG(7, 11))
	// Every (key, version) gets a distinct time; the two syncs share them
	// out and each shuffles its own.
	type version struct {
		key  string
		body string
		at   time.Time
	}
	var all []version
	newest := map[string]version{}
	for k := range keys {
		key := fmt.Sprintf("key%02d", k)
		for _, h := range rng.Perm(2 * versions) {
			v := version{key: key, body: fmt.Sprintf("%s@%d", key, h), at: at(h)}
			all = append(all, v)
			if v.at.After(newest[key].at) {
				newest[key] = v
			}
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	a, b := &pagedFeed{pageSize: 10}, &pagedFeed{pageSize: 10}
	for i, v := range all {
		f := a
		if i%2 == 1 {
			f = b
		}
		f.changes = append(f.changes, up(v.key, v.body, v.at))
	}

	w := synq.NewWorker(synq.WorkerConfig{Name: "race"})
	items := w.Database("items", synq.DatabaseConfig{InitialTitle: "Items", PrimaryKey: "ID",
		Schema: schema.Properties{"ID": schema.Title(), "Body": schema.RichText()}})
	synq.AddSync(w, "deltaA", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: a.execute})
	synq.AddSync(w, "deltaB", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: b.execute})
	e := newEnv(t, w)
	provision(t, e)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	counters := make([]map[string]int64, 2)
	for i, s := range []string{"deltaA", "deltaB"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng := e.newEngine() // another executor
			res, err := eng.RunCycle(context.Background(), s, s+"-run", quiet)
			counters[i] = res.Counters
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rows := e.rows("items") // fails on a duplicate key
	if len(rows) != keys {
		t.Fatalf("%d rows, want %d", len(rows), keys)
	}
	ctx := context.Background()
	idx, err := e.rdb.IndexGet(ctx, "items", sortedKeys(newest))
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range newest {
		if got := rows[key]["Body"]; got != v.body {
			t.Errorf("key %s = %q, want the newest version %q", key, got, v.body)
		}
		if idx[key].Upstream != v.at.UnixNano() {
			t.Errorf("key %s: index upstream %v, want %v", key, time.Unix(0, idx[key].Upstream).UTC(), v.at)
		}
	}
	total := map[string]int64{}
	for _, c := range counters {
		for k, n := range c {
			total[k] += n
		}
	}
	if total["created"] != keys || total["created"]+total["updated"]+total["skipped"]+total["unchanged"] != int64(len(all)) {
		t.Errorf("counters %v: want %d creates and every one of the %d changes counted", total, keys, len(all))
	}
	t.Logf("two syncs, %d changes of %d keys: %v", len(all), keys, total)
}
