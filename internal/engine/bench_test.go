package engine_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/engine"
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

// BenchmarkLargeDatabase measures a database of 100,000 rows in the
// emulator, under Notion's real 10,000-result query cap: the index
// rebuild after Redis lost its data (queries made, rows found, seconds),
// then the replace cycle that rebuild serves, with 1% of the rows changed
// upstream (writes and creates: the rebuilt index knows every row's
// content hash, so only the changed rows are written).
func BenchmarkLargeDatabase(b *testing.B) {
	const rows = 100_000
	for range b.N {
		src := newSource(rows)
		src.pageSize = 1000
		e := newEnvWith(b, itemsWorker(src), envOptions{engine: func(c *engine.Config) { c.WriteConcurrency = 16 }})
		start := time.Now()
		if res := e.cycle("itemsBackfill"); res.Counters["created"] != rows {
			b.Fatalf("backfill: %v", res.Counters)
		}
		b.ReportMetric(time.Since(start).Seconds(), "backfill_s")

		ctx := context.Background()
		if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		e.eng = e.newEngine()
		src.mu.Lock()
		for i := 0; i < rows; i += 100 { // 1%
			src.items[key(i)] = item{Body: "changed " + strconv.Itoa(i), N: float64(i)}
		}
		src.mu.Unlock()
		e.emu.ResetStats()
		rebuilt := &rebuildClock{}
		start = time.Now()
		res := e.run(e.eng, "itemsBackfill", slog.New(rebuilt))
		cycle := time.Since(start)
		st := e.emu.Stats()
		at, found := rebuilt.result()
		if at.IsZero() {
			b.Fatal("the cycle after the flush did not rebuild the index")
		}
		b.ReportMetric(float64(st.ByRoute["POST /v1/data_sources/{id}/query"]), "rebuild_queries")
		b.ReportMetric(float64(found), "rebuild_rows")
		b.ReportMetric(at.Sub(start).Seconds(), "rebuild_s")
		b.ReportMetric(float64(st.ByRoute["PATCH /v1/pages/{id}"]), "cycle_writes")
		b.ReportMetric(float64(st.ByRoute["POST /v1/pages"]), "cycle_creates")
		b.ReportMetric(cycle.Seconds(), "cycle_s")
		if res.Counters["updated"] != rows/100 || res.Counters["created"] != 0 {
			b.Errorf("cycle after the rebuild: counters %v, want %d updated and nothing created", res.Counters, rows/100)
		}
		if n, _ := e.rdb.IndexLen(ctx, "items"); n != rows {
			b.Errorf("index holds %d keys, want %d", n, rows)
		}
	}
}

// rebuildClock is a log handler noting when the index rebuild's line
// came, and the rows it found.
type rebuildClock struct {
	mu   sync.Mutex
	at   time.Time
	rows int64
}

func (h *rebuildClock) Enabled(context.Context, slog.Level) bool { return true }
func (h *rebuildClock) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "rebuilt the index") {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at = time.Now()
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "rows" {
			h.rows = a.Value.Int64()
		}
		return true
	})
	return nil
}
func (h *rebuildClock) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *rebuildClock) WithGroup(string) slog.Handler      { return h }

func (h *rebuildClock) result() (time.Time, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at, h.rows
}
