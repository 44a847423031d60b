package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

func testSet() (*spec.Set, *spec.Sync) {
	db := &spec.Database{Key: "tickets", InitialTitle: "Tickets", PrimaryKey: "ID", Schema: schema.Properties{
		"ID":     schema.Title(),
		"Body":   schema.RichText(),
		"N":      schema.Number(),
		"Done":   schema.Checkbox(),
		"Prio":   schema.Select(schema.Options("high", "low")...),
		"Tags":   schema.MultiSelect(),
		"Stage":  schema.Status(schema.Options("New", "Done")),
		"When":   schema.Date(),
		"Who":    schema.People(),
		"Files":  schema.Files(),
		"Site":   schema.URL(),
		"Mail":   schema.Email(),
		"Phone":  schema.PhoneNumber(),
		"Where":  schema.Place(),
		"Parent": schema.Relation("tickets"),
	}}
	s := &spec.Sync{Key: "ticketsDelta", Database: "tickets"}
	return &spec.Set{Databases: map[string]*spec.Database{"tickets": db}, Syncs: map[string]*spec.Sync{s.Key: s}}, s
}

func TestPrepareValid(t *testing.T) {
	set, s := testSet()
	long := strings.Repeat("é", 4500)
	rows, err := prepare(set, s, []spec.Change{
		{Key: "T-1", Properties: builder.Properties{
			"Body":   builder.RichText(long),
			"N":      builder.Number(1.5),
			"Done":   builder.Checkbox(true),
			"Prio":   builder.Select("urgent"), // Notion adds unknown select options
			"Tags":   builder.MultiSelect("a", "b"),
			"Stage":  builder.Status("Done"),
			"When":   builder.DateTimeRange(time.Unix(0, 0).UTC(), time.Unix(3600, 0).UTC()),
			"Who":    builder.People("ada@example.com"),
			"Files":  builder.File("https://example.com/a.pdf", "a.pdf"),
			"Site":   builder.URL("https://example.com"),
			"Mail":   builder.Email("a@example.com"),
			"Phone":  builder.PhoneNumber("+1 555"),
			"Where":  builder.Place(48.85, 2.35, "Paris"),
			"Parent": builder.Relation("T-0"),
		}, Icon: "🔥"},
		{Key: "T-2", Delete: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	body := rows[0].props["Body"].Text
	if len(body) != 3 || len([]rune(body[0].Content)) != 2000 || len([]rune(body[2].Content)) != 500 || body[0].Content+body[1].Content+body[2].Content != long {
		t.Fatalf("long text split into %d items", len(body))
	}
	// Notion counts UTF-16 code units: 1500 emoji are 3000 characters,
	// two items, none over 2000 units and no emoji cut in half.
	emoji := strings.Repeat("😀", 1500)
	split, err := splitText([]builder.Text{{Content: emoji}})
	if err != nil || len(split) != 2 || len([]rune(split[0].Content)) != 1000 || split[0].Content+split[1].Content != emoji {
		t.Fatalf("emoji text split into %d items (%v)", len(split), err)
	}
	if got := rows[0].props["ID"].String(); got != "T-1" {
		t.Fatalf("primary key property = %q, want it filled from the key", got)
	}
	if rows[0].hash == "" || rows[1].hash != "" {
		t.Fatalf("hashes %q %q", rows[0].hash, rows[1].hash)
	}
}

func TestPrepareHashIsContent(t *testing.T) {
	set, s := testSet()
	mk := func(body, icon string) string {
		rows, err := prepare(set, s, []spec.Change{{Key: "k", Icon: icon, Properties: builder.Properties{"Body": builder.RichText(body), "N": builder.Int(3)}}})
		if err != nil {
			t.Fatal(err)
		}
		return rows[0].hash
	}
	if mk("a", "") != mk("a", "") {
		t.Fatal("equal content hashes differently")
	}
	if mk("a", "") == mk("b", "") || mk("a", "") == mk("a", "🔥") {
		t.Fatal("different content hashes equal")
	}
}

func TestPrepareErrors(t *testing.T) {
	set, s := testSet()
	cases := []struct {
		c    spec.Change
		want string
	}{
		{spec.Change{Key: ""}, `key "": empty key`},
		{spec.Change{Key: strings.Repeat("k", 2001)}, `Notion allows 2000`},
		{spec.Change{Key: "k", Database: "nope"}, `database "nope": key "k": the target database is not declared`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Nope": builder.RichText("x")}}, `property "Nope": not a property of the database`},
		{spec.Change{Key: "k", Properties: builder.Properties{"N": builder.RichText("x")}}, `property "N": is a number property but the value is a rich_text value: build it with builder.Number`},
		{spec.Change{Key: "k", Properties: builder.Properties{"When": builder.RichText("2026-01-01")}}, `property "When": is a date property but the value is a rich_text value: build it with builder.Date or builder.DateTime`},
		{spec.Change{Key: "k", Properties: builder.Properties{"N": builder.Number(math.NaN())}}, `not a number Notion can store`},
		{spec.Change{Key: "k", Properties: builder.Properties{"ID": builder.Title("other")}}, `the primary key property is "other" but the change's key is "k"`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Body": builder.RichText(strings.Repeat("x", 2000*100+1))}}, `Notion allows 100 items`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Tags": builder.MultiSelect(make101()...)}}, `101 options chosen: Notion allows at most 100`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Tags": builder.MultiSelect("a,b")}}, `contains a comma`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Stage": builder.Status("Blocked")}}, `status "Blocked" is not one of the options ("New", "Done")`},
		{spec.Change{Key: "k", Properties: builder.Properties{"When": {Type: schema.TypeDate, Date: &builder.DateValue{Start: "yesterday"}}}}, `start "yesterday" is not an ISO 8601`},
		{spec.Change{Key: "k", Properties: builder.Properties{"When": builder.DateRange(time.Unix(86400*2, 0), time.Unix(0, 0))}}, `is before start`},
		{spec.Change{Key: "k", Properties: builder.Properties{"When": {Type: schema.TypeDate, Date: &builder.DateValue{Start: "2026-01-01", TimeZone: "Mars/Olympus"}}}}, `unknown time zone "Mars/Olympus"`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Who": builder.People("ada")}}, `"ada" is not an email address`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Files": builder.File("ftp://x", "x")}}, `is not an http(s) URL`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Site": builder.URL("https://x/" + strings.Repeat("a", 2000))}}, `the URL is 2010 characters long`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Where": builder.Place(91, 0, "")}}, `outside ±90`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Parent": builder.Relation(make101()...)}}, `101 related rows`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Parent": builder.Relation("")}}, `an empty related key`},
		{spec.Change{Key: "k", Icon: "not an emoji at all"}, `icon: "not an emoji at all" is neither one emoji nor an http(s) URL`},
		{spec.Change{Key: "k", Properties: builder.Properties{"Prio": {Type: schema.TypeSelect, Names: []string{"a", "b"}}}}, `2 options chosen: a select holds one`},
	}
	for _, tc := range cases {
		_, err := prepare(set, s, []spec.Change{tc.c})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !IsValidation(err) {
			t.Errorf("change %+v: err = %v\nwant it to contain %q", tc.c.Key, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), `sync "ticketsDelta"`) {
			t.Errorf("error %q does not name the sync", err)
		}
	}
}

func make101() []string {
	out := make([]string, 101)
	for i := range out {
		out[i] = "o" + strings.Repeat("x", i%5) + string(rune('a'+i%26))
	}
	return out
}
