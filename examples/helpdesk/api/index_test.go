package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/synqhq/synq/examples/helpdesk/api"
)

// The API's address opened in a browser says what it serves, and the
// articles `ctl new` scaffolds a worker for page like every other list.
func TestIndexAndArticles(t *testing.T) {
	s, err := api.New(api.Config{Articles: 7, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "/v1/articles") || !strings.Contains(rec.Body.String(), "next_cursor") {
		t.Fatalf("GET /: %d\n%s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if rec.Code != 404 {
		t.Errorf("GET /nope: %d, want 404", rec.Code)
	}
	var ids []string
	cursor := ""
	for {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/articles?limit=3&cursor="+cursor, nil))
		var page struct {
			Data       []api.Article `json:"data"`
			NextCursor string        `json:"next_cursor"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != 200 {
			t.Fatalf("articles: %d %v\n%s", rec.Code, err, rec.Body.String())
		}
		for _, a := range page.Data {
			if a.Title == "" || !strings.HasPrefix(a.BodyMarkdown, "# "+a.Title) || a.UpdatedAt.IsZero() {
				t.Errorf("article %+v", a)
			}
			ids = append(ids, a.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(ids) != 7 || ids[0] != "KB-0001" || ids[6] != "KB-0007" {
		t.Fatalf("articles %v, want KB-0001…KB-0007", ids)
	}
}
