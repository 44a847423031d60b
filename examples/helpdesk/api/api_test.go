package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/examples/helpdesk/api"
)

type page struct {
	Data []struct {
		ID        string    `json:"id"`
		Status    string    `json:"status"`
		UpdatedAt time.Time `json:"updated_at"`
		Deleted   bool      `json:"deleted"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
	Error      string `json:"error"`
}

func get(t *testing.T, h http.Handler, path string) (int, page, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	var p page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
	}
	return rec.Code, p, rec.Header()
}

// all follows the cursor to the end and returns ids in order.
func all(t *testing.T, h http.Handler, path string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for i := 0; ; i++ {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		code, p, _ := get(t, h, path+sep+"limit=7&cursor="+url.QueryEscape(cursor))
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, p.Error)
		}
		for _, r := range p.Data {
			ids = append(ids, r.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			return ids
		}
		if i > 1000 {
			t.Fatal("cursor never ends")
		}
	}
}

func TestPaginationSeesEveryRecordOnce(t *testing.T) {
	s, err := api.New(api.Config{Tickets: 50, Customers: 10, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	ids := all(t, h, "/v1/tickets")
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if len(ids) != 50 {
		t.Fatalf("%d tickets listed, want 50", len(ids))
	}
	if n := len(all(t, h, "/v1/tasks")); n != 5*6 {
		t.Errorf("%d tasks, want 30", n)
	}
}

func TestUpdatedSinceReturnsChangesAndTombstones(t *testing.T) {
	s, _ := api.New(api.Config{Tickets: 20, RateLimit: -1})
	h := s.Handler()
	mark := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	closed := "closed"
	if _, err := s.UpdateTicket("T-00003", api.TicketPatch{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTicket("T-00005"); err != nil {
		t.Fatal(err)
	}
	created := s.CreateTicket("new one")
	_, p, _ := get(t, h, "/v1/tickets?updated_since="+url.QueryEscape(mark.Format(time.RFC3339Nano)))
	if len(p.Data) != 3 || p.Data[0].ID != "T-00003" || p.Data[0].Status != "closed" || p.Data[1].ID != "T-00005" || !p.Data[1].Deleted || p.Data[2].ID != created.ID {
		t.Fatalf("changes since the mark = %+v", p.Data)
	}
	// A full listing leaves the deleted ticket out.
	for _, id := range all(t, h, "/v1/tickets") {
		if id == "T-00005" {
			t.Fatal("a deleted ticket is listed")
		}
	}
	if _, err := s.UpdateTicket("T-00005", api.TicketPatch{Status: &closed}); err == nil {
		t.Error("a deleted ticket was updated")
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	s, _ := api.New(api.Config{Tickets: 5, RateLimit: 2})
	h := s.Handler()
	limited := 0
	for range 5 {
		code, _, hdr := get(t, h, "/v1/tickets")
		if code == 429 {
			limited++
			if hdr.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("5 requests at once under 2/s were never limited")
	}
	if _, l := s.Stats(); l != limited {
		t.Errorf("Stats counts %d limited, saw %d", l, limited)
	}
}

func TestBadRequests(t *testing.T) {
	s, _ := api.New(api.Config{RateLimit: -1})
	h := s.Handler()
	for _, path := range []string{"/v1/tickets?limit=0", "/v1/tickets?limit=x", "/v1/tickets?updated_since=yesterday", "/v1/tickets?cursor=bm90LWpzb24"} {
		if code, p, _ := get(t, h, path); code != 400 || p.Error == "" {
			t.Errorf("GET %s: %d %q, want 400 with a message", path, code, p.Error)
		}
	}
	if _, err := api.New(api.Config{Tickets: -1}); err == nil {
		t.Error("negative tickets accepted")
	}
}
