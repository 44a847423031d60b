package engine_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/testutil/notiontest"
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

// benchBody is a ticket body of 40 top-level blocks; version v changes
// one paragraph.
func benchBody(row string, v int) string { return notiontest.TicketBody(row, v) }

// BenchmarkPageContent measures Notion calls per row for rows with a
// 40-block page body, through the engine (replace cycles of 200 rows
// against the emulator over HTTP): new rows (the body goes with the
// create), the first one-paragraph edit after the create (the ids of
// blocks sent with a create are not returned: they are read once), a
// one-paragraph edit from then on, an unchanged cycle, and the naive edit
// (trash every block and append the body again) for comparison.
//
// The ids are read lazily, by the first edit, on purpose: reading them
// right after each create would make a new row cost 2 calls and its first
// edit 1 — never fewer calls over a row's life, and one more for every row
// that is never edited (most tickets, once closed).
func BenchmarkPageContent(b *testing.B) {
	const rows = 200
	for range b.N {
		version := 0
		src := newSource(rows)
		src.content = func(k string) string { return benchBody(k, version) }
		e := newEnv(b, itemsWorker(src))
		if err := e.eng.Provision(context.Background()); err != nil {
			b.Fatal(err)
		}
		blocks, err := pagecontent.Convert(benchBody("x", 0))
		if err != nil || len(blocks) != 40 {
			b.Fatalf("the body has %d top-level blocks (%v), want 40", len(blocks), err)
		}
		run := func(want string) float64 {
			e.emu.ResetStats()
			res := e.cycle("itemsBackfill")
			if res.Counters[want] != rows {
				b.Fatalf("counters %v, want %d %s", res.Counters, rows, want)
			}
			calls, _ := e.calls()
			return float64(calls) / rows
		}
		b.ReportMetric(run("created"), "calls_per_new_row")
		version = 1
		b.ReportMetric(run("updated"), "calls_per_first_edit_after_create")
		version = 2
		b.ReportMetric(run("updated"), "calls_per_one_block_edit")
		b.ReportMetric(run("unchanged"), "calls_per_unchanged_row")

		// Naive: trash every top-level block, append the new body.
		ctx := context.Background()
		next, _ := pagecontent.Convert(benchBody("x", 3))
		e.emu.ResetStats()
		for i := range rows {
			page := e.pageOf("items", key(i))
			old, err := e.notion.AllBlockChildren(ctx, page)
			if err != nil {
				b.Fatal(err)
			}
			for _, bl := range old {
				if _, err := e.notion.DeleteBlock(ctx, bl.ID); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := pagecontent.Append(ctx, e.notion, page, "", next); err != nil {
				b.Fatal(err)
			}
		}
		calls, _ := e.calls()
		b.ReportMetric(float64(calls)/rows, "naive_calls_per_one_block_edit")
	}
}
