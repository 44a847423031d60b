package notion_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

// TestQueryAllReadsPastTheResultLimit: with the emulator's cap lowered to
// 25, a data source of 137 rows is read whole, each row once, in
// created_time windows; a filter is kept in every window; a plain query
// shows the cap (what QueryAll gets past).
func TestQueryAllReadsPastTheResultLimit(t *testing.T) {
	s, c := start(t, emulator.Config{QueryResultLimit: 25})
	_, dsID := createDB(t, c, "Big", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}})
	const rows = 137
	// Eight writers at once: rows share created_time milliseconds.
	parallel(t, rows, 8, func(i int) error {
		props := titled(fmt.Sprintf("row-%03d", i))
		props["N"] = notion.NumberValue(f64(float64(i % 2)))
		_, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: props})
		return err
	})

	first, err := c.QueryDataSource(ctxT(t), dsID, notion.QueryRequest{})
	if err != nil || !first.Incomplete() || first.HasMore || len(first.Results) != 25 {
		t.Fatalf("a plain query: %d rows, has_more %v, request_status %+v, %v; want the cap, 25, marked incomplete",
			len(first.Results), first.HasMore, first.RequestStatus, err)
	}
	if first.RequestStatus.IncompleteReason != "query_result_limit_reached" {
		t.Errorf("incomplete_reason %q", first.RequestStatus.IncompleteReason)
	}

	s.ResetStats()
	seen := map[string]int{}
	st, err := c.QueryAllStats(ctxT(t), dsID, notion.QueryRequest{}, func(p *notion.Page) error {
		seen[p.Properties["Name"].Text()]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("row %s passed %d times", name, n)
		}
	}
	if len(seen) != rows || st.Rows != rows {
		t.Errorf("QueryAll saw %d rows (stats %d), want %d", len(seen), st.Rows, rows)
	}
	if st.Windows < 6 {
		t.Errorf("QueryAll used %d windows for %d rows under a cap of 25, want at least 6", st.Windows, rows)
	}
	if got := s.Stats().ByRoute["POST /v1/data_sources/{id}/query"]; got != int64(st.Requests) {
		t.Errorf("the emulator served %d queries, QueryAll counted %d", got, st.Requests)
	}
	t.Logf("%d rows, cap 25: %d windows, %d requests", rows, st.Windows, st.Requests)

	// A filter stays in every window.
	odd := 0
	err = c.QueryAll(ctxT(t), dsID, notion.QueryRequest{Filter: notion.PropertyFilter("N", notion.TypeNumber, notion.Condition{Equals: 1.0})}, func(p *notion.Page) error {
		if v := p.Properties["N"].Number; v == nil || *v != 1 {
			t.Errorf("row %s does not match the filter", p.Properties["Name"].Text())
		}
		odd++
		return nil
	})
	if err != nil || odd != rows/2 {
		t.Errorf("filtered QueryAll: %d rows, %v; want %d", odd, err, rows/2)
	}

	if err := c.QueryAll(ctxT(t), dsID, notion.QueryRequest{Sorts: []notion.Sort{{Property: "N", Direction: notion.Ascending}}}, func(*notion.Page) error { return nil }); err == nil {
		t.Error("QueryAll accepted sorts it cannot keep")
	}
}

// fakeQueries serves a data source query from a scripted list of pages of
// rows (created_time, id), the way a server may: request_status only on a
// query's first page, or rows sharing one created_time.
type fakeQueries struct {
	rows  []fakeRow // in created_time order
	limit int
	// statusFirstOnly sends request_status on a capped query's first page only.
	statusFirstOnly bool
	requests        atomic.Int64
}

type fakeRow struct {
	id      string
	created time.Time
}

func (f *fakeQueries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var body struct {
		Filter struct {
			CreatedTime struct {
				OnOrAfter string `json:"on_or_after"`
			} `json:"created_time"`
		} `json:"filter"`
		StartCursor string `json:"start_cursor"`
		PageSize    int    `json:"page_size"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	var from time.Time
	if s := body.Filter.CreatedTime.OnOrAfter; s != "" {
		from, _ = time.Parse(time.RFC3339Nano, s)
	}
	var match []fakeRow
	for _, row := range f.rows {
		if !row.created.Before(from) {
			match = append(match, row)
		}
	}
	capped := len(match) > f.limit
	if capped {
		match = match[:f.limit]
	}
	at := 0
	if body.StartCursor != "" {
		fmt.Sscan(body.StartCursor, &at)
	}
	end := min(at+body.PageSize, len(match))
	var results []map[string]any
	for _, row := range match[at:end] {
		results = append(results, map[string]any{"object": "page", "id": row.id, "created_time": row.created.Format(time.RFC3339Nano), "properties": map[string]any{}})
	}
	resp := map[string]any{"object": "list", "results": results, "has_more": end < len(match), "next_cursor": nil}
	if end < len(match) {
		resp["next_cursor"] = fmt.Sprint(end)
	}
	if capped && (!f.statusFirstOnly || at == 0) {
		resp["request_status"] = map[string]any{"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func fakeClient(t *testing.T, h http.Handler) *notion.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := notion.New(notion.Config{BaseURL: srv.URL, Token: "t", Timeout: 5 * time.Second, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func minutes(n, perMinute int) []fakeRow {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]fakeRow, n)
	for i := range rows {
		// Notion's created_time is rounded to the minute: perMinute rows share each.
		rows[i] = fakeRow{id: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), created: t0.Add(time.Duration(i/perMinute) * time.Minute)}
	}
	return rows
}

// TestQueryAllWindowsOnMinuteTimestamps: created_time at minute
// precision (rows sharing it across a window's edge), the incomplete
// signal only on a query's first page: every row once.
func TestQueryAllWindowsOnMinuteTimestamps(t *testing.T) {
	f := &fakeQueries{rows: minutes(1000, 7), limit: 250, statusFirstOnly: true}
	c := fakeClient(t, f)
	seen := map[string]int{}
	st, err := c.QueryAllStats(ctxT(t), "11111111-2222-4333-8444-555555555555", notion.QueryRequest{}, func(p *notion.Page) error {
		seen[p.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != 1000 || dups != 0 {
		t.Errorf("QueryAll saw %d rows with %d duplicates, want 1000 and none", len(seen), dups)
	}
	if st.Windows < 4 {
		t.Errorf("%d windows, want at least 4 for 1000 rows under a cap of 250", st.Windows)
	}
}

// TestQueryAllStuckWindowIsAnError: more rows than the cap share one
// created_time: no window can get past them, and QueryAll says so
// instead of looping or returning part of the rows as if whole.
func TestQueryAllStuckWindowIsAnError(t *testing.T) {
	f := &fakeQueries{rows: minutes(300, 200), limit: 150}
	c := fakeClient(t, f)
	err := c.QueryAll(ctxT(t), "11111111-2222-4333-8444-555555555555", notion.QueryRequest{}, func(*notion.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "result limit") {
		t.Fatalf("QueryAll over 200 rows sharing a created_time under a cap of 150: %v", err)
	}
	if n := f.requests.Load(); n > 10 {
		t.Errorf("QueryAll sent %d requests before giving up", n)
	}
}
