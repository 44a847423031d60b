package notiontest

import (
	"context"
	"fmt"

	"github.com/synqhq/synq/internal/notion"
)

// Backlog is a database people already have, made over the API as a
// person's edits make it (the tests of syncing into an existing database
// play the people's side with it): a title "Name" holding the key, the
// columns a sync declares ("Status" select, "Points" number), three
// columns people filled in ("Notes" rich text, "Reviewed" checkbox,
// "Priority" select), one whose type conflicts with the sync's
// ("Estimate", rich text where the sync wants a number), BacklogKeyed rows
// with keys T-001…, BacklogKeyless rows with an empty key, and, created
// after them, a second row for each key of BacklogDuplicates.
type Backlog struct {
	DatabaseID, DataSourceID, URL string
	// Keyed maps each key to the page id of its (oldest) row.
	Keyed map[string]string
	// Keyless and Duplicates are the page ids of the rows synq must leave
	// alone.
	Keyless, Duplicates []string
}

// Sizes of the Backlog.
const (
	BacklogKeyed   = 50
	BacklogKeyless = 5
)

// BacklogDuplicates are the keys the Backlog has twice.
var BacklogDuplicates = []string{"T-003", "T-007"}

// BacklogExtra are the columns of the Backlog that people own.
var BacklogExtra = []string{"Notes", "Reviewed", "Priority"}

// BacklogKey is the key of the Backlog's i-th row (1-based).
func BacklogKey(i int) string { return fmt.Sprintf("T-%03d", i) }

// BacklogStatus and BacklogPoints are the values of the Backlog's i-th row
// in the columns a sync declares.
func BacklogStatus(i int) string { return []string{"Open", "Done"}[i%2] }

// BacklogPoints: see BacklogStatus.
func BacklogPoints(i int) float64 { return float64(i % 8) }

// SeedBacklog creates the Backlog under ParentPageID.
func SeedBacklog(ctx context.Context, c *notion.Client) (*Backlog, error) {
	opts := func(names ...string) []notion.SelectOption {
		out := make([]notion.SelectOption, len(names))
		for i, n := range names {
			out[i] = notion.SelectOption{Name: n}
		}
		return out
	}
	db, err := c.CreateDatabase(ctx, notion.CreateDatabaseRequest{ParentPageID: ParentPageID(), Title: "Backlog", Properties: map[string]notion.PropertySchema{
		"Name":     {Type: notion.TypeTitle},
		"Status":   {Type: notion.TypeSelect, Options: opts("Open", "Done")},
		"Points":   {Type: notion.TypeNumber, Format: "number"},
		"Notes":    {Type: notion.TypeRichText},
		"Reviewed": {Type: notion.TypeCheckbox},
		"Priority": {Type: notion.TypeSelect, Options: opts("P1", "P2", "P3")},
		"Estimate": {Type: notion.TypeRichText},
	}})
	if err != nil {
		return nil, fmt.Errorf("notiontest: create the Backlog: %w", err)
	}
	b := &Backlog{DatabaseID: db.ID, DataSourceID: db.DataSources[0].ID, URL: db.URL, Keyed: map[string]string{}}
	add := func(key, notes string, i int) (string, error) {
		n := BacklogPoints(i)
		p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: b.DataSourceID, Properties: map[string]notion.PropertyValue{
			"Name":     notion.TitleValue(notion.Text(key)),
			"Status":   notion.SelectValue(BacklogStatus(i)),
			"Points":   notion.NumberValue(&n),
			"Notes":    notion.RichTextValue(notion.Text(notes)),
			"Reviewed": notion.CheckboxValue(i%3 == 0),
			"Priority": notion.SelectValue(fmt.Sprintf("P%d", 1+i%3)),
			"Estimate": notion.RichTextValue(notion.Text(fmt.Sprintf("%dd", 1+i%5))),
		}})
		if err != nil {
			return "", fmt.Errorf("notiontest: add row %q to the Backlog: %w", key, err)
		}
		return p.ID, nil
	}
	for i := 1; i <= BacklogKeyed; i++ {
		id, err := add(BacklogKey(i), fmt.Sprintf("note %d, written by a person", i), i)
		if err != nil {
			return nil, err
		}
		b.Keyed[BacklogKey(i)] = id
	}
	for i := range BacklogKeyless {
		id, err := add("", fmt.Sprintf("an idea without a key (%d)", i), i)
		if err != nil {
			return nil, err
		}
		b.Keyless = append(b.Keyless, id)
	}
	for _, k := range BacklogDuplicates {
		id, err := add(k, "a copy someone made", 1)
		if err != nil {
			return nil, err
		}
		b.Duplicates = append(b.Duplicates, id)
	}
	return b, nil
}
