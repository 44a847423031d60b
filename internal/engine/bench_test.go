package engine_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/synqhq/synq/internal/notion"
)

// BenchmarkNotionCallsPerRow measures what the key index and content hash
// save: Notion calls per row for a 10,000-row replace cycle with 1% of the
// rows changed, and with nothing changed, against the naive way (look each
// key up with a query, then write the row).
func BenchmarkNotionCallsPerRow(b *testing.B) {
	const rows = 10000
	for range b.N {
		src := newSource(rows)
		e := newEnv(b, itemsWorker(src))
		e.cycle("itemsBackfill") // initial load: one create per row

		change := func(tag string) {
			src.mu.Lock()
			defer src.mu.Unlock()
			for i := 0; i < rows; i += 100 { // 1%
				src.items[key(i)] = item{Body: tag + " " + strconv.Itoa(i), N: float64(i)}
			}
		}
		change("changed")
		e.emu.ResetStats()
		res := e.cycle("itemsBackfill")
		calls, _ := e.calls()
		changed := res.Counters["updated"]
		if changed != rows/100 {
			b.Fatalf("%d rows updated, want %d", changed, rows/100)
		}
		b.ReportMetric(float64(calls)/float64(changed), "calls_per_changed_row")

		e.emu.ResetStats()
		e.cycle("itemsBackfill")
		calls, _ = e.calls()
		b.ReportMetric(float64(calls)/rows, "unchanged_cycle_calls_per_row")

		// The naive way on another 1%-changed cycle.
		change("naive")
		ids, _, _ := e.rdb.GetDatabase(context.Background(), "items")
		e.emu.ResetStats()
		ctx := context.Background()
		cur := &cursor{}
		for {
			page, err := src.page(ctx, cur)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range page.Changes {
				list, err := e.notion.QueryDataSource(ctx, ids.DataSourceID, notion.QueryRequest{Filter: notion.TextEquals("ID", "title", c.Key()), PageSize: 1})
				if err != nil {
					b.Fatal(err)
				}
				props := map[string]notion.PropertyValue{"Body": notion.RichTextValue(notion.Text(c.Properties()["Body"].String()))}
				if len(list.Results) == 0 {
					props["ID"] = notion.TitleValue(notion.Text(c.Key()))
					_, err = e.notion.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ids.DataSourceID, Properties: props})
				} else {
					_, err = e.notion.UpdatePage(ctx, list.Results[0].ID, notion.UpdatePageRequest{Properties: props})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if !page.HasMore {
				break
			}
			cur = page.NextState
		}
		calls, _ = e.calls()
		b.ReportMetric(float64(calls)/rows, "naive_calls_per_row")
	}
}
