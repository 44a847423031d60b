package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

// backlogUpstream is what the upstream of the Backlog sync returns: keys
// T-001…T-050 minus lost, with the Backlog's values except for changed
// (Points + 100), plus extra new keys.
type backlogUpstream struct {
	lost, changed map[int]bool
	extra         []string
	content       map[string]string // key → page body
	deletes       []string          // explicit deletes (incremental sync)
}

func (u *backlogUpstream) changes() []synq.Change {
	var out []synq.Change
	for i := 1; i <= notiontest.BacklogKeyed; i++ {
		if u.lost[i] {
			continue
		}
		p := notiontest.BacklogPoints(i)
		if u.changed[i] {
			p += 100
		}
		c := synq.Upsert(notiontest.BacklogKey(i), builder.Properties{
			"Status": builder.Select(notiontest.BacklogStatus(i)),
			"Points": builder.Number(p),
		})
		if md, ok := u.content[notiontest.BacklogKey(i)]; ok {
			c = c.Content(md)
		}
		out = append(out, c)
	}
	for _, k := range u.extra {
		c := synq.Upsert(k, builder.Properties{"Status": builder.Select("Open"), "Points": builder.Number(1), "Estimate days": builder.Number(2)})
		if md, ok := u.content[k]; ok {
			c = c.Content(md)
		}
		out = append(out, c)
	}
	return out
}

// backlogWorker syncs into the Backlog at url: "backlog" (replace) and
// "backlog-deletes" (incremental, the upstream's deletes only). estimate
// is the type the schema declares "Estimate" with ("" leaves it out and
// declares "Estimate days" instead).
func backlogWorker(url string, estimate schema.Property, u *atomic.Pointer[backlogUpstream], own bool) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "existing"})
	props := schema.Properties{
		"Name":   schema.Title(),
		"Status": schema.Select(schema.Option{Name: "Open"}, schema.Option{Name: "Done"}, schema.Option{Name: "Blocked"}),
		"Points": schema.Number(),
	}
	if estimate.Type != "" {
		props["Estimate"] = estimate
	} else {
		props["Estimate days"] = schema.Number()
	}
	db := w.Database("backlog", synq.DatabaseConfig{Existing: url, PrimaryKey: "Name", Schema: props, OwnBodies: own})
	synq.AddSync(w, "backlog", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual",
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{Changes: u.Load().changes()}, nil
		}})
	synq.AddSync(w, "backlog-deletes", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual", Mode: synq.Incremental,
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			var res synq.Result[struct{}]
			for _, k := range u.Load().deletes {
				res.Changes = append(res.Changes, synq.Delete(k))
			}
			return res, nil
		}})
	return w
}

// byKey reads the live rows of a data source as key → page ids.
func byKey(t *testing.T, c *notion.Client, ds string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for id, p := range pageJSON(t, c, ds) {
		k := p.Properties["Name"].Text()
		out[k] = append(out[k], id)
	}
	return out
}

// checkNoDuplicates fails when a key has two rows, except the people's
// duplicates of the Backlog.
func checkNoDuplicates(t *testing.T, rows map[string][]string) {
	t.Helper()
	for k, ids := range rows {
		want := 1
		if k == "" {
			want = notiontest.BacklogKeyless
		}
		for _, d := range notiontest.BacklogDuplicates {
			if k == d {
				want = 2
			}
		}
		if len(ids) > want {
			t.Errorf("key %q has %d rows, want at most %d", k, len(ids), want)
		}
	}
}

// pageJSON reads every row of a data source as page id → its JSON.
func pageJSON(t *testing.T, c *notion.Client, ds string) map[string]*notion.Page {
	t.Helper()
	out := map[string]*notion.Page{}
	err := c.QueryAll(context.Background(), ds, notion.QueryRequest{}, func(p *notion.Page) error {
		cp := *p
		out[p.ID] = &cp
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func propJSON(p *notion.Page, name string) string {
	b, _ := json.Marshal(p.Properties[name])
	return string(b)
}

// pageBytes is a page as the API returns it, without the column synq
// added (every row gets it, empty).
func pageBytes(p *notion.Page) string {
	cp := *p
	cp.Properties = map[string]notion.PropertyValue{}
	for k, v := range p.Properties {
		if k != "Estimate days" {
			cp.Properties[k] = v
		}
	}
	b, _ := json.Marshal(cp)
	return string(b)
}

// TestExistingDatabase is the scenario on the engine: a database
// people already have, with extra columns, keyless and duplicated rows and
// a column of a conflicting type.
func TestExistingDatabase(t *testing.T) {
	ctx := context.Background()
	var up atomic.Pointer[backlogUpstream]
	up.Store(&backlogUpstream{})
	// The env's worker is only its scaffolding (Redis, emulator, client).
	e := newEnv(t, synq.NewWorker(synq.WorkerConfig{Name: "existing"}))
	bl, err := notiontest.SeedBacklog(ctx, e.notion)
	if err != nil {
		t.Fatal(err)
	}
	engineFor := func(w *synq.Worker) *engine.Engine {
		t.Helper()
		set, err := w.Spec(spec.Access{})
		if err != nil {
			t.Fatal(err)
		}
		e.set = set
		// No parent page: a worker with only existing databases needs none.
		eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.notion, Set: set, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}

	// 1. The conflicting declaration is refused, naming property, both
	// types and the fix, and nothing is written.
	e.emu.ResetStats()
	bad := engineFor(backlogWorker(bl.URL, schema.Number(), &up, false))
	err = bad.Provision(ctx)
	var ee *engine.ExistingError
	if !errors.As(err, &ee) {
		t.Fatalf("Provision with a conflicting type = %v, want an ExistingError", err)
	}
	for _, want := range []string{`property "Estimate"`, "rich_text column", "declares number", `declare it as "Estimate": schema.RichText()`, "under another name", "never changes the type"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if st := e.emu.Stats(); st.Writes != 0 {
		t.Fatalf("a refused start wrote to Notion: %+v", st.ByRoute)
	}

	before := pageJSON(t, e.notion, bl.DataSourceID)

	// 2. Fixed: the first start adopts the 50 keyed rows.
	eng := engineFor(backlogWorker(bl.URL, schema.Property{}, &up, false))
	e.emu.ResetStats()
	if err := eng.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.emu.Stats()
	if st.ByRoute["POST /v1/pages"] != 0 || st.ByRoute["PATCH /v1/pages/{id}"] != 0 {
		t.Fatalf("adoption wrote rows: %v", st.ByRoute)
	}
	info, err := e.rdb.GetExisting(ctx, "backlog")
	if err != nil || info.Rows == nil || info.Columns == nil {
		t.Fatalf("existing info = %+v, %v", info, err)
	}
	if r := info.Rows; r.Rows != notiontest.BacklogKeyed || r.Adopted != notiontest.BacklogKeyed || r.Keyless != notiontest.BacklogKeyless || r.DuplicateCount != 2 {
		t.Fatalf("adoption report = %+v", r)
	}
	if got := fmt.Sprint(info.Columns.Others); got != "[Estimate Notes Priority Reviewed]" {
		t.Errorf("other columns = %s", got)
	}
	if got := fmt.Sprint(info.Columns.Added); got != "[Estimate days]" {
		t.Errorf("added columns = %s", got)
	}
	ds, err := e.notion.GetDataSource(ctx, bl.DataSourceID)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Properties["Estimate"].Type != "rich_text" || ds.Properties["Estimate days"].Type != "number" {
		t.Fatalf("columns after start-up: %+v", ds.Properties)
	}

	// 3. The first run: 0 created for the 50, 5 changed rows updated, the
	// rest unchanged at no cost; only owned columns written.
	up.Store(&backlogUpstream{changed: map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}, extra: []string{"T-100"}})
	e.emu.ResetStats()
	res := e.run(eng, "backlog", quiet)
	if res.Counters["created"] != 1 || res.Counters["updated"] != 5 || res.Counters["unchanged"] != 45 {
		t.Fatalf("first run counters = %v, want 1 created (T-100), 5 updated, 45 unchanged", res.Counters)
	}
	if w := e.emu.Stats().Writes; w != 6 {
		t.Fatalf("first run made %d writes, want 6: %v", w, e.emu.Stats().ByRoute)
	}
	after := pageJSON(t, e.notion, bl.DataSourceID)
	for id, p := range before {
		q := after[id]
		if q == nil {
			t.Fatalf("row %s is gone", id)
		}
		for _, col := range append([]string{"Estimate"}, notiontest.BacklogExtra...) {
			if propJSON(p, col) != propJSON(q, col) {
				t.Errorf("row %s: people's column %q changed: %s → %s", id, col, propJSON(p, col), propJSON(q, col))
			}
		}
	}
	for _, id := range append(append([]string{}, bl.Keyless...), bl.Duplicates...) {
		if pageBytes(before[id]) != pageBytes(after[id]) {
			t.Errorf("a row synq must leave alone changed:\n%s\n%s", pageBytes(before[id]), pageBytes(after[id]))
		}
	}
	if got := after[bl.Keyed["T-002"]].Properties["Points"].Number; got == nil || *got != 102 {
		t.Errorf("T-002's Points = %v, want 102", got)
	}

	// 4. A replace cycle whose upstream lost 10 keys trashes only those of
	// the 10 that synq has written (T-001…T-005) and T-100 it created.
	lost := map[int]bool{}
	for i := 1; i <= 10; i++ {
		lost[i] = true
	}
	up.Store(&backlogUpstream{lost: lost, changed: map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}})
	res = e.run(eng, "backlog", quiet)
	if res.Counters["trashed"] != 6 || res.Held != "" {
		t.Fatalf("replace cycle trashed %d (held %q), want 6 (T-001…T-005 and T-100)", res.Counters["trashed"], res.Held)
	}
	live := pageJSON(t, e.notion, bl.DataSourceID)
	for i := 1; i <= 10; i++ {
		_, ok := live[bl.Keyed[notiontest.BacklogKey(i)]]
		if ok != (i > 5) {
			t.Errorf("row %s live = %v after the sweep", notiontest.BacklogKey(i), ok)
		}
	}
	for _, id := range append(append([]string{}, bl.Keyless...), bl.Duplicates...) {
		if _, ok := live[id]; !ok {
			t.Errorf("the sweep trashed row %s that synq must leave alone", id)
		}
	}

	// 5. Page bodies: an adopted row's body is left alone without
	// OwnBodies; a row synq created gets its own.
	up.Store(&backlogUpstream{lost: lost, extra: []string{"T-200"}, content: map[string]string{"T-020": "# synq's body", "T-200": "# synq's body"}})
	e.run(eng, "backlog", quiet)
	if kids, err := e.notion.AllBlockChildren(ctx, bl.Keyed["T-020"]); err != nil || len(kids) != 0 {
		t.Errorf("adopted row T-020 got %d blocks (%v) without OwnBodies", len(kids), err)
	}
	rows := byKey(t, e.notion, bl.DataSourceID)
	if kids, err := e.notion.AllBlockChildren(ctx, rows["T-200"][0]); err != nil || len(kids) != 1 {
		t.Errorf("row T-200 synq created has %d blocks (%v), want its body", len(kids), err)
	}
	own := engineFor(backlogWorker(bl.URL, schema.Property{}, &up, true))
	e.run(own, "backlog", quiet)
	if kids, err := e.notion.AllBlockChildren(ctx, bl.Keyed["T-020"]); err != nil || len(kids) != 1 {
		t.Errorf("with OwnBodies, adopted row T-020 has %d blocks (%v), want synq's body", len(kids), err)
	}

	// 6. An explicit delete acts on an adopted row synq never wrote.
	up.Store(&backlogUpstream{deletes: []string{"T-030"}})
	if res := e.run(eng, "backlog-deletes", quiet); res.Counters["trashed"] != 1 {
		t.Fatalf("explicit delete of an adopted row: %v", res.Counters)
	}

	// 7. Redis loses everything; the next run duplicates nothing and
	// still leaves the keyless and duplicated rows alone.
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fresh := engineFor(backlogWorker(bl.URL, schema.Property{}, &up, false))
	if err := fresh.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	lost[30] = true // deleted upstream in 6.
	up.Store(&backlogUpstream{lost: lost, extra: []string{"T-200"}})
	res = e.run(fresh, "backlog", quiet)
	if res.Counters["created"] != 0 {
		t.Fatalf("after a Redis flush the run created %d rows", res.Counters["created"])
	}
	checkNoDuplicates(t, byKey(t, e.notion, bl.DataSourceID))
	final := pageJSON(t, e.notion, bl.DataSourceID)
	for _, id := range append(append([]string{}, bl.Keyless...), bl.Duplicates...) {
		if pageBytes(before[id]) != pageBytes(final[id]) {
			t.Errorf("a row synq must leave alone changed after the flush")
		}
	}
}

// Relations work between a database people already have and managed ones,
// both ways: a relation declared on the existing database to a managed
// one (the column is added), and a managed database's relation naming
// adopted rows of the existing one.
func TestExistingDatabaseRelations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, synq.NewWorker(synq.WorkerConfig{Name: "existing"}))
	bl, err := notiontest.SeedBacklog(ctx, e.notion)
	if err != nil {
		t.Fatal(err)
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "existing"})
	teams := w.Database("teams", synq.DatabaseConfig{InitialTitle: "Teams", PrimaryKey: "Name", Schema: schema.Properties{"Name": schema.Title()}})
	backlog := w.Database("backlog", synq.DatabaseConfig{Existing: bl.URL, PrimaryKey: "Name", Schema: schema.Properties{
		"Name": schema.Title(), "Team": schema.Relation("teams")}})
	notes := w.Database("notes", synq.DatabaseConfig{InitialTitle: "Notes", PrimaryKey: "Name", Schema: schema.Properties{
		"Name": schema.Title(), "Item": schema.Relation("backlog")}})
	one := func(db *synq.Database, key string, props builder.Properties) func(context.Context, *struct{}) (synq.Result[struct{}], error) {
		return func(context.Context, *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{Changes: []synq.Change{synq.Upsert(key, props)}}, nil
		}
	}
	synq.AddSync(w, "teamsSync", synq.SyncConfig[struct{}]{Database: teams, Schedule: "manual", Mode: synq.Incremental, Execute: one(teams, "alpha", builder.Properties{})})
	synq.AddSync(w, "backlogSync", synq.SyncConfig[struct{}]{Database: backlog, Schedule: "manual", Mode: synq.Incremental,
		Execute: one(backlog, "T-001", builder.Properties{"Team": builder.Relation("alpha")})})
	synq.AddSync(w, "notesSync", synq.SyncConfig[struct{}]{Database: notes, Schedule: "manual", Mode: synq.Incremental,
		Execute: one(notes, "n1", builder.Properties{"Item": builder.Relation("T-002")})})
	set, err := w.Spec(spec.Access{})
	if err != nil {
		t.Fatal(err)
	}
	e.set = set
	eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.notion, ParentPageID: notiontest.ParentPageID(), Set: set, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"teamsSync", "backlogSync", "notesSync"} {
		e.run(eng, s, quiet)
	}
	alpha := e.rows("teams")["alpha"]["_id"]
	p, err := e.notion.GetPage(ctx, bl.Keyed["T-001"])
	if err != nil {
		t.Fatal(err)
	}
	if rel := p.Properties["Team"].Relation; len(rel) != 1 || rel[0].ID != alpha {
		t.Errorf("adopted row T-001's Team = %+v, want team alpha's page %s", rel, alpha)
	}
	if notes := p.Properties["Notes"]; propJSON(p, "Notes") == "" || len(notes.RichText) == 0 {
		t.Errorf("T-001's people's column Notes was cleared")
	}
	n1, err := e.notion.GetPage(ctx, e.rows("notes")["n1"]["_id"])
	if err != nil {
		t.Fatal(err)
	}
	if rel := n1.Properties["Item"].Relation; len(rel) != 1 || rel[0].ID != bl.Keyed["T-002"] {
		t.Errorf("note n1's Item = %+v, want the adopted row T-002 (%s)", rel, bl.Keyed["T-002"])
	}
}
