package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

func newClient(t testing.TB, s *emulator.Server) *notion.Client {
	t.Helper()
	c, err := notion.New(notion.Config{BaseURL: s.URL(), Token: notiontest.Token, Timeout: 5 * time.Second, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mkDB(t testing.TB, c *notion.Client, title string, props map[string]notion.PropertySchema) string {
	t.Helper()
	if props == nil {
		props = map[string]notion.PropertySchema{}
	}
	props["Name"] = notion.PropertySchema{Type: notion.TypeTitle}
	db, err := c.CreateDatabase(context.Background(), notion.CreateDatabaseRequest{ParentPageID: notiontest.ParentPageID(), Title: title, Properties: props})
	if err != nil {
		t.Fatalf("create database %s: %v", title, err)
	}
	return db.DataSources[0].ID
}

func mkPage(t testing.TB, c *notion.Client, dsID, name string, extra map[string]notion.PropertyValue) *notion.Page {
	t.Helper()
	props := map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text(name))}
	for k, v := range extra {
		props[k] = v
	}
	p, err := c.CreatePage(context.Background(), notion.CreatePageRequest{DataSourceID: dsID, Properties: props})
	if err != nil {
		t.Fatalf("create page %s: %v", name, err)
	}
	return p
}

// call sends a raw request and decodes the JSON answer.
func call(t testing.TB, h http.Handler, method, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+notiontest.Token)
	req.Header.Set("Notion-Version", emulator.Version)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%v): %s", method, path, err, rec.Body.String())
	}
	return rec.Code, m
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := notiontest.Start(t, emulator.Config{DataDir: dir})
	c := newClient(t, s)
	ds := mkDB(t, c, "Durable", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}, "Tag": {Type: notion.TypeSelect}})
	keep := mkPage(t, c, ds, "kept", map[string]notion.PropertyValue{"N": notion.NumberValue(ptr(7.0)), "Tag": notion.SelectValue("new-option")})
	gone := mkPage(t, c, ds, "trashed", nil)
	if _, err := c.TrashPage(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A record cut by a crash mid-write is dropped, not fatal.
	f, err := os.OpenFile(filepath.Join(dir, "notion-emulator.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"k":"page","v":{"id":"cut`)
	f.Close()

	s2 := notiontest.Start(t, emulator.Config{DataDir: dir})
	c2 := newClient(t, s2)
	p, err := c2.GetPage(context.Background(), keep.ID)
	if err != nil {
		t.Fatalf("page after restart: %v", err)
	}
	if p.Properties["Name"].Text() != "kept" || *p.Properties["N"].Number != 7 || p.Properties["Tag"].Select.Name != "new-option" {
		t.Errorf("page after restart: %+v", p.Properties)
	}
	src, err := c2.GetDataSource(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if opts := src.Properties["Tag"].OptionNames(); len(opts) != 1 || opts[0] != "new-option" {
		t.Errorf("select options after restart: %v (an option added by a write must persist)", opts)
	}
	res, err := c2.QueryDataSource(context.Background(), ds, notion.QueryRequest{})
	if err != nil || len(res.Results) != 1 {
		t.Errorf("query after restart: %d rows, %v (want the one live row)", len(res.Results), err)
	}
	// New ids keep flowing after a restart: a create lands after the old rows.
	mkPage(t, c2, ds, "after", nil)
	res, _ = c2.QueryDataSource(context.Background(), ds, notion.QueryRequest{})
	if len(res.Results) != 2 || res.Results[1].Properties["Name"].Text() != "after" {
		t.Errorf("default order after restart is not creation order")
	}
}

func TestCorruptDataLogIsAClearError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notion-emulator.jsonl"), []byte("not json\n"), 0o644)
	_, err := emulator.New(emulator.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("corrupt log: %v, want an error naming the line", err)
	}
}

func TestTokens(t *testing.T) {
	open, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, open.Handler(), "GET", "/v1/users", "", map[string]string{"Authorization": "Bearer anything"}); code != 200 {
		t.Errorf("no tokens configured: any token should pass, got %d", code)
	}
	if code, m := call(t, open.Handler(), "GET", "/v1/users", "", map[string]string{"Authorization": ""}); code != 401 || m["code"] != "unauthorized" {
		t.Errorf("no Authorization header: %d %v", code, m)
	}
	closed, _ := emulator.New(emulator.Config{Tokens: []string{"a", "b"}})
	for tok, want := range map[string]int{"a": 200, "b": 200, "c": 401} {
		if code, _ := call(t, closed.Handler(), "GET", "/v1/users", "", map[string]string{"Authorization": "Bearer " + tok}); code != want {
			t.Errorf("token %s: %d, want %d", tok, code, want)
		}
	}
}

func TestRateLimitPerToken(t *testing.T) {
	s, _ := emulator.New(emulator.Config{RateLimit: 60, Tokens: []string{"a", "b"}})
	h := s.Handler()
	limited := 0
	for range 10 {
		req := httptest.NewRequest("GET", "/v1/users", nil)
		req.Header.Set("Authorization", "Bearer a")
		req.Header.Set("Notion-Version", emulator.Version)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 429 {
			limited++
			if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 with Retry-After %q", ra)
			}
		}
	}
	if limited == 0 {
		t.Fatal("10 requests at once under 60/min were never limited")
	}
	// Another token has its own budget.
	if code, _ := call(t, h, "GET", "/v1/users", "", map[string]string{"Authorization": "Bearer b"}); code != 200 {
		t.Errorf("second token limited by the first's use: %d", code)
	}
}

func TestValidationErrors(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Strict", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}, "Stage": {Type: notion.TypeStatus},
		"When": {Type: notion.TypeDate}, "Who": {Type: notion.TypePeople}, "Site": {Type: notion.TypeURL}})
	h := s.Handler()
	page := func(props string) string {
		return `{"parent":{"data_source_id":"` + ds + `"},"properties":` + props + `}`
	}
	cases := []struct{ name, body, want string }{
		{"unknown property", page(`{"Nope":{"number":1}}`), "Nope is not a property that exists"},
		{"wrong value type", page(`{"N":{"rich_text":[]}}`), "N is expected to be number"},
		{"number as string", page(`{"N":{"number":"1"}}`), "body.properties.N.number should be a number"},
		{"unknown status", page(`{"Stage":{"status":{"name":"Nope"}}}`), "Status option"},
		{"bad date", page(`{"When":{"date":{"start":"yesterday"}}}`), "ISO 8601"},
		{"unknown user", page(`{"Who":{"people":[{"object":"user","id":"00000000-0000-4000-8000-000000000000"}]}}`), "user of the workspace"},
		{"empty url", page(`{"Site":{"url":""}}`), "non-empty string"},
		{"long url", page(`{"Site":{"url":"https://x/` + strings.Repeat("a", 2000) + `"}}`), "length should be ≤ `2000`"},
		{"emoji-counted text", page(`{"Name":{"title":[{"text":{"content":"` + strings.Repeat("😀", 1001) + `"}}]}}`), "length should be ≤ `2000`, instead was `2002`"},
		{"body not an object", `[1,2]`, "body should be an object"},
		{"no parent", `{"properties":{}}`, "body.parent should be defined"},
	}
	for _, tc := range cases {
		code, m := call(t, h, "POST", "/v1/pages", tc.body, nil)
		msg, _ := m["message"].(string)
		if code != 400 || m["code"] != "validation_error" || m["object"] != "error" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %v, want 400 validation_error containing %q", tc.name, code, m, tc.want)
		}
	}
	big := page(`{"Name":{"title":[{"text":{"content":"` + strings.Repeat("x", 600_000) + `"}}]}}`)
	if code, m := call(t, h, "POST", "/v1/pages", big, nil); code != 413 || m["code"] != "validation_error" {
		t.Errorf("600 KB body: %d %v", code, m)
	}
	if code, m := call(t, h, "DELETE", "/v1/pages/"+ds, "", nil); code != 400 || m["code"] != "invalid_request_url" {
		t.Errorf("wrong method: %d %v", code, m)
	}
	if code, m := call(t, h, "GET", "/v1/pages/not-a-uuid", "", nil); code != 400 || m["code"] != "validation_error" {
		t.Errorf("malformed id: %d %v", code, m)
	}
	// The database is untouched by all of it.
	res, err := c.QueryDataSource(context.Background(), ds, notion.QueryRequest{})
	if err != nil || len(res.Results) != 0 {
		t.Errorf("refused writes left %d rows (%v)", len(res.Results), err)
	}
}

func TestDualRelationsStayInStep(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ctx := context.Background()
	projects := mkDB(t, c, "Projects", nil)
	tasks := mkDB(t, c, "Tasks", map[string]notion.PropertySchema{"Project": {Type: notion.TypeRelation,
		Relation: &notion.RelationConfig{DataSourceID: projects, Type: notion.DualProperty, SyncedPropertyName: "Tasks"}}})
	p1 := mkPage(t, c, projects, "p1", nil)
	p2 := mkPage(t, c, projects, "p2", nil)
	t1 := mkPage(t, c, tasks, "t1", map[string]notion.PropertyValue{"Project": notion.RelationValue(p1.ID)})
	back := func(id string) []string {
		p, err := c.GetPage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Properties["Tasks"].Relation {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := back(p1.ID); len(got) != 1 || got[0] != t1.ID {
		t.Errorf("p1.Tasks = %v, want [t1]", got)
	}
	if _, err := c.UpdatePage(ctx, t1.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Project": notion.RelationValue(p2.ID)}}); err != nil {
		t.Fatal(err)
	}
	if got := back(p1.ID); len(got) != 0 {
		t.Errorf("p1.Tasks = %v after the task moved", got)
	}
	if got := back(p2.ID); len(got) != 1 {
		t.Errorf("p2.Tasks = %v, want [t1]", got)
	}
	// A relation to a page of another data source is refused.
	if _, err := c.UpdatePage(ctx, t1.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Project": notion.RelationValue(t1.ID)}}); !notion.IsValidation(err) {
		t.Errorf("relation to a task from Project: %v", err)
	}
}

func TestTrashedPages(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ctx := context.Background()
	ds := mkDB(t, c, "Trash", nil)
	p := mkPage(t, c, ds, "x", nil)
	if _, err := c.TrashPage(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text("y"))}}); !notion.IsValidation(err) {
		t.Errorf("editing a trashed page: %v, want validation_error", err)
	}
	got, err := c.GetPage(ctx, p.ID)
	if err != nil || !got.InTrash || !got.Archived {
		t.Errorf("trashed page reads %+v, %v", got, err)
	}
	res, _ := c.QueryDataSource(ctx, ds, notion.QueryRequest{})
	if len(res.Results) != 0 {
		t.Errorf("query returns trashed pages")
	}
	f := false
	if _, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{InTrash: &f}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	res, _ = c.QueryDataSource(ctx, ds, notion.QueryRequest{})
	if len(res.Results) != 1 {
		t.Errorf("restored page not queried")
	}
}

func TestWebPage(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Support <tickets>", map[string]notion.PropertySchema{"Prio": {Type: notion.TypeSelect}})
	mkPage(t, c, ds, "Printer on fire", map[string]notion.PropertyValue{"Prio": notion.SelectValue("high")})
	get := func(path string) string {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	index := get("/")
	if !strings.Contains(index, "Support &lt;tickets&gt;") || strings.Contains(index, "<tickets>") {
		t.Errorf("index does not list the database (escaped):\n%s", index)
	}
	src, _ := c.GetDataSource(context.Background(), ds)
	table := get("/databases/" + src.Parent.DatabaseID)
	for _, want := range []string{"Printer on fire", "high", "<th>Name</th>", "<th>Prio</th>"} {
		if !strings.Contains(table, want) {
			t.Errorf("database page lacks %q", want)
		}
	}
	if body := get("/healthz"); body != "ok\n" {
		t.Errorf("healthz: %q", body)
	}
	// The url of a data source, a database and a page opens the web view.
	db, err := c.GetDatabase(context.Background(), src.Parent.DatabaseID)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := c.QueryDataSource(context.Background(), ds, notion.QueryRequest{})
	if err != nil || len(pages.Results) != 1 {
		t.Fatalf("query: %v (%d rows)", err, len(pages.Results))
	}
	for what, u := range map[string]string{"data source": src.URL, "database": db.URL} {
		if !strings.HasPrefix(u, s.URL()+"/") {
			t.Fatalf("%s url %q is not on the emulator (%s)", what, u, s.URL())
		}
		if page := get(strings.TrimPrefix(u, s.URL())); !strings.Contains(page, "Printer on fire") {
			t.Errorf("the %s url %s does not open its table", what, u)
		}
	}
	if row := pages.Results[0].URL; !strings.Contains(get(strings.TrimPrefix(row, s.URL())), "Printer on fire") {
		t.Errorf("the page url %s does not open the row", row)
	}
}

func TestParseFaults(t *testing.T) {
	f, err := emulator.ParseFaults("500=0.1, 503=0.05,stall=0.02,stall_for=20s,applied503=0.2,seed=9")
	want := emulator.Faults{Rate500: 0.1, Rate503: 0.05, RateStall: 0.02, StallFor: 20 * time.Second, RateAppliedThen503: 0.2, Seed: 9}
	if err != nil || f != want {
		t.Errorf("ParseFaults = %+v, %v", f, err)
	}
	for _, bad := range []string{"500", "500=2", "404=0.1", "stall_for=soon", "503=-1"} {
		if _, err := emulator.ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
	if f, err := emulator.ParseFaults(""); err != nil || f != (emulator.Faults{}) {
		t.Errorf("empty faults: %+v %v", f, err)
	}
}

func TestAppliedThen503NamesTheResource(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Committed", nil)
	s.SetFaults(emulator.Faults{RateAppliedThen503: 1, Seed: 1})
	code, m := call(t, s.Handler(), "POST", "/v1/pages", `{"parent":{"data_source_id":"`+ds+`"},"properties":{"Name":{"title":[{"text":{"content":"a"}}]}}}`, nil)
	extra, _ := m["additional_data"].(map[string]any)
	id, _ := extra["committed_resource_id"].(string)
	if code != 503 || id == "" {
		t.Fatalf("applied-then-503: %d %v", code, m)
	}
	// Reads are never hit by it.
	if code, _ := call(t, s.Handler(), "GET", "/v1/pages/"+id, "", nil); code != 200 {
		t.Errorf("the committed page reads %d", code)
	}
}

// FuzzRequestDecoding sends arbitrary bodies to every write endpoint and
// query: whatever arrives, the answer is a Notion object or a Notion
// error, never a 500 or a crash.
func FuzzRequestDecoding(f *testing.F) {
	s, err := emulator.New(emulator.Config{Tokens: []string{notiontest.Token}})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	// A data source with every property type to aim at.
	_, m := call(f, h, "POST", "/v1/databases", `{"parent":{"page_id":"`+notiontest.ParentPageID()+`"},"title":[{"text":{"content":"Fuzz"}}],
	 "initial_data_source":{"properties":{"Name":{"title":{}},"T":{"rich_text":{}},"N":{"number":{}},"S":{"select":{}},"M":{"multi_select":{}},
	 "St":{"status":{}},"D":{"date":{}},"P":{"people":{}},"F":{"files":{}},"C":{"checkbox":{}},"U":{"url":{}},"E":{"email":{}},
	 "Ph":{"phone_number":{}},"Pl":{"place":{}}}}}`, nil)
	ds := m["data_sources"].([]any)[0].(map[string]any)["id"].(string)
	// A page with a paragraph and a table, for the block endpoints.
	_, m = call(f, h, "POST", "/v1/pages", `{"parent":{"data_source_id":"`+ds+`"},"properties":{},"children":[`+
		`{"paragraph":{"rich_text":[]}},{"table":{"table_width":2,"children":[{"table_row":{"cells":[[],[]]}}]}}]}`, nil)
	pg := m["id"].(string)
	_, m = call(f, h, "GET", "/v1/blocks/"+pg+"/children", "", nil)
	kids := m["results"].([]any)
	para, table := kids[0].(map[string]any)["id"].(string), kids[1].(map[string]any)["id"].(string)
	_, m = call(f, h, "GET", "/v1/blocks/"+table+"/children", "", nil)
	row := m["results"].([]any)[0].(map[string]any)["id"].(string)
	for _, seed := range []string{
		`{"children":[{"paragraph":{"rich_text":[{"text":{"content":"x"}}],"children":[{"to_do":{"rich_text":[],"checked":true}}]}}],"after":"` + para + `"}`,
		`{"children":[{"table_row":{"cells":[[{"text":{"content":"a"}}],[]]}}]}`,
		`{"children":[{"table":{"table_width":1.5,"children":[{"table_row":{"cells":[[]]}}]}}]}`,
		`{"children":[{"code":{"rich_text":[],"language":"go"}},{"image":{"external":{"url":"https://x.io/i.png"}}},{"divider":{}}]}`,
		`{"paragraph":{"rich_text":[],"color":"red_background"}}`, `{"table_row":{"cells":[[],[],[]]}}`, `{"in_trash":true}`,
		`{"children":[{"heading_1":{"rich_text":[],"is_toggleable":true,"children":[{"quote":{"rich_text":[]}}]}}]}`,
		`{"parent":{"data_source_id":"` + ds + `"},"properties":{"Name":{"title":[{"text":{"content":"x"}}]}}}`,
		`{"properties":{"N":{"number":1e309}}}`,
		`{"filter":{"and":[{"property":"N","number":{"equals":1}}]},"sorts":[{"property":"Name","direction":"ascending"}]}`,
		`{"properties":{"S":{"select":{"name":"a,b"}}}}`,
		`{"parent":{"data_source_id":"` + ds + `"},"properties":{"D":{"date":{"start":"2024-01-01","end":5}}}}`,
		`{"properties":{"X":null,"T":{"type":"number"}}}`,
		`{"title":[{"text":{"content":null}}]}`,
		`{"filter":{"or":[{"or":[{"or":[]}]}]}}`,
		`{"page_size":0}`, `[]`, `null`, `"x"`, `{`, "\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, ep := range [][2]string{{"POST", "/v1/pages"}, {"PATCH", "/v1/data_sources/" + ds}, {"POST", "/v1/data_sources/" + ds + "/query"},
			{"POST", "/v1/databases"}, {"POST", "/v1/search"}, {"PATCH", "/v1/blocks/" + pg + "/children"}, {"PATCH", "/v1/blocks/" + table + "/children"},
			{"PATCH", "/v1/blocks/" + para}, {"PATCH", "/v1/blocks/" + row}, {"PATCH", "/v1/blocks/" + table}} {
			req := httptest.NewRequest(ep[0], ep[1], bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+notiontest.Token)
			req.Header.Set("Notion-Version", emulator.Version)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s with %q: %d %s", ep[0], ep[1], body, rec.Code, rec.Body)
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s %s with %q: answer is not JSON: %s", ep[0], ep[1], body, rec.Body)
			}
			if rec.Code != 200 && (out["object"] != "error" || out["code"] == "" || out["message"] == "") {
				t.Fatalf("%s %s with %q: %d is not a Notion error: %s", ep[0], ep[1], body, rec.Code, rec.Body)
			}
		}
	})
}

func TestTitleLookupFollowsRenames(t *testing.T) {
	dir := t.TempDir()
	s := notiontest.Start(t, emulator.Config{DataDir: dir})
	c := newClient(t, s)
	ctx := context.Background()
	ds := mkDB(t, c, "Renames", nil)
	p := mkPage(t, c, ds, "old", nil)
	mkPage(t, c, ds, "other", nil)
	if _, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text("new"))}}); err != nil {
		t.Fatal(err)
	}
	count := func(c *notion.Client, title string) int {
		res, err := c.QueryDataSource(ctx, ds, notion.QueryRequest{Filter: notion.And(notion.TextEquals("Name", notion.TypeTitle, title))})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Results)
	}
	if count(c, "old") != 0 || count(c, "new") != 1 || count(c, "other") != 1 {
		t.Errorf("title lookups after a rename: old %d, new %d, other %d", count(c, "old"), count(c, "new"), count(c, "other"))
	}
	s.Stop(ctx)
	c2 := newClient(t, notiontest.Start(t, emulator.Config{DataDir: dir}))
	if count(c2, "old") != 0 || count(c2, "new") != 1 {
		t.Errorf("title lookups after a restart: old %d, new %d", count(c2, "old"), count(c2, "new"))
	}
}

// goneWriter is a browser that closed the connection: every write fails.
type goneWriter struct{ h http.Header }

func (g *goneWriter) Header() http.Header {
	if g.h == nil {
		g.h = http.Header{}
	}
	return g.h
}
func (g *goneWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
func (g *goneWriter) WriteHeader(int)           {}

// A browser that goes away (a closed tab, a reload) is no error, and the
// web pages follow the syncs on their own (they poll).
func TestWebPageClientGoneIsNoError(t *testing.T) {
	var logs bytes.Buffer
	s := notiontest.Start(t, emulator.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := newClient(t, s)
	mkDB(t, c, "Tickets", map[string]notion.PropertySchema{})
	for _, path := range []string{"/", "/databases/00000000-0000-4000-8000-000000000000"} {
		s.Handler().ServeHTTP(&goneWriter{}, httptest.NewRequest("GET", path, nil))
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a browser that went away is logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "browser went away") {
		t.Errorf("the failed write is not logged at debug:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if body := rec.Body.String(); !strings.Contains(body, `id="live"`) || !strings.Contains(body, "setInterval") {
		t.Errorf("the index does not refresh itself:\n%s", body)
	}
}

// TestPeoplesSide plays the people's side of syncing into an existing
// database over the API: a second data source, rows without a title, two
// rows with the same title; the web page shows them.
func TestPeoplesSide(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ctx := context.Background()
	db, err := c.CreateDatabase(ctx, notion.CreateDatabaseRequest{ParentPageID: notiontest.ParentPageID(), Title: "Backlog",
		Properties: map[string]notion.PropertySchema{"Name": {Type: notion.TypeTitle}, "Notes": {Type: notion.TypeRichText}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"T-1", "T-1", ""} {
		if _, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: db.DataSources[0].ID, Properties: map[string]notion.PropertyValue{
			"Name": notion.TitleValue(notion.Text(title)), "Notes": notion.RichTextValue(notion.Text("people's note"))}}); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"parent":{"type":"database_id","database_id":"` + db.ID + `"},"title":[{"text":{"content":"Archive"}}],"properties":{"Title":{"title":{}}}}`
	req, _ := http.NewRequest("POST", s.URL()+"/v1/data_sources", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+notiontest.Token)
	req.Header.Set("Notion-Version", emulator.Version)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/data_sources: %d", resp.StatusCode)
	}
	got, err := c.GetDatabase(ctx, db.ID)
	if err != nil || len(got.DataSources) != 2 || got.DataSources[1].Name != "Archive" {
		t.Fatalf("database after adding a data source: %+v, %v", got, err)
	}
	page, err := http.Get(s.URL() + "/databases/" + db.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	html, _ := io.ReadAll(page.Body)
	if n := strings.Count(string(html), ">T-1<"); n != 2 || !strings.Contains(string(html), "Untitled") || !strings.Contains(string(html), "people&#39;s note") {
		t.Fatalf("the database's page does not show the people's rows (T-1 ×%d):\n%s", n, html)
	}
}
