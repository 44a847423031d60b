package notion_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

func TestQueryAllPaginates(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, dsID := createDB(t, c, "Many", nil)
	const rows = 263
	parallel(t, rows, 8, func(i int) error {
		_, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled(fmt.Sprintf("row-%03d", i))})
		return err
	})
	s.ResetStats()
	seen := map[string]bool{}
	titles := map[string]bool{}
	err := c.QueryAll(ctxT(t), dsID, notion.QueryRequest{}, func(p *notion.Page) error {
		if seen[p.ID] {
			return fmt.Errorf("page %s returned twice", p.ID)
		}
		seen[p.ID] = true
		titles[p.Properties["Name"].Text()] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != rows || len(titles) != rows {
		t.Errorf("QueryAll saw %d pages (%d titles), want %d", len(seen), len(titles), rows)
	}
	if got := s.Stats().Requests; got != 3 {
		t.Errorf("QueryAll used %d requests for %d rows, want 3 (100 a request)", got, rows)
	}

	// One page at a time with an explicit size and cursor.
	first, err := c.QueryDataSource(ctxT(t), dsID, notion.QueryRequest{PageSize: 10})
	if err != nil || len(first.Results) != 10 || !first.HasMore || first.NextCursor == "" {
		t.Fatalf("first page: %d results, more %v, cursor %q, %v", len(first.Results), first.HasMore, first.NextCursor, err)
	}
	second, err := c.QueryDataSource(ctxT(t), dsID, notion.QueryRequest{PageSize: 10, StartCursor: first.NextCursor})
	if err != nil || len(second.Results) != 10 || second.Results[0].ID == first.Results[0].ID {
		t.Fatalf("second page: %+v, %v", second, err)
	}

	stop := errors.New("enough")
	n := 0
	err = c.QueryAll(ctxT(t), dsID, notion.QueryRequest{}, func(*notion.Page) error {
		if n++; n == 150 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 150 {
		t.Errorf("QueryAll after fn error: %v after %d rows", err, n)
	}
}

func TestQueryFiltersAndSorts(t *testing.T) {
	_, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	_, dsID := createDB(t, c, "Filtered", map[string]notion.PropertySchema{
		"Key":   {Type: notion.TypeTitle},
		"Body":  {Type: notion.TypeRichText},
		"N":     {Type: notion.TypeNumber},
		"Done":  {Type: notion.TypeCheckbox},
		"Prio":  {Type: notion.TypeSelect, Options: []notion.SelectOption{{Name: "high"}, {Name: "low"}}},
		"Stage": {Type: notion.TypeStatus, Options: []notion.SelectOption{{Name: "New"}, {Name: "Done"}}},
		"Due":   {Type: notion.TypeDate},
	})
	for i := range 10 {
		prio, stage := "low", "New"
		if i%3 == 0 {
			prio = "high"
		}
		if i >= 7 {
			stage = "Done"
		}
		props := map[string]notion.PropertyValue{
			"Key":   notion.TitleValue(notion.Text(fmt.Sprintf("K-%d", i))),
			"Body":  notion.RichTextValue(notion.Text(fmt.Sprintf("printer %d is on fire", i))),
			"N":     notion.NumberValue(f64(float64(i))),
			"Done":  notion.CheckboxValue(i%2 == 0),
			"Prio":  notion.SelectValue(prio),
			"Stage": notion.StatusValue(stage),
			"Due":   notion.DateValue(&notion.Date{Start: fmt.Sprintf("2024-01-%02d", i+1)}),
		}
		if i == 9 {
			props["Body"] = notion.RichTextValue()
		}
		if _, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	cond := func(prop, typ string, c notion.Condition) *notion.Filter { return notion.PropertyFilter(prop, typ, c) }
	cases := []struct {
		name string
		f    *notion.Filter
		want int
	}{
		{"title equals", notion.TextEquals("Key", notion.TypeTitle, "K-4"), 1},
		{"title starts_with", cond("Key", notion.TypeTitle, notion.Condition{StartsWith: "K-"}), 10},
		{"rich_text contains", cond("Body", notion.TypeRichText, notion.Condition{Contains: "is on fire"}), 9},
		{"rich_text is_empty", cond("Body", notion.TypeRichText, notion.Condition{IsEmpty: true}), 1},
		{"number equals", cond("N", notion.TypeNumber, notion.Condition{Equals: 3.0}), 1},
		{"number greater_than", cond("N", notion.TypeNumber, notion.Condition{GreaterThan: f64(6)}), 3},
		{"number <=", cond("N", notion.TypeNumber, notion.Condition{LessOrEqual: f64(1)}), 2},
		{"checkbox", cond("Done", notion.TypeCheckbox, notion.Condition{Equals: true}), 5},
		{"select", cond("Prio", notion.TypeSelect, notion.Condition{Equals: "high"}), 4},
		{"select does_not_equal", cond("Prio", notion.TypeSelect, notion.Condition{DoesNotEqual: "high"}), 6},
		{"status", cond("Stage", notion.TypeStatus, notion.Condition{Equals: "Done"}), 3},
		{"date on_or_after", cond("Due", notion.TypeDate, notion.Condition{OnOrAfter: "2024-01-08"}), 3},
		{"date before", cond("Due", notion.TypeDate, notion.Condition{Before: "2024-01-03"}), 2},
		{"and", notion.And(cond("Done", notion.TypeCheckbox, notion.Condition{Equals: true}), cond("Prio", notion.TypeSelect, notion.Condition{Equals: "high"})), 2},
		{"or", notion.Or(notion.TextEquals("Key", notion.TypeTitle, "K-1"), notion.TextEquals("Key", notion.TypeTitle, "K-2")), 2},
		{"nested", notion.And(cond("N", notion.TypeNumber, notion.Condition{GreaterThan: f64(2)}),
			notion.Or(cond("Stage", notion.TypeStatus, notion.Condition{Equals: "Done"}), cond("Prio", notion.TypeSelect, notion.Condition{Equals: "high"}))), 5}, // 3, 6, 7, 8, 9
		{"timestamp", notion.TimestampFilter("created_time", notion.Condition{After: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}), 10},
		{"timestamp future", notion.TimestampFilter("last_edited_time", notion.Condition{After: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), 0},
	}
	for _, tc := range cases {
		if got := countRows(t, c, dsID, tc.f); got != tc.want {
			t.Errorf("%s: %d rows, want %d (filter %s)", tc.name, got, tc.want, js(tc.f))
		}
	}

	list, err := c.QueryDataSource(ctx, dsID, notion.QueryRequest{Sorts: []notion.Sort{{Property: "N", Direction: notion.Descending}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range list.Results {
		if n := p.Properties["N"].Number; n == nil || *n != float64(9-i) {
			t.Fatalf("sorted by N desc: row %d has N %v", i, n)
		}
	}
	list, err = c.QueryDataSource(ctx, dsID, notion.QueryRequest{Sorts: []notion.Sort{
		{Property: "Prio", Direction: notion.Ascending}, {Property: "Key", Direction: notion.Descending}}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range list.Results {
		keys = append(keys, p.Properties["Key"].Text())
	}
	// Select sorts by option order (high before low), then by Key descending.
	if want := "[K-9 K-6 K-3 K-0 K-8 K-7 K-5 K-4 K-2 K-1]"; fmt.Sprint(keys) != want {
		t.Errorf("sorted by Prio, Key desc: %v, want %s", keys, want)
	}
	list, err = c.QueryDataSource(ctx, dsID, notion.QueryRequest{Sorts: []notion.Sort{{Timestamp: "created_time", Direction: notion.Ascending}}})
	if err != nil || len(list.Results) != 10 || list.Results[0].Properties["Key"].Text() != "K-0" {
		t.Errorf("sorted by created_time: %v first %q", err, list.Results[0].Properties["Key"].Text())
	}
}
