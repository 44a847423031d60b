package pagecontent_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// benchBody is a ticket body of 40 top-level blocks; version v changes
// one paragraph.
func benchBody(row, v int) string { return notiontest.TicketBody(strconv.Itoa(row), v) }

// BenchmarkPageContent measures Notion requests per row for bodies of 40
// top-level blocks against the emulator over HTTP: a new row (the body
// goes with the create), the first edit after a create (block ids looked
// up once: a create does not return them), a one-paragraph edit, an
// unchanged row, and the naive edit (trash every block, append the body
// again).
func BenchmarkPageContent(b *testing.B) {
	const rows = 25
	for range b.N {
		e := newEnv(b)
		ctx := ctxT(b)
		pages := make([]string, rows)
		refs := make([][]pagecontent.Ref, rows)
		bodies := make([][]notion.Block, rows)
		convert := func(md string) []notion.Block {
			bs, err := pagecontent.Convert(md)
			if err != nil {
				b.Fatal(err)
			}
			return bs
		}
		if n := len(convert(benchBody(0, 0))); n != 40 {
			b.Fatalf("the body has %d top-level blocks, want 40", n)
		}
		e.calls()
		for r := range rows {
			bodies[r] = convert(benchBody(r, 0))
			pg, rf, err := pagecontent.CreatePage(ctx, e.c, e.row(fmt.Sprint(r)), bodies[r])
			if err != nil {
				b.Fatal(err)
			}
			pages[r], refs[r] = pg.ID, rf
		}
		b.ReportMetric(float64(e.calls())/rows, "calls_per_new_row")

		edit := func(v int) float64 {
			for r := range rows {
				next := convert(benchBody(r, v))
				rf, err := pagecontent.Apply(ctx, e.c, pages[r], refs[r], next, pagecontent.ApplyOptions{})
				if err != nil {
					b.Fatal(err)
				}
				refs[r], bodies[r] = rf, next
			}
			return float64(e.calls()) / rows
		}
		b.ReportMetric(edit(1), "calls_per_first_edit_after_create")
		b.ReportMetric(edit(2), "calls_per_one_block_edit")

		// Unchanged: the row's content hash covers the body hash, so the
		// engine skips the row; Apply on an equal body also sends nothing.
		skipped := 0
		for r := range rows {
			next := convert(benchBody(r, 2))
			if pagecontent.BodyHash(next) == pagecontent.BodyHash(bodies[r]) {
				skipped++
			}
			if _, err := pagecontent.Apply(ctx, e.c, pages[r], refs[r], next, pagecontent.ApplyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		if skipped != rows {
			b.Fatalf("%d of %d unchanged bodies hash equal", skipped, rows)
		}
		b.ReportMetric(float64(e.calls())/rows, "calls_per_unchanged_row")

		// Naive: trash every top-level block, append the new body.
		for r := range rows {
			for _, ref := range refs[r] {
				if _, err := e.c.DeleteBlock(ctx, ref.ID); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := pagecontent.Append(ctx, e.c, pages[r], "", convert(benchBody(r, 3))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(e.calls())/rows, "naive_calls_per_one_block_edit")
	}
}
