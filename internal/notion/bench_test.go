package notion_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

// BenchmarkClient measures create, update and query round trips through
// the client and the emulator on loopback.
func BenchmarkClient(b *testing.B) {
	_, c := start(b, emulator.Config{})
	_, dsID := createDB(b, c, "Bench", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}, "Body": {Type: notion.TypeRichText}})
	ctx := ctxT(b)
	b.ResetTimer()
	began := time.Now()
	ops := 0
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("k-%d", i)
		p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
			"Name": notion.TitleValue(notion.Text(key)), "Body": notion.RichTextValue(notion.Text("some body text")), "N": notion.NumberValue(f64(1)),
		}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"N": notion.NumberValue(f64(float64(i)))}}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.QueryDataSource(ctx, dsID, notion.QueryRequest{Filter: notion.TextEquals("Name", notion.TypeTitle, key), PageSize: 1}); err != nil {
			b.Fatal(err)
		}
		ops += 3
	}
	b.ReportMetric(float64(ops)/time.Since(began).Seconds(), "ops/s")
}
