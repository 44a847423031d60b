package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/schema"
)

const warnUnknownEmails = "no workspace member has these emails; people values leave them out (invite them, or fix the emails)"

// People values list the workspace's users once per executor, not once
// per row, and an unknown email is one warning per run.
func TestPeopleListedOncePerExecutor(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src := newSource(0)
	e := newEnvWith(t, itemsWorker(src), envOptions{engine: func(c *engine.Config) { c.Now = clock }})
	provision(t, e)
	people := func(n int, emails ...string) []synq.Change {
		var out []synq.Change
		for i := range n {
			out = append(out, synq.Upsert(fmt.Sprintf("p%02d", i), builder.Properties{"Owner": builder.People(append([]string{"ada@example.com"}, emails...)...)}))
		}
		return out
	}
	// 20 rows with an unknown email each, in one page: one listing.
	src.delta = people(20, "ghost@example.invalid")
	e.emu.ResetStats()
	logs := &countingHandler{counts: map[string]int{}}
	if _, err := e.eng.RunCycle(context.Background(), "itemsDelta", "people-1", slog.New(logs)); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Stats().ByRoute["GET /v1/users"]; n != 1 {
		t.Errorf("20 rows with an unknown email listed the users %d times, want 1", n)
	}
	if n := logs.counts[warnUnknownEmails]; n != 1 {
		t.Errorf("%d warnings for one unknown email on 20 rows, want 1", n)
	}
	// The same run's next page warns about new emails only; its rows use
	// the cached list.
	src.delta = people(5, "ghost@example.invalid", "other@example.invalid")
	e.emu.ResetStats()
	if _, err := e.eng.RunPage(context.Background(), engine.PageRequest{Sync: "itemsDelta", Run: "people-2", Page: 0, Logger: slog.New(logs)}); err != nil {
		t.Fatal(err)
	}
	src.delta = people(5, "other@example.invalid", "ghost@example.invalid")
	if _, err := e.eng.RunPage(context.Background(), engine.PageRequest{Sync: "itemsDelta", Run: "people-2", Page: 1, Logger: slog.New(logs)}); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Stats().ByRoute["GET /v1/users"]; n != 0 {
		t.Errorf("rows listed the users %d times within the cache's TTL", n)
	}
	if n := logs.counts[warnUnknownEmails]; n != 2 {
		t.Errorf("%d warnings after a second run, want 2 (once per run)", n)
	}
	// After the TTL, one listing again.
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	src.delta = people(3)
	e.emu.ResetStats()
	e.cycle("itemsDelta")
	if n := e.emu.Stats().ByRoute["GET /v1/users"]; n != 1 {
		t.Errorf("after the TTL the users were listed %d times, want 1", n)
	}
	// An unknown email lists again once the cache is older than a minute
	// (a member may have joined), and only once.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	src.delta = people(6, "new@example.invalid")
	e.emu.ResetStats()
	e.cycle("itemsDelta")
	if n := e.emu.Stats().ByRoute["GET /v1/users"]; n != 1 {
		t.Errorf("unknown emails on a 2-minute-old cache listed the users %d times, want 1", n)
	}
}

// Concurrent pages of one executor share one listing.
func TestPeopleListingSharedByConcurrentPages(t *testing.T) {
	w := synq.NewWorker(synq.WorkerConfig{Name: "people"})
	db := w.Database("items", synq.DatabaseConfig{InitialTitle: "Items", PrimaryKey: "ID", Schema: schema.Properties{"ID": schema.Title(), "Owner": schema.People()}})
	for i := range 4 {
		synq.AddSync(w, fmt.Sprintf("s%d", i), synq.SyncConfig[struct{}]{Database: db, Mode: synq.Incremental, Schedule: "manual",
			Execute: func(context.Context, *struct{}) (synq.Result[struct{}], error) {
				return synq.Result[struct{}]{Changes: []synq.Change{synq.Upsert(fmt.Sprintf("k%d", i), builder.Properties{"Owner": builder.People("grace@example.com")})}}, nil
			}})
	}
	e := newEnv(t, w)
	provision(t, e)
	e.emu.ResetStats()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.eng.RunCycle(context.Background(), fmt.Sprintf("s%d", i), "run", quiet); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.emu.Stats().ByRoute["GET /v1/users"]; n != 1 {
		t.Errorf("4 concurrent pages listed the users %d times, want 1", n)
	}
}

// Icon and cover are part of the row's content: set, unchanged at no
// cost, changed, and cleared when a later upsert leaves them out — but an
// icon that a person set in Notion is left alone.
func TestIconAndCover(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	ctx := context.Background()
	page := func(k string) *notion.Page {
		t.Helper()
		ids, _, _ := e.rdb.GetDatabase(ctx, "items")
		list, err := e.notion.QueryDataSource(ctx, ids.DataSourceID, notion.QueryRequest{Filter: notion.TextEquals("ID", notion.TypeTitle, k)})
		if err != nil || len(list.Results) != 1 {
			t.Fatalf("page %s: %v", k, err)
		}
		return &list.Results[0]
	}
	body := builder.Properties{"Body": builder.RichText("b")}
	const cover = "https://example.com/cover.png"
	step := func(c synq.Change, want string) {
		t.Helper()
		src.delta = []synq.Change{c}
		e.emu.ResetStats()
		res := e.cycle("itemsDelta")
		if res.Counters[want] != 1 {
			t.Fatalf("counters %v, want %s", res.Counters, want)
		}
		if want == "unchanged" && e.emu.Stats().Requests != 0 {
			t.Fatalf("an unchanged row made %d calls", e.emu.Stats().Requests)
		}
	}
	step(synq.Upsert("a", body).WithIcon("🚀").Cover(cover), "created")
	if p := page("a"); p.Icon == nil || p.Icon.Emoji != "🚀" || p.Cover == nil || p.Cover.External.URL != cover {
		t.Fatalf("created icon %+v cover %+v", p.Icon, p.Cover)
	}
	step(synq.Upsert("a", body).WithIcon("🚀").Cover(cover), "unchanged")
	step(synq.Upsert("a", body).WithIcon("🚀").Cover("https://example.com/other.png"), "updated")
	if p := page("a"); p.Cover == nil || p.Cover.External.URL != "https://example.com/other.png" {
		t.Fatalf("changed cover %+v", p.Cover)
	}
	step(synq.Upsert("a", body).Cover("https://example.com/other.png"), "updated")
	if p := page("a"); p.Icon != nil || p.Cover == nil {
		t.Fatalf("after removing the icon: icon %+v cover %+v", p.Icon, p.Cover)
	}
	step(synq.Upsert("a", body), "updated")
	if p := page("a"); p.Icon != nil || p.Cover != nil {
		t.Fatalf("after removing the cover: icon %+v cover %+v", p.Icon, p.Cover)
	}

	// A person's icon on a row synq never gave one survives its updates.
	step(synq.Upsert("b", body), "created")
	if _, err := e.notion.UpdatePage(ctx, page("b").ID, notion.UpdatePageRequest{Icon: notion.EmojiIcon("✋")}); err != nil {
		t.Fatal(err)
	}
	step(synq.Upsert("b", builder.Properties{"Body": builder.RichText("changed")}), "updated")
	if p := page("b"); p.Icon == nil || p.Icon.Emoji != "✋" {
		t.Fatalf("a person's icon was cleared: %+v", p.Icon)
	}

	// A cover that is not an http(s) URL is refused before writing.
	src.delta = []synq.Change{synq.Upsert("c", body).Cover("ftp://example.com/x.png")}
	if _, err := e.tryCycle("itemsDelta"); !engine.IsValidation(err) || !strings.Contains(err.Error(), "cover") {
		t.Fatalf("bad cover: %v", err)
	}
}

// A row whose request would be over Notion's 500 KB is refused before
// anything of the page is written, naming sync, key and the largest
// properties.
func TestPayloadLimit(t *testing.T) {
	w := synq.NewWorker(synq.WorkerConfig{Name: "big"})
	var changes []synq.Change
	db := w.Database("docs", synq.DatabaseConfig{InitialTitle: "Docs", PrimaryKey: "ID",
		Schema: schema.Properties{"ID": schema.Title(), "A": schema.RichText(), "B": schema.RichText(), "C": schema.RichText()}})
	synq.AddSync(w, "docsSync", synq.SyncConfig[struct{}]{Database: db, Mode: synq.Incremental, Schedule: "manual",
		Execute: func(context.Context, *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{Changes: changes}, nil
		}})
	e := newEnv(t, w)
	long := strings.Repeat("é", 150000) // split into 75 items; ~300 KB encoded
	changes = []synq.Change{
		synq.Upsert("small", builder.Properties{"A": builder.RichText("fine")}),
		synq.Upsert("huge", builder.Properties{"A": builder.RichText(long), "B": builder.RichText(long), "C": builder.RichText("x")}),
	}
	e.emu.ResetStats()
	_, err := e.tryCycle("docsSync")
	if !engine.IsValidation(err) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Fatalf("a payload error is not permanent: %v", err)
	}
	for _, want := range []string{`sync "docsSync"`, `key "huge"`, "500 KB", `"A"`, `"B"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.emu.Stats().ByRoute["POST /v1/pages"]; n != 0 {
		t.Errorf("%d rows written from a page with a row over the limit", n)
	}
	// Under the limit, the same texts go through.
	changes = []synq.Change{synq.Upsert("big", builder.Properties{"A": builder.RichText(long)})}
	if _, err := e.tryCycle("docsSync"); err != nil {
		t.Fatalf("a 300 KB row: %v", err)
	}
}

// Notion refusing a write as written (400 validation_error) fails the
// page at once, with one message saying so: here a person deleted a
// property from the database in Notion.
func TestNotionValidationErrorIsPermanent(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	ids := provision(t, e)
	ctx := context.Background()
	if _, err := e.notion.UpdateDataSource(ctx, ids.DataSourceID, notion.UpdateDataSourceRequest{Properties: map[string]*notion.PropertySchema{"N": nil}}); err != nil {
		t.Fatal(err)
	}
	src.delta = []synq.Change{synq.Upsert("a", builder.Properties{"N": builder.Number(3)})}
	e.emu.ResetStats()
	_, err := e.tryCycle("itemsDelta")
	var p interface{ Permanent() bool }
	if err == nil || !errors.As(err, &p) || !p.Permanent() {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	for _, want := range []string{`sync "itemsDelta"`, `key "a"`, "validation_error", "retrying cannot help"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.emu.Stats().ByRoute["POST /v1/pages"]; n != 1 {
		t.Errorf("a refused create was sent %d times, want 1", n)
	}
	if ok, _ := e.rdb.HasIntent(ctx, "items", "a"); ok {
		t.Error("a create Notion refused left an intent (the next writer would look it up for nothing)")
	}
}
