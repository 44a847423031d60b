package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

// engineFor is another deploy of the worker on the env's Redis and
// Notion: an engine for w's declarations.
func (e *env) engineFor(w *synq.Worker, log *slog.Logger) *engine.Engine {
	e.t.Helper()
	set, err := w.Spec(spec.Access{})
	if err != nil {
		e.t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.notion, ParentPageID: notiontest.ParentPageID(), Set: set, Logger: log, ProvisionBackoff: 10 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

func migrateWorker(props schema.Properties, allowTypeChanges bool) *synq.Worker {
	return migrateWorkerWriting(props, allowTypeChanges, builder.Properties{"Notes": builder.RichText("hello")})
}

func migrateWorkerWriting(props schema.Properties, allowTypeChanges bool, row builder.Properties) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "migrations"})
	db := w.Database("m", synq.DatabaseConfig{InitialTitle: "Migrated", PrimaryKey: "ID", Schema: props, AllowTypeChanges: allowTypeChanges})
	synq.AddSync(w, "mSync", synq.SyncConfig[struct{}]{Database: db, Mode: synq.Incremental, Schedule: "manual",
		Execute: func(context.Context, *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{Changes: []synq.Change{synq.Upsert("row", row)}}, nil
		}})
	return w
}

func v1Schema() schema.Properties {
	return schema.Properties{
		"ID":     schema.Title(),
		"Notes":  schema.RichText(),
		"Status": schema.Select(schema.Options("a", "b")...),
		"Old":    schema.RichText(),
	}
}

// Each deploy migrates the schema without losing data: added properties
// and options are applied, a removed property stays (logged), a type
// change is refused at start-up unless the database allows it.
func TestMigrations(t *testing.T) {
	w1 := migrateWorker(v1Schema(), false)
	e := newEnv(t, w1)
	ctx := context.Background()
	if _, err := e.tryCycle("mSync"); err != nil {
		t.Fatal(err)
	}
	schemaOf := func() map[string]notion.PropertySchema {
		ids, _, _ := e.rdb.GetDatabase(ctx, "m")
		ds, err := e.notion.GetDataSource(ctx, ids.DataSourceID)
		if err != nil {
			t.Fatal(err)
		}
		return ds.Properties
	}
	notes := func() string {
		ids, _, _ := e.rdb.GetDatabase(ctx, "m")
		list, err := e.notion.QueryDataSource(ctx, ids.DataSourceID, notion.QueryRequest{})
		if err != nil || len(list.Results) != 1 {
			t.Fatalf("query: %v", err)
		}
		return list.Results[0].Properties["Notes"].Text()
	}
	if notes() != "hello" {
		t.Fatalf("Notes = %q", notes())
	}

	// Add a property and an option.
	v2 := v1Schema()
	v2["Added"] = schema.Number()
	v2["Status"] = schema.Select(schema.Options("a", "b", "c")...)
	added := &countingHandler{counts: map[string]int{}}
	if err := e.engineFor(migrateWorker(v2, false), slog.New(added)).Provision(ctx); err != nil {
		t.Fatalf("add: %v", err)
	}
	// The log says the rows already there get the new property only when
	// written again, and how to write them now.
	if n := added.counts["existing rows have the new properties empty until a run writes them: the next run of a sync writing it fills them in (`ctl trigger mSync` runs one now)"]; n != 1 {
		t.Errorf("no note on existing rows after adding a property: %v", added.counts)
	}
	p := schemaOf()
	if p["Added"].Type != notion.TypeNumber || len(p["Status"].Options) != 3 {
		t.Fatalf("after adding: Added %+v, Status options %+v", p["Added"], p["Status"].Options)
	}

	// Remove a property: it stays in Notion, with a warning.
	v3 := v2
	delete(v3, "Old")
	logs := &countingHandler{counts: map[string]int{}}
	if err := e.engineFor(migrateWorker(v3, false), slog.New(logs)).Provision(ctx); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, ok := schemaOf()["Old"]; !ok {
		t.Fatal("a property removed from the schema was dropped from Notion")
	}
	if logs.counts["property is in Notion but no longer in the schema; synq leaves it (never drops a property)"] != 1 {
		t.Errorf("no warning for the removed property: %v", logs.counts)
	}

	// Change a type: refused, naming database, property, both types and
	// the fix; nothing changes in Notion.
	v4 := schema.Properties{}
	for k, v := range v3 {
		v4[k] = v
	}
	v4["Notes"] = schema.Number()
	e.emu.ResetStats()
	err := e.engineFor(migrateWorker(v4, false), quiet).Provision(ctx)
	var tc *engine.TypeChangeError
	if !errors.As(err, &tc) || !tc.Permanent() {
		t.Fatalf("type change: err = %v, want a TypeChangeError", err)
	}
	for _, want := range []string{`database "m"`, `property "Notes"`, "rich_text", "number", "AllowTypeChanges", "new property name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("type change error %q does not say %q", err, want)
		}
	}
	if st := e.emu.Stats(); st.ByRoute["PATCH /v1/data_sources/{id}"] != 0 {
		t.Errorf("a refused migration changed the schema: %v", st.ByRoute)
	}
	if schemaOf()["Notes"].Type != notion.TypeRichText || notes() != "hello" {
		t.Fatalf("a refused type change touched the column: %s %q", schemaOf()["Notes"].Type, notes())
	}
	// A page that would provision the refused schema fails at once too.
	_, err = e.engineFor(migrateWorkerWriting(v4, false, builder.Properties{"Status": builder.Select("a")}), quiet).RunCycle(ctx, "mSync", "refused-run", quiet)
	if !errors.As(err, &tc) {
		t.Fatalf("a page with a refused schema: %v", err)
	}

	// Allowed: the column is converted (its values are lost, as asked).
	if err := e.engineFor(migrateWorker(v4, true), quiet).Provision(ctx); err != nil {
		t.Fatalf("allowed type change: %v", err)
	}
	if schemaOf()["Notes"].Type != notion.TypeNumber || notes() != "" {
		t.Fatalf("after the allowed change: %s %q", schemaOf()["Notes"].Type, notes())
	}
}

// Provisioning retries what retrying can fix (Notion answering 500s) with
// backoff until it succeeds, and fails at once on what it cannot (a token
// Notion refuses).
func TestProvisionRetriesTransientErrorsOnly(t *testing.T) {
	src := newSource(0)
	e := newEnvWith(t, itemsWorker(src), envOptions{engine: func(c *engine.Config) { c.ProvisionBackoff = 20 * time.Millisecond }})
	e.emu.SetFaults(emulator.Faults{Rate503: 1})
	done := make(chan error, 1)
	go func() { done <- e.eng.Provision(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.emu.Stats().Requests < 12 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Provision returned while Notion answered 503: %v", err)
	default:
	}
	e.emu.SetFaults(emulator.Faults{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Provision after Notion recovered: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Provision did not finish after Notion recovered")
	}
	if _, ok, _ := e.rdb.GetDatabase(context.Background(), "items"); !ok {
		t.Fatal("database not provisioned")
	}

	// Until ctx ends.
	e2 := newEnvWith(t, itemsWorker(src), envOptions{engine: func(c *engine.Config) { c.ProvisionBackoff = 20 * time.Millisecond }})
	e2.emu.SetFaults(emulator.Faults{Rate500: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e2.eng.Provision(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Provision when ctx ends: %v", err)
	}

	// A token Notion refuses: at once, one attempt.
	bad := newEnvWith(t, itemsWorker(src), envOptions{notion: func(c *notion.Config) { c.Token = "secret_wrong" }})
	bad.emu.ResetStats()
	start := time.Now()
	err := bad.eng.Provision(context.Background())
	var ne *notion.Error
	if !errors.As(err, &ne) || ne.Status != 401 {
		t.Fatalf("Provision with a refused token: %v", err)
	}
	if n := bad.emu.Stats().Requests; n != 1 {
		t.Errorf("a refused token was tried %d times (took %v)", n, time.Since(start))
	}
}

// A new database gets its relation columns right after it is created
// (they need the related data source): no rows exist yet, so the log
// says nothing about existing rows.
func TestNewDatabaseWithRelationsSaysNothingAboutExistingRows(t *testing.T) {
	w := synq.NewWorker(synq.WorkerConfig{Name: "pm"})
	w.Database("projects", synq.DatabaseConfig{InitialTitle: "Projects", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":     schema.Title(),
		"Project": schema.Relation("projects", schema.RelationConfig{}),
	}})
	e := newEnv(t, w)
	logs := &countingHandler{counts: map[string]int{}}
	if err := e.engineFor(w, slog.New(logs)).Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if logs.counts["created Notion database"] != 2 || logs.counts["migrated Notion schema"] != 1 {
		t.Fatalf("want 2 databases created and the relation added: %v", logs.counts)
	}
	for msg := range logs.counts {
		if strings.HasPrefix(msg, "existing rows have the new properties empty") {
			t.Errorf("a new database's relation column is announced as new for existing rows: %v", logs.counts)
		}
	}
}
