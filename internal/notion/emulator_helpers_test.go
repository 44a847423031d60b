package notion_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

var testUsers = []emulator.User{
	{ID: "6a1c3f0e-0d6a-4f43-9d0a-3f6f2b1e9a01", Name: "Ada Lovelace", Email: "ada@example.com"},
	{ID: "6a1c3f0e-0d6a-4f43-9d0a-3f6f2b1e9a02", Name: "Grace Hopper", Email: "grace@example.com"},
	{ID: "6a1c3f0e-0d6a-4f43-9d0a-3f6f2b1e9a03", Name: "Sync Bot", Bot: true},
}

// start runs an emulator and returns it with a client on it. mod adjusts
// the client's config.
func start(t testing.TB, cfg emulator.Config, mod ...func(*notion.Config)) (*emulator.Server, *notion.Client) {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = testUsers
	}
	s := notiontest.Start(t, cfg)
	return s, client(t, s, mod...)
}

func client(t testing.TB, s *emulator.Server, mod ...func(*notion.Config)) *notion.Client {
	t.Helper()
	cfg := notion.Config{
		BaseURL: s.URL(),
		Token:   notiontest.Token,
		Timeout: 5 * time.Second,
		Backoff: 5 * time.Millisecond,
		Logger:  slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := notion.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createDB creates a database with props (a "Name" title is added when no
// title is given) and returns its data source id.
func createDB(t testing.TB, c *notion.Client, title string, props map[string]notion.PropertySchema) (*notion.Database, string) {
	t.Helper()
	if props == nil {
		props = map[string]notion.PropertySchema{}
	}
	hasTitle := false
	for _, p := range props {
		hasTitle = hasTitle || p.Type == notion.TypeTitle
	}
	if !hasTitle {
		props["Name"] = notion.PropertySchema{Type: notion.TypeTitle}
	}
	db, err := c.CreateDatabase(ctxT(t), notion.CreateDatabaseRequest{ParentPageID: notiontest.ParentPageID(), Title: title, Properties: props})
	if err != nil {
		t.Fatalf("create database %q: %v", title, err)
	}
	if len(db.DataSources) != 1 || db.DataSources[0].ID == "" {
		t.Fatalf("database %q has data sources %+v", title, db.DataSources)
	}
	return db, db.DataSources[0].ID
}

func titled(name string) map[string]notion.PropertyValue {
	return map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text(name))}
}

func f64(v float64) *float64 { return &v }

// countRows counts the rows of a data source matching f.
func countRows(t testing.TB, c *notion.Client, dsID string, f *notion.Filter) int {
	t.Helper()
	n := 0
	if err := c.QueryAll(ctxT(t), dsID, notion.QueryRequest{Filter: f}, func(*notion.Page) error { n++; return nil }); err != nil {
		t.Fatalf("query %s: %v", dsID, err)
	}
	return n
}

// parallel runs fn(i) for i in [0, n) on w workers and fails on the first error.
func parallel(t testing.TB, n, w int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range w {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- fmt.Errorf("item %d: %w", i, err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// raw sends a hand-made request, to reach error paths the client never
// produces.
func raw(t testing.TB, s *emulator.Server, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func sameID(a, b string) bool {
	return a != "" && strings.ReplaceAll(a, "-", "") == strings.ReplaceAll(b, "-", "")
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
