package engine_test

import (
	"context"
	"fmt"
	"sync"
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

// BenchmarkAdoptExisting measures what syncing into a database people
// already have costs in Notion calls: adopting a 10,000-row database at
// first start (reads, writes), then the first run after adoption with 1 %
// of the rows changed upstream (calls per row).
func BenchmarkAdoptExisting(b *testing.B) {
	const rows = 10_000
	ctx := context.Background()
	for range b.N {
		e := newEnv(b, synq.NewWorker(synq.WorkerConfig{Name: "adopt"}))
		db, err := e.notion.CreateDatabase(ctx, notion.CreateDatabaseRequest{ParentPageID: notiontest.ParentPageID(), Title: "Big", Properties: map[string]notion.PropertySchema{
			"Name": {Type: notion.TypeTitle}, "Points": {Type: notion.TypeNumber, Format: "number"}, "Notes": {Type: notion.TypeRichText},
		}})
		if err != nil {
			b.Fatal(err)
		}
		ds := db.DataSources[0].ID
		// People's rows, 8 writers at a time.
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= rows; i = next.Add(1) {
					n := float64(i % 50)
					_, err := e.notion.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: map[string]notion.PropertyValue{
						"Name": notion.TitleValue(notion.Text(fmt.Sprintf("R-%05d", i))), "Points": notion.NumberValue(&n),
						"Notes": notion.RichTextValue(notion.Text("a person's note")),
					}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		var changed atomic.Bool
		w := synq.NewWorker(synq.WorkerConfig{Name: "adopt"})
		d := w.Database("big", synq.DatabaseConfig{Existing: db.URL, PrimaryKey: "Name", Schema: schema.Properties{"Name": schema.Title(), "Points": schema.Number()}})
		synq.AddSync(w, "bigSync", synq.SyncConfig[struct{ Page int }]{Database: d, Schedule: "manual",
			Execute: func(ctx context.Context, s *struct{ Page int }) (synq.Result[struct{ Page int }], error) {
				res := synq.Result[struct{ Page int }]{HasMore: (s.Page+1)*100 < rows, NextState: &struct{ Page int }{s.Page + 1}}
				for i := s.Page*100 + 1; i <= (s.Page+1)*100; i++ {
					n := float64(i % 50)
					if changed.Load() && i%100 == 0 { // 1 %
						n += 1000
					}
					res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("R-%05d", i), builder.Properties{"Points": builder.Number(n)}))
				}
				return res, nil
			}})
		set, err := w.Spec(spec.Access{})
		if err != nil {
			b.Fatal(err)
		}
		e.set = set
		eng, err := engine.New(engine.Config{Redis: e.rdb, Notion: e.notion, Set: set, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		e.emu.ResetStats()
		if err := eng.Provision(ctx); err != nil {
			b.Fatal(err)
		}
		st := e.emu.Stats()
		b.ReportMetric(float64(st.Requests-st.Writes), "adopt_reads")
		b.ReportMetric(float64(st.Writes), "adopt_writes")
		changed.Store(true)
		e.emu.ResetStats()
		res := e.run(eng, "bigSync", quiet)
		st = e.emu.Stats()
		if res.Counters["created"] != 0 || res.Counters["updated"] != rows/100 {
			b.Fatalf("first run after adoption: %v", res.Counters)
		}
		b.ReportMetric(float64(st.Requests)/rows, "first_run_calls_per_row")
		b.ReportMetric(float64(st.Writes), "first_run_writes")
	}
}
