package emulator_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

func TestParseLatency(t *testing.T) {
	for in, want := range map[string]emulator.Latency{
		"":            {},
		"0":           {},
		"300ms":       {Min: 300 * time.Millisecond},
		"200ms-400ms": {Min: 200 * time.Millisecond, Max: 400 * time.Millisecond},
		" 1s - 2s ":   {Min: time.Second, Max: 2 * time.Second},
	} {
		got, err := emulator.ParseLatency(in)
		if err != nil || got != want {
			t.Errorf("ParseLatency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "400ms-200ms", "-1s", "200ms-", "1s-x"} {
		if _, err := emulator.ParseLatency(bad); err == nil {
			t.Errorf("ParseLatency(%q) accepted", bad)
		}
	}
	if _, err := emulator.New(emulator.Config{Latency: emulator.Latency{Min: time.Second, Max: time.Millisecond}}); err == nil {
		t.Error("New accepted a latency range upside down")
	}
	if _, err := emulator.New(emulator.Config{QueryResultLimit: -1}); err == nil {
		t.Error("New accepted a negative query result limit")
	}
}

// TestLatency: every request takes at least the latency's lower bound,
// concurrent requests are delayed side by side (not queued), and the
// stats count how many were in flight at once.
func TestLatency(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{Latency: emulator.Latency{Min: 200 * time.Millisecond, Max: 400 * time.Millisecond}})
	c := newClient(t, s)
	began := time.Now()
	if _, err := c.ListUsers(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("a request took %v under --latency 200ms-400ms", took)
	}
	s.ResetStats()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.ListUsers(context.Background(), ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.MaxInFlight < 2 {
		t.Errorf("8 concurrent requests: at most %d in flight at once, want them served side by side", st.MaxInFlight)
	}
	if st.InFlight != 0 {
		t.Errorf("%d requests still counted in flight after all answered", st.InFlight)
	}
	s.SetLatency(emulator.Latency{})
	if _, err := c.ListUsers(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

// TestQueryResultLimit: a query past the cap stops at it exactly as
// Notion documents (has_more false, no cursor, request_status incomplete
// on every page of the capped query); a query under the cap carries no
// request_status; a new query (another filter) gets its own cap.
func TestQueryResultLimit(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{QueryResultLimit: 25})
	c := newClient(t, s)
	ds := mkDB(t, c, "Big", nil)
	for i := range 60 {
		mkPage(t, c, ds, fmt.Sprintf("row %02d", i), nil)
	}
	h := s.Handler()
	path := "/v1/data_sources/" + ds + "/query"
	incomplete := map[string]any{"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}

	code, first := call(t, h, "POST", path, `{"page_size": 10}`, nil)
	if code != 200 || first["has_more"] != true || !reflect.DeepEqual(first["request_status"], incomplete) {
		t.Fatalf("first page of a capped query: %d has_more=%v request_status=%v", code, first["has_more"], first["request_status"])
	}
	seen := len(first["results"].([]any))
	cursor := first["next_cursor"].(string)
	var last map[string]any
	for {
		_, last = call(t, h, "POST", path, fmt.Sprintf(`{"page_size": 10, "start_cursor": %q}`, cursor), nil)
		seen += len(last["results"].([]any))
		if !reflect.DeepEqual(last["request_status"], incomplete) {
			t.Fatalf("a page of a capped query without request_status incomplete: %v", last["request_status"])
		}
		if last["has_more"] != true {
			break
		}
		cursor = last["next_cursor"].(string)
	}
	if seen != 25 || last["next_cursor"] != nil {
		t.Errorf("capped query returned %d rows (next_cursor %v), want the cap, 25, and a null cursor", seen, last["next_cursor"])
	}

	// A created_time window past the last row seen is a new query.
	res := last["results"].([]any)
	lastCreated := res[len(res)-1].(map[string]any)["created_time"].(string)
	_, win := call(t, h, "POST", path, fmt.Sprintf(`{"filter": {"timestamp": "created_time", "created_time": {"on_or_after": %q}},
		"sorts": [{"timestamp": "created_time", "direction": "ascending"}]}`, lastCreated), nil)
	if n := len(win["results"].([]any)); n == 0 || n > 25 {
		t.Errorf("window query returned %d rows", n)
	}

	// Under the cap: no request_status at all.
	s.SetQueryResultLimit(100)
	_, all := call(t, h, "POST", path, `{}`, nil)
	if _, ok := all["request_status"]; ok || len(all["results"].([]any)) != 60 || all["has_more"] != false {
		t.Errorf("uncapped query: %d rows, has_more %v, request_status %v", len(all["results"].([]any)), all["has_more"], all["request_status"])
	}
}
