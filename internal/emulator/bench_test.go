package emulator_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// BenchmarkEmulatorWrites measures page writes per second through the
// client and the emulator on loopback, with the rate limit off and a data
// directory set (every write appended to the data log), from 8 writers:
// half creates, half updates. The emulator must never be what limits a
// benchmark of synq, so this must stay well above the 3 writes/s Notion
// allows (the target is ≥ 3000/s on a 2-core machine).
func BenchmarkEmulatorWrites(b *testing.B) {
	s := notiontest.Start(b, emulator.Config{DataDir: b.TempDir()})
	c, err := notion.New(notion.Config{BaseURL: s.URL(), Token: notiontest.Token, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := c.CreateDatabase(ctx, notion.CreateDatabaseRequest{ParentPageID: notiontest.ParentPageID(), Title: "Bench",
		Properties: map[string]notion.PropertySchema{"Name": {Type: notion.TypeTitle}, "N": {Type: notion.TypeNumber},
			"Body": {Type: notion.TypeRichText}, "Tag": {Type: notion.TypeSelect}}})
	if err != nil {
		b.Fatal(err)
	}
	dsID := db.DataSources[0].ID
	const writers = 8
	var next atomic.Int64
	var writes atomic.Int64
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("key-%d", i)
				p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
					"Name": notion.TitleValue(notion.Text(key)), "Body": notion.RichTextValue(notion.Text("the printer on floor 3 is on fire again")),
					"N": notion.NumberValue(ptr(float64(i))), "Tag": notion.SelectValue("bench"),
				}})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{
					"N": notion.NumberValue(ptr(float64(-i)))}}); err != nil {
					errs <- err
					return
				}
				writes.Add(2)
			}
		})
	}
	wg.Wait()
	el := time.Since(began)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(writes.Load())/el.Seconds(), "writes_per_s")
	if st := s.Stats(); st.Writes < writes.Load() {
		b.Fatalf("emulator counted %d writes, client made %d", st.Writes, writes.Load())
	}
}

func ptr[T any](v T) *T { return &v }
