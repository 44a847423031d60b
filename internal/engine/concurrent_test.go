package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/holdproxy"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

// slowNotion makes the emulator answer like api.notion.com (a few
// milliseconds here, enough for writes of one page to overlap).
var slowNotion = envOptions{
	emulator: emulator.Config{Latency: emulator.Latency{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}},
	engine:   func(c *engine.Config) { c.WriteConcurrency = 8 },
}

// A page's rows are written up to WriteConcurrency at once, and what
// writing them in order guaranteed still holds: a key repeated in the page
// ends with its last value (each of its rows applied in page order), the
// counters count every row once, deletes and unchanged rows included.
func TestConcurrentWritesKeepPageOrderPerKey(t *testing.T) {
	src := newSource(0)
	e := newEnvWith(t, itemsWorker(src), slowNotion)
	provision(t, e)
	// 10 keys written 4 times each, interleaved: 10 creates, 30 updates.
	var changes []synq.Change
	for round := 1; round <= 4; round++ {
		for k := range 10 {
			changes = append(changes, synq.Upsert(key(k), builder.Properties{"Body": builder.RichText(fmt.Sprintf("v%d", round)), "N": builder.Number(float64(round))}))
		}
	}
	// 20 more keys once each.
	for k := 10; k < 30; k++ {
		changes = append(changes, synq.Upsert(key(k), builder.Properties{"Body": builder.RichText("once")}))
	}
	src.delta = changes
	e.emu.ResetStats()
	res := e.cycle("itemsDelta")
	if res.Counters["created"] != 30 || res.Counters["updated"] != 30 {
		t.Fatalf("counters %v, want 30 created and 30 updated", res.Counters)
	}
	st := e.emu.Stats()
	if st.ByRoute["POST /v1/pages"] != 30 || st.ByRoute["PATCH /v1/pages/{id}"] != 30 {
		t.Fatalf("calls %v, want 30 creates and 30 updates", st.ByRoute)
	}
	if st.MaxInFlight < 2 {
		t.Errorf("at most %d Notion requests in flight: the page's rows were not written concurrently", st.MaxInFlight)
	}
	rows := e.rows("items")
	for k := range 10 {
		if got := rows[key(k)]["Body"]; got != "v4" {
			t.Errorf("%s: Body %q, want the page's last value v4", key(k), got)
		}
	}
	if len(rows) != 30 {
		t.Fatalf("%d rows, want 30", len(rows))
	}

	// The next page: a repeated key deleted then upserted again (the
	// upsert wins), one deleted, one unchanged, one changed then changed
	// back (two updates), the rest unchanged.
	var next []synq.Change
	next = append(next, synq.Delete(key(0)), synq.Upsert(key(0), builder.Properties{"Body": builder.RichText("back")}))
	next = append(next, synq.Delete(key(1)))
	next = append(next, synq.Upsert(key(2), builder.Properties{"Body": builder.RichText("v4"), "N": builder.Number(4)}))
	next = append(next, synq.Upsert(key(3), builder.Properties{"Body": builder.RichText("x")}), synq.Upsert(key(3), builder.Properties{"Body": builder.RichText("v4"), "N": builder.Number(4)}))
	for k := 10; k < 30; k++ {
		next = append(next, synq.Upsert(key(k), builder.Properties{"Body": builder.RichText("once")}))
	}
	src.delta = next
	res = e.cycle("itemsDelta")
	want := engine.Counters{"trashed": 2, "created": 1, "unchanged": 21, "updated": 2}
	for k, v := range want {
		if res.Counters[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, res.Counters[k], v, res.Counters)
		}
	}
	rows = e.rows("items")
	if _, ok := rows[key(1)]; ok || rows[key(0)]["Body"] != "back" || rows[key(3)]["Body"] != "v4" || len(rows) != 29 {
		t.Fatalf("after the second page: k0 %v, k1 present %v, k3 %v, %d rows", rows[key(0)], rows[key(1)] != nil, rows[key(3)], len(rows))
	}
}

// Rows of one page relating to each other, written concurrently: every
// relation ends complete, with nothing left waiting, and a row that
// others relate to is written before them (no relation needs a second
// write when its related row only relates to nothing).
func TestConcurrentWritesResolveRelationsWithinAPage(t *testing.T) {
	f := &shotFeed{}
	w := synq.NewWorker(synq.WorkerConfig{Name: "tree"})
	nodes := w.Database("nodes", synq.DatabaseConfig{InitialTitle: "Nodes", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":    schema.Title(),
		"Parent": schema.Relation("nodes", schema.RelationConfig{}),
	}})
	synq.AddSync(w, "nodesSync", synq.SyncConfig[feedState]{Database: nodes, Mode: synq.Incremental, Execute: f.execute})
	e := newEnvWith(t, w, slowNotion)
	if err := e.eng.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 30 leaves after their 3 roots in the page, 10 before them; the
	// roots relate to nothing.
	var changes []synq.Change
	for i := range 10 {
		changes = append(changes, synq.Upsert(fmt.Sprintf("early%d", i), builder.Properties{"Parent": builder.Relation(fmt.Sprintf("root%d", i%3))}))
	}
	for r := range 3 {
		changes = append(changes, synq.Upsert(fmt.Sprintf("root%d", r), nil))
	}
	for i := range 30 {
		changes = append(changes, synq.Upsert(fmt.Sprintf("leaf%d", i), builder.Properties{"Parent": builder.Relation(fmt.Sprintf("root%d", i%3))}))
	}
	f.set(changes...)
	e.emu.ResetStats()
	res := e.cycle("nodesSync")
	if res.Counters["created"] != 43 || res.Counters["unresolved"] != 0 {
		t.Fatalf("counters %v, want 43 created and nothing unresolved", res.Counters)
	}
	if st := e.emu.Stats(); st.ByRoute["PATCH /v1/pages/{id}"] != 0 {
		t.Errorf("%d updates completing relations: the related rows were not written first", st.ByRoute["PATCH /v1/pages/{id}"])
	}
	if n, _ := e.rdb.WaitLen(context.Background(), "nodes"); n != 0 {
		t.Errorf("%d keys still waited for", n)
	}
	checkParents(t, e, 3, 40)

	// A chain within a page (c3 → c2 → c1 → c0): rows related to that
	// relate to others themselves are written at once, and their
	// relations are completed after the page's rows.
	changes = []synq.Change{synq.Upsert("c0", nil)}
	for i := 1; i <= 3; i++ {
		changes = append(changes, synq.Upsert(fmt.Sprintf("c%d", i), builder.Properties{"Parent": builder.Relation(fmt.Sprintf("c%d", i-1))}))
	}
	f.set(changes...)
	res = e.cycle("nodesSync")
	if res.Counters["created"] != 4 || res.Counters["unresolved"] != 0 {
		t.Fatalf("chain: counters %v, want 4 created and nothing unresolved", res.Counters)
	}
	ids, parent := parents(t, e)
	for i := 1; i <= 3; i++ {
		if got, want := parent[fmt.Sprintf("c%d", i)], ids[fmt.Sprintf("c%d", i-1)]; !sameID(got, want) {
			t.Errorf("c%d.Parent = %q, want c%d's page %s", i, got, i-1, want)
		}
	}
}

// parents returns each node's key → page id, and key → Parent's first page id.
func parents(t *testing.T, e *env) (ids, parent map[string]string) {
	t.Helper()
	db, _, _ := e.rdb.GetDatabase(context.Background(), "nodes")
	ids, parent = map[string]string{}, map[string]string{}
	err := e.notion.QueryAll(context.Background(), db.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		k := p.Properties["Key"].Text()
		ids[k] = p.ID
		if rel := p.Properties["Parent"].Relation; len(rel) > 0 {
			parent[k] = rel[0].ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, parent
}

// checkParents checks each early/leaf node's Parent names its root's page.
func checkParents(t *testing.T, e *env, roots, nodes int) {
	t.Helper()
	ids, parent := parents(t, e)
	n := 0
	for k := range ids {
		if !strings.HasPrefix(k, "early") && !strings.HasPrefix(k, "leaf") {
			continue
		}
		n++
		var i int
		if _, err := fmt.Sscanf(strings.TrimLeft(k, "aelryf"), "%d", &i); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		root := ids[fmt.Sprintf("root%d", i%roots)]
		if !sameID(parent[k], root) {
			t.Errorf("%s.Parent = %q, want root%d's page %s", k, parent[k], i%roots, root)
		}
	}
	if n != nodes {
		t.Errorf("%d nodes with a parent, want %d", n, nodes)
	}
}

// failProxy forwards to the emulator and answers the nth create with a
// permanent error, with other writes of the page in flight.
type failProxy struct {
	target  string
	nth     int64
	creates atomic.Int64
	srv     *httptest.Server
}

func (p *failProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPost && r.URL.Path == "/v1/pages" && p.creates.Add(1) == p.nth {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"object":"error","status":400,"code":"validation_error","message":"injected failure"}`)
		return
	}
	holdproxy.Forward(r.Context(), w, r, p.target, body)
}

// A write failing mid-page cancels the page's other writes in flight and
// fails the page; its retry writes what is missing, and every row exists
// once, written by the retry or before.
func TestConcurrentWritesFailureMidPageThenRetry(t *testing.T) {
	src := newSource(0)
	e := newEnvWith(t, itemsWorker(src), slowNotion)
	p := &failProxy{target: e.emu.URL(), nth: 20}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	nc, err := notion.New(notion.Config{BaseURL: p.srv.URL, Token: notiontest.Token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	eng := e.engineWith(func(c *engine.Config) { c.Notion = nc; c.SettleDelay = 20 * time.Millisecond })
	if err := eng.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	var changes []synq.Change
	for k := range 60 {
		changes = append(changes, synq.Upsert(key(k), builder.Properties{"Body": builder.RichText("b" + key(k))}))
	}
	src.delta = changes
	ctx := context.Background()
	_, err = eng.RunPage(ctx, engine.PageRequest{Sync: "itemsDelta", Run: "fail-1", Page: 0, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("the page with a failing write: %v, want the injected failure", err)
	}
	written := e.emu.Stats().ByRoute["POST /v1/pages"]
	if written >= 60 {
		t.Errorf("%d creates reached Notion before the page failed: the failure did not stop the page", written)
	}
	// The retry: the same page (Execute returns the same changes).
	src.delta = changes
	res, err := eng.RunPage(ctx, engine.PageRequest{Sync: "itemsDelta", Run: "fail-1", Page: 0, Logger: quiet})
	if err != nil {
		t.Fatalf("the retry: %v", err)
	}
	rows := e.rows("items") // fails on a key with two rows
	if len(rows) != 60 {
		t.Fatalf("%d rows after the retry, want 60", len(rows))
	}
	all := 0
	ids, _, _ := e.rdb.GetDatabase(ctx, "items")
	if err := e.notion.QueryAll(ctx, ids.DataSourceID, notion.QueryRequest{}, func(*notion.Page) error { all++; return nil }); err != nil {
		t.Fatal(err)
	}
	if all != 60 {
		t.Fatalf("%d pages in Notion for 60 keys", all)
	}
	for k := range 60 {
		if got := rows[key(k)]["Body"]; got != "b"+key(k) {
			t.Errorf("%s: Body %q", key(k), got)
		}
	}
	if got := res.Counters["created"] + res.Counters["unchanged"]; got != 60 {
		t.Errorf("retry counters %v: want the 60 rows created or found unchanged", res.Counters)
	}
	t.Logf("first attempt: %d creates reached Notion; retry counters %v", written, res.Counters)
}

// WriteConcurrency 1 writes a page's rows one after another.
func TestWriteConcurrencyOneIsSequential(t *testing.T) {
	src := newSource(40)
	o := slowNotion
	o.engine = func(c *engine.Config) { c.WriteConcurrency = 1 }
	e := newEnvWith(t, itemsWorker(src), o)
	provision(t, e)
	e.emu.ResetStats()
	e.cycle("itemsBackfill")
	if st := e.emu.Stats(); st.MaxInFlight != 1 {
		t.Errorf("%d requests in flight at once with WriteConcurrency 1", st.MaxInFlight)
	}
}
