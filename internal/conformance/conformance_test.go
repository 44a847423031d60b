package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
	"github.com/synqhq/synq/schema"
	"github.com/synqhq/synq/synqtest"
)

// kase is one property type: its declaration and the values written one
// after the other into one row, each expected back as validation
// normalized it (the last one clears the property, where Notion allows).
type kase struct {
	prop   schema.Property
	values []builder.Value
}

var paris = time.FixedZone("", 0)

func init() {
	if loc, err := time.LoadLocation("Europe/Paris"); err == nil {
		paris = loc
	}
}

// cases has one entry per schema type. A relation relates to the row's
// own database, whose rows r1 and r2 the first page writes.
var cases = map[schema.Type]kase{
	schema.TypeTitle: {schema.Title(), []builder.Value{
		builder.Title("Printer on fire"),
		builder.Texts(schema.TypeTitle, builder.Text{Content: "see "}, builder.Text{Content: "the docs", Link: "https://example.com/docs"}),
		builder.Title(strings.Repeat("é", 4500)), // three items of 2000 characters at most
		builder.Title(""),
	}},
	schema.TypeRichText: {schema.RichText(), []builder.Value{
		builder.RichText("plain"),
		builder.Link("docs", "https://example.com/docs"),
		builder.RichText(strings.Repeat("😀", 1500)), // 3000 UTF-16 units: two items
		builder.RichText(""),
	}},
	schema.TypeNumber: {schema.Number(schema.Dollar), []builder.Value{
		builder.Number(1.5), builder.Number(-42), builder.Number(int64(1) << 52), {Type: schema.TypeNumber},
	}},
	schema.TypeSelect: {schema.Select(schema.Options("high", "low")...), []builder.Value{
		builder.Select("high"), builder.Select("brand new"), builder.Select(""),
	}},
	schema.TypeMultiSelect: {schema.MultiSelect(schema.Options("a")...), []builder.Value{
		builder.MultiSelect("a", "b"), builder.MultiSelect("c"), builder.MultiSelect(),
	}},
	schema.TypeStatus: {schema.Status(schema.Options("New", "Doing", "Done"), schema.StatusGroup{Name: "Complete", Options: []string{"Done"}}), []builder.Value{
		builder.Status("Doing"), builder.Status("Done"), builder.Status(""),
	}},
	schema.TypeDate: {schema.Date(), []builder.Value{
		builder.Date(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)),
		builder.DateTime(time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC)),
		builder.DateTime(time.Date(2026, 1, 2, 9, 30, 0, 0, paris)),
		builder.DateRange(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)),
		builder.DateTimeRange(time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 17, 0, 0, 0, time.UTC)),
		{Type: schema.TypeDate},
	}},
	schema.TypePeople: {schema.People(), []builder.Value{
		builder.People("ada@example.com"), builder.People("ada@example.com", "grace@example.com"), builder.People(),
	}},
	schema.TypeFiles: {schema.Files(), []builder.Value{
		builder.File("https://example.com/a.pdf", "a.pdf"),
		builder.Files(builder.FileValue{Name: "b.png", URL: "https://example.com/b.png"}, builder.FileValue{Name: "c", URL: "http://example.com/c"}),
		builder.Files(),
	}},
	schema.TypeCheckbox: {schema.Checkbox(), []builder.Value{builder.Checkbox(true), builder.Checkbox(false)}},
	schema.TypeURL:      {schema.URL(), []builder.Value{builder.URL("https://example.com/a?b=1#c"), builder.URL("")}},
	schema.TypeEmail:    {schema.Email(), []builder.Value{builder.Email("ada@example.com"), builder.Email("")}},
	schema.TypePhoneNumber: {schema.PhoneNumber(), []builder.Value{
		builder.PhoneNumber("+1 555 0100"), builder.PhoneNumber(""),
	}},
	schema.TypePlace: {schema.Place(), []builder.Value{
		builder.Place(48.8566, 2.3522, "Paris"),
		{Type: schema.TypePlace, Place: &builder.PlaceValue{Lat: -33.8688, Lon: 151.2093, Name: "Sydney", Address: "NSW, Australia"}},
		{Type: schema.TypePlace},
	}},
	schema.TypeRelation: {schema.Relation("self"), []builder.Value{
		builder.Relation("r1"), builder.Relation("r1", "r2"), builder.Relation(),
	}},
}

// The types are every Type constant package schema declares, read from its
// source: a constant missing from schema.Types is a type nobody can use.
func TestEveryTypeIsListed(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../../schema", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []schema.Type
	for _, f := range pkgs["schema"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						declared = append(declared, schema.Type(s))
					}
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no Type constants in package schema: the test reads its source wrong")
	}
	for _, typ := range declared {
		if !slices.Contains(schema.Types, typ) {
			t.Errorf("schema declares the type %q but schema.Types does not list it: add it there", typ)
		}
	}
	for _, typ := range schema.Types {
		if _, ok := cases[typ]; !ok {
			t.Errorf("no conformance case for schema type %q: add one to cases (and the type's parts: docs/contributing.md, How to add a property type)", typ)
		}
	}
}

// env is one redis-server and one emulator for every type.
type env struct {
	rdb    *rdb.RDB
	notion *notion.Client
	emails map[string]string // user id → email
}

func TestRoundTrip(t *testing.T) {
	redis := redistest.Start(t)
	emu := notiontest.Start(t, emulator.Config{})
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(hc.CloseIdleConnections) // before the emulator's graceful stop
	client, err := notion.New(notion.Config{BaseURL: emu.URL(), Token: notiontest.Token, HTTPClient: hc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	users, err := client.AllUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb.New(redis.Client()), notion: client, emails: map[string]string{}}
	for _, u := range users {
		e.emails[bare(u.ID)] = u.Email()
	}
	for _, typ := range schema.Types {
		c, ok := cases[typ]
		if !ok {
			continue // TestEveryTypeIsListed says so
		}
		t.Run(string(typ), func(t *testing.T) { e.roundTrip(t, typ, c) })
	}
}

// step is the state of a type's sync: the index of the value to write.
type step struct {
	N int `json:"n"`
}

func (e *env) roundTrip(t *testing.T, typ schema.Type, c kase) {
	ctx := context.Background()
	key := "conf_" + string(typ)
	props := schema.Properties{"Key": schema.RichText(), "Value": c.prop}
	if typ != schema.TypeTitle {
		props["Name"] = schema.Title()
	}
	if typ == schema.TypeRelation {
		props["Value"] = schema.Relation(key)
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "conformance"})
	db := w.Database(key, synq.DatabaseConfig{InitialTitle: key, PrimaryKey: "Key", Schema: props})
	synq.AddSync(w, key, synq.SyncConfig[step]{Database: db, Mode: synq.Incremental, Schedule: "manual",
		Execute: func(ctx context.Context, s *step) (synq.Result[step], error) {
			var changes []synq.Change
			if s.N == 0 {
				changes = append(changes, synq.Upsert("r1", nil), synq.Upsert("r2", nil))
			}
			changes = append(changes, synq.Upsert("row", builder.Properties{"Value": c.values[s.N]}))
			return synq.Result[step]{Changes: changes, NextState: &step{N: s.N + 1}}, nil
		}})
	set, err := w.Spec(spec.Access{})
	if err != nil {
		t.Fatalf("declaring a %s property: %v", typ, err)
	}
	eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.notion, ParentPageID: notiontest.ParentPageID(), Set: set, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}

	// The schema: the engine declares the property, Notion (the emulator)
	// holds it with its type.
	if err := eng.Provision(ctx); err != nil {
		t.Fatalf("creating a database with a %s property (engine/convert.go schemaToNotion, notion/schema.go, emulator/properties.go buildProperty): %v", typ, err)
	}
	ids, _, err := e.rdb.GetDatabase(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.notion.GetDataSource(ctx, ids.DataSourceID)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Properties["Value"].Type; got != string(typ) {
		t.Fatalf("the data source's property is a %q, want %q (engine/convert.go schemaToNotion, notion/schema.go PropertySchema JSON, emulator/properties.go buildProperty)", got, typ)
	}
	// Its configuration too.
	have := ds.Properties["Value"]
	for _, o := range c.prop.Options {
		if !slices.Contains(have.OptionNames(), o.Name) {
			t.Errorf("option %q missing from the data source's property: %v", o.Name, have.OptionNames())
		}
	}
	optionID := map[string]string{}
	for _, o := range have.Options {
		optionID[o.Name] = o.ID
	}
	for _, g := range c.prop.Groups {
		i := slices.IndexFunc(have.Groups, func(h notion.StatusGroup) bool { return h.Name == g.Name })
		if i < 0 {
			t.Errorf("status group %q missing from the data source's property: %+v", g.Name, have.Groups)
			continue
		}
		for _, o := range g.Options {
			if !slices.Contains(have.Groups[i].OptionIDs, optionID[o]) {
				t.Errorf("status group %q does not hold option %q: %+v", g.Name, o, have.Groups[i])
			}
		}
	}
	if c.prop.Format != "" && have.Format != string(c.prop.Format) {
		t.Errorf("the number format is %q, want %q", have.Format, c.prop.Format)
	}
	if typ == schema.TypeRelation && (have.Relation == nil || bare(have.Relation.DataSourceID) != bare(ids.DataSourceID)) {
		t.Errorf("the relation points to %+v, want data source %s", have.Relation, ids.DataSourceID)
	}

	for n, v := range c.values {
		// Validation: what the engine will write.
		checked, err := engine.Validate(set, set.Syncs[key], []spec.Change{{Key: "row", Properties: builder.Properties{"Value": v}}})
		if err != nil {
			t.Fatalf("value %d (%s): the engine's validation refuses it (engine/validate.go normalize): %v", n, v, err)
		}
		want := checked[0].Properties["Value"]
		if p := synqtest.Plain(want); fmt.Sprint(p) == fmt.Sprintf("synqtest: no plain form for %s values", typ) {
			t.Errorf("synqtest has no plain form for %s values (synqtest/values.go Plain)", typ)
		}

		// Encoding, the emulator, decoding.
		if _, err := eng.RunCycle(ctx, key, fmt.Sprintf("%s-%d", key, n), quiet()); err != nil {
			t.Fatalf("value %d (%s): writing it (engine/convert.go valueToNotion, notion/value.go MarshalJSON, emulator/properties.go buildValue): %v", n, v, err)
		}
		got, err := e.read(ctx, ids.DataSourceID)
		if err != nil {
			t.Fatalf("value %d (%s): reading it back (notion/value.go UnmarshalJSON, engine/convert.go ValueFromNotion): %v", n, v, err)
		}
		if !reflect.DeepEqual(canon(got), canon(want)) {
			t.Errorf("value %d does not survive the round trip:\n wrote %s\n  read %s", n, js(want), js(got))
		}
	}
}

// read returns the "Value" of the row "row", decoded.
func (e *env) read(ctx context.Context, dataSource string) (builder.Value, error) {
	keys := map[string]string{}
	var row *notion.Page
	err := e.notion.QueryAll(ctx, dataSource, notion.QueryRequest{}, func(p *notion.Page) error {
		k := p.Properties["Key"].Text()
		keys[bare(p.ID)] = k
		if k == "row" {
			row = p
		}
		return nil
	})
	if err != nil {
		return builder.Value{}, err
	}
	if row == nil {
		return builder.Value{}, fmt.Errorf("no row %q in the data source", "row")
	}
	return engine.ValueFromNotion(row.Properties["Value"], engine.Names{
		Email: func(id string) (string, bool) { em, ok := e.emails[bare(id)]; return em, ok },
		Key:   func(id string) (string, bool) { k, ok := keys[bare(id)]; return k, ok },
	})
}

// canon makes empty lists nil: a cleared value is written as [] and read
// back as none.
func canon(v builder.Value) builder.Value {
	if len(v.Text) == 0 {
		v.Text = nil
	}
	if len(v.Names) == 0 {
		v.Names = nil
	}
	if len(v.Emails) == 0 {
		v.Emails = nil
	}
	if len(v.Files) == 0 {
		v.Files = nil
	}
	if len(v.Keys) == 0 {
		v.Keys = nil
	}
	return v
}

func js(v builder.Value) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func bare(id string) string { return strings.ReplaceAll(id, "-", "") }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
