package ghissues

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
	"github.com/synqhq/synq/synqtest"
)

const (
	owner = "octo-org"
	repo  = "octo-repo"
	token = "github_pat_test"
)

// since is the state the recorded responses were fetched with.
var since = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// fakeGitHub serves recorded responses from testdata/ for
// GET /repos/octo-org/octo-repo/issues, by the request's page parameter, and
// keeps the requests it saw.
type fakeGitHub struct {
	t *testing.T
	// pages maps a page number ("1" when the request names none) to a file
	// in testdata/ holding a raw HTTP response. {{base}} in it becomes the
	// server's URL (for Link headers), {{reset}} the reset Unix time.
	pages map[string]string
	reset time.Time

	mu       sync.Mutex
	requests []*http.Request
}

func serve(t *testing.T, pages map[string]string) (*fakeGitHub, *httptest.Server) {
	t.Helper()
	f := &fakeGitHub{t: t, pages: pages, reset: time.Now().Add(time.Hour)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	if want := "/repos/" + owner + "/" + repo + "/issues"; r.Method != http.MethodGet || r.URL.Path != want {
		f.t.Errorf("request %s %s, want GET %s", r.Method, r.URL.Path, want)
		http.NotFound(w, r)
		return
	}
	page := r.URL.Query().Get("page")
	if page == "" {
		page = "1"
	}
	name, ok := f.pages[page]
	if !ok {
		f.t.Errorf("request for page %s, which the test does not serve", page)
		http.NotFound(w, r)
		return
	}
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.t.Error(err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	raw = bytes.ReplaceAll(raw, []byte("{{base}}"), []byte("http://"+r.Host))
	raw = bytes.ReplaceAll(raw, []byte("{{reset}}"), []byte(strconv.FormatInt(f.reset.Unix(), 10)))
	rec, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), r)
	if err != nil {
		f.t.Errorf("testdata/%s: %v", name, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rec.Body.Close()
	for k, vs := range rec.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.StatusCode)
	if _, err := io.Copy(w, rec.Body); err != nil {
		f.t.Error(err)
	}
}

func (f *fakeGitHub) seen() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

// execute registers the sync on a fresh worker (so its pacer starts with a
// full budget) and runs one page offline with synqtest, which checks the
// changes against the database's schema and Notion's limits as an
// executor does before it writes.
func execute(t *testing.T, cfg Config, st State) (*synqtest.Page[State], State, error) {
	t.Helper()
	w := synq.NewWorker(synq.WorkerConfig{Name: "test"})
	if err := Register(w, cfg); err != nil {
		t.Fatalf("Register: %v", err)
	}
	page, err := synqtest.TryExecute(t, w, SyncKey, &st)
	if err != nil {
		return nil, State{}, err
	}
	return page, *page.NextState, nil
}

func config(srv *httptest.Server, tok string) Config {
	return Config{Owner: owner, Repo: repo, Token: tok, BaseURL: srv.URL, HTTPClient: srv.Client()}
}

func change(t *testing.T, p *synqtest.Page[State], key string) synqtest.Change {
	t.Helper()
	c, ok := p.Change(key)
	if !ok {
		t.Fatalf("no change for issue %s in %v", key, p.Keys())
	}
	return c
}

func TestFirstPage(t *testing.T) {
	f, srv := serve(t, map[string]string{"1": "issues_page1.http"})
	page, next, err := execute(t, config(srv, token), State{Since: since})
	if err != nil {
		t.Fatal(err)
	}

	if !page.HasMore {
		t.Error("HasMore = false after page 1 of 2, want true")
	}
	if want := (State{Since: since, Page: 2}); !next.Since.Equal(want.Since) || next.Page != want.Page {
		t.Errorf("NextState = %+v, want %+v (Since unchanged until the last page)", next, want)
	}
	// #1352 is a pull request.
	if got, want := page.Keys(), []string{"1347", "1290"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upserted issues %v, want %v (pull request 1352 skipped)", got, want)
	}

	reqs := f.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	q := reqs[0].URL.Query()
	for param, want := range map[string]string{
		"state":     "all",
		"sort":      "updated",
		"direction": "asc",
		"since":     "2025-03-01T00:00:00Z",
		"per_page":  "100",
		"page":      "", // the first page names none
	} {
		if got := q.Get(param); got != want {
			t.Errorf("query %s=%q, want %q (query %s)", param, got, want, reqs[0].URL.RawQuery)
		}
	}
	if got, want := reqs[0].Header.Get("Authorization"), "Bearer "+token; got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
}

func TestProperties(t *testing.T) {
	_, srv := serve(t, map[string]string{"1": "issues_page1.http", "2": "issues_page2.http"})
	page1, _, err := execute(t, config(srv, token), State{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	page2, _, err := execute(t, config(srv, token), State{Since: since, Page: 2})
	if err != nil {
		t.Fatal(err)
	}

	date := func(s string) builder.DateValue { return builder.DateValue{Start: s} }
	for _, tc := range []struct {
		page    *synqtest.Page[State]
		key     string
		updated string
		want    map[string]any // property → its plain value (synqtest)
	}{
		{page1, "1347", "2025-03-01T09:15:00Z", map[string]any{
			"Title":     "Login button unresponsive on Safari 17",
			"Number":    "1347", // the primary key, filled in from the change's key
			"State":     "open",
			"Labels":    []string{"bug", "good first issue"},
			"Author":    "mona",
			"Assignees": "octocat, hubot",
			"Comments":  4.0,
			"Created":   date("2025-02-10T08:12:45Z"),
			"Updated":   date("2025-03-01T09:15:00Z"),
			"Closed":    nil,
			"URL":       "https://github.com/octo-org/octo-repo/issues/1347",
		}},
		{page1, "1290", "2025-03-02T16:45:10Z", map[string]any{
			"Title":  "Document the retry policy of the SDK",
			"Number": "1290",
			"State":  "closed",
			// Notion does not allow commas in option names.
			"Labels":    []string{"documentation", "scope: api; sdk"},
			"Author":    "hubot",
			"Assignees": "mona",
			"Comments":  7.0,
			"Created":   date("2025-01-05T14:00:00Z"),
			"Updated":   date("2025-03-02T16:45:10Z"),
			"Closed":    date("2025-03-02T16:45:09Z"),
			"URL":       "https://github.com/octo-org/octo-repo/issues/1290",
		}},
		// Reopened: the Closed date and the labels are cleared, not left out.
		{page2, "1101", "2025-03-03T07:20:00Z", map[string]any{
			"Title":     "Crash when the config file is empty",
			"Number":    "1101",
			"State":     "open",
			"Labels":    []string{},
			"Author":    "ghost",
			"Assignees": "",
			"Comments":  12.0,
			"Created":   date("2024-10-14T21:03:17Z"),
			"Updated":   date("2025-03-03T07:20:00Z"),
			"Closed":    nil,
			"URL":       "https://github.com/octo-org/octo-repo/issues/1101",
		}},
	} {
		c := change(t, tc.page, tc.key)
		if c.Delete {
			t.Errorf("issue %s: a delete, want an upsert", tc.key)
		}
		if got := c.UpdatedAt.Format(time.RFC3339); got != tc.updated {
			t.Errorf("issue %s: UpdatedAt %s, want %s", tc.key, got, tc.updated)
		}
		if !reflect.DeepEqual(c.Properties, tc.want) {
			t.Errorf("issue %s: properties\n%#v\nwant\n%#v", tc.key, c.Properties, tc.want)
		}
	}

	// The issue's body is the page body: GitHub's CRLF line ends as
	// Markdown's, and an issue without a body gets an empty page (not one
	// left as it was).
	for _, tc := range []struct {
		page *synqtest.Page[State]
		key  string
		want string
	}{
		{page1, "1347", "Clicking **Log in** on Safari 17.3 does nothing; the console shows `TypeError: undefined is not an object`.\n\nSteps:\n1. Open the sign-in page in Safari 17\n2. Click Log in"},
		{page1, "1290", "Which errors are retried, how often, and how long the backoff is."},
		{page2, "1101", ""},
	} {
		c := change(t, tc.page, tc.key)
		if c.Content == nil || *c.Content != tc.want {
			t.Errorf("issue %s: content %v, want %q", tc.key, c.Content, tc.want)
		}
	}
}

func TestLastPageAdvancesSince(t *testing.T) {
	f, srv := serve(t, map[string]string{"2": "issues_page2.http"})
	page, next, err := execute(t, config(srv, token), State{Since: since, Page: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page.HasMore {
		t.Error("HasMore = true on the last page, want false")
	}
	// The newest updated_at of the run: issue 1360's.
	want := time.Date(2025, 3, 4, 18, 30, 5, 0, time.UTC)
	if !next.Since.Equal(want) || next.Page != 0 {
		t.Errorf("NextState = %+v, want Since %v and Page 0", next, want)
	}
	if got := page.Keys(); !reflect.DeepEqual(got, []string{"1101", "1360"}) {
		t.Errorf("upserted issues %v, want [1101 1360]", got)
	}
	reqs := f.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if q := reqs[0].URL.Query(); q.Get("page") != "2" || q.Get("since") != "2025-03-01T00:00:00Z" {
		t.Errorf("query %s, want page=2 and since=2025-03-01T00:00:00Z", reqs[0].URL.RawQuery)
	}
}

// A whole first run, without a token: no since (every issue), no
// Authorization header, both pages, then Since set for the next run.
func TestFirstRunWithoutToken(t *testing.T) {
	f, srv := serve(t, map[string]string{"1": "issues_page1.http", "2": "issues_page2.http"})
	var st State
	var upserts []string
	for i := 0; ; i++ {
		if i == 5 {
			t.Fatal("still HasMore after 5 pages of a 2-page listing")
		}
		page, next, err := execute(t, config(srv, ""), st)
		if err != nil {
			t.Fatal(err)
		}
		upserts = append(upserts, page.Keys()...)
		st = next
		if !page.HasMore {
			break
		}
	}
	if want := []string{"1347", "1290", "1101", "1360"}; !reflect.DeepEqual(upserts, want) {
		t.Errorf("upserted issues %v, want %v", upserts, want)
	}
	if want := time.Date(2025, 3, 4, 18, 30, 5, 0, time.UTC); !st.Since.Equal(want) || st.Page != 0 {
		t.Errorf("state after the run %+v, want Since %v and Page 0", st, want)
	}
	reqs := f.seen()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "" {
			t.Errorf("request %d: Authorization %q without a token, want none", i+1, got)
		}
		if r.URL.Query().Has("since") {
			t.Errorf("request %d: since=%s on the first run, want no since", i+1, r.URL.Query().Get("since"))
		}
	}
}

func TestRateLimited(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		min, max time.Duration
	}{
		// X-RateLimit-Reset is two minutes ahead (set below).
		{"primary 403", "rate_limited.http", 115 * time.Second, 122 * time.Second},
		{"secondary 403 with Retry-After", "secondary_rate_limited.http", 60 * time.Second, 60 * time.Second},
		{"429 with Retry-After", "too_many_requests.http", 30 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := serve(t, map[string]string{"1": tc.file})
			f.reset = time.Now().Add(2 * time.Minute)
			_, _, err := execute(t, config(srv, ""), State{Since: since})
			var rl *synq.RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("error %v (%T), want a *synq.RateLimitError", err, err)
			}
			if rl.RetryAfter < tc.min || rl.RetryAfter > tc.max {
				t.Errorf("RetryAfter %v, want between %v and %v", rl.RetryAfter, tc.min, tc.max)
			}
			var er *github.ErrorResponse
			var primary *github.RateLimitError
			var secondary *github.AbuseRateLimitError
			if !errors.As(err, &er) && !errors.As(err, &primary) && !errors.As(err, &secondary) {
				t.Errorf("error %v does not wrap GitHub's error", err)
			}
			if !strings.Contains(err.Error(), owner+"/"+repo) {
				t.Errorf("error %q does not name the repository", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		status     int
		hint       string
	}{
		{"server error", "server_error.http", 500, "retried"},
		{"not found", "not_found.http", 404, "check the repository name octo-org/octo-repo"},
		// A 403 that is not a rate limit: waiting would not help.
		{"forbidden", "forbidden.http", 403, "read access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := serve(t, map[string]string{"1": tc.file})
			_, _, err := execute(t, config(srv, token), State{Since: since})
			if err == nil {
				t.Fatal("no error")
			}
			var rl *synq.RateLimitError
			if errors.As(err, &rl) {
				t.Errorf("error %v is a rate limit, want a plain error", err)
			}
			var pe *synq.PanicError
			if errors.As(err, &pe) {
				t.Fatalf("Execute panicked: %v\n%s", pe.Value, pe.Stack)
			}
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tc.status {
				t.Errorf("error %v does not wrap GitHub's %d", err, tc.status)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %q does not say %q", err, tc.hint)
			}
		})
	}
}

// A Link header that does not move forward must fail rather than loop.
func TestNextPageMustAdvance(t *testing.T) {
	_, srv := serve(t, map[string]string{"2": "issues_page1.http"}) // page 1's Link says next=2
	_, _, err := execute(t, config(srv, token), State{Since: since, Page: 2})
	if err == nil || !strings.Contains(err.Error(), "links to page 2") {
		t.Fatalf("error %v, want one about the next page not advancing", err)
	}
}

func TestRateLimitWait(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 19, 0, 0, 0, time.UTC)
	resp := func(status int, h map[string]string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}, Request: &http.Request{Method: http.MethodGet}}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"primary, reset ahead", &github.RateLimitError{Rate: github.Rate{Reset: github.Timestamp{Time: t0.Add(10 * time.Minute)}}},
			10*time.Minute + resetSlack, true},
		{"primary, reset passed by our clock", &github.RateLimitError{Rate: github.Rate{Reset: github.Timestamp{Time: t0.Add(-time.Minute)}}},
			minRateLimitWait, true},
		{"primary, no reset", &github.RateLimitError{}, defaultRateLimitWait, true},
		{"secondary without Retry-After", &github.AbuseRateLimitError{}, defaultRateLimitWait, true},
		{"429 without headers", &github.ErrorResponse{Response: resp(429, nil)}, defaultRateLimitWait, true},
		{"429 with Retry-After as a date", &github.ErrorResponse{Response: resp(429, map[string]string{
			"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)})}, 90 * time.Second, true},
		{"429 with an exhausted budget", &github.ErrorResponse{Response: resp(429, map[string]string{
			"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(t0.Add(5*time.Minute).Unix(), 10)})},
			5*time.Minute + resetSlack, true},
		{"403 with an exhausted budget", &github.ErrorResponse{Response: resp(403, map[string]string{
			"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(t0.Add(time.Minute).Unix(), 10)})},
			time.Minute + resetSlack, true},
		{"403 without rate-limit headers", &github.ErrorResponse{Response: resp(403, nil)}, 0, false},
		{"500", &github.ErrorResponse{Response: resp(500, nil)}, 0, false},
		{"network error", errors.New("connection refused"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rateLimitWait(tc.err, t0)
			if got != tc.want || ok != tc.ok {
				t.Errorf("rateLimitWait = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRegisterRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"owner/repo in Repo", Config{Owner: "octo-org", Repo: "octo-org/octo-repo"}, "OWNER/REPO"},
		{"missing owner", Config{Repo: "octo-repo"}, "OWNER/REPO"},
		{"BaseURL without scheme", Config{Owner: owner, Repo: repo, BaseURL: "github.example.com/api/v3"}, "BaseURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := synq.NewWorker(synq.WorkerConfig{})
			err := Register(w, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Register error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPacerBudget(t *testing.T) {
	// The declarations as executors publish them for the scheduler.
	var manifest struct {
		Pacers []struct {
			Key             string        `json:"key"`
			AllowedRequests int           `json:"allowed_requests"`
			Interval        time.Duration `json:"interval"`
		} `json:"pacers"`
		Syncs []struct {
			Key    string   `json:"key"`
			Mode   string   `json:"mode"`
			Pacers []string `json:"pacers"`
		} `json:"syncs"`
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 50}, {token, 4000}} {
		w := synq.NewWorker(synq.WorkerConfig{})
		if err := Register(w, Config{Owner: owner, Repo: repo, Token: tc.token}); err != nil {
			t.Fatal(err)
		}
		b, err := w.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &manifest); err != nil {
			t.Fatal(err)
		}
		if p := manifest.Pacers; len(p) != 1 || p[0].Key != PacerKey || p[0].AllowedRequests != tc.want || p[0].Interval != time.Hour {
			t.Errorf("token %q: pacers %+v, want %q with %d requests an hour", tc.token, p, PacerKey, tc.want)
		}
		if s := manifest.Syncs; len(s) != 1 || s[0].Key != SyncKey || s[0].Mode != "incremental" || !reflect.DeepEqual(s[0].Pacers, []string{PacerKey}) {
			t.Errorf("syncs %+v, want %q, incremental, using pacer %q", s, SyncKey, PacerKey)
		}
	}
}

// fitsAPage says whether md is a body a page may hold: an upsert with it
// as Content passes an executor's checks (synqtest runs them).
func fitsAPage(t *testing.T, md string) error {
	w := synq.NewWorker(synq.WorkerConfig{})
	db := w.Database("issues", synq.DatabaseConfig{InitialTitle: "Issues", PrimaryKey: "Number", Schema: schema.Properties{"Number": schema.Title()}})
	synq.AddSync(w, "body", synq.SyncConfig[State]{Database: db, Execute: func(context.Context, *State) (synq.Result[State], error) {
		return synq.Result[State]{Changes: []synq.Change{synq.Upsert("7", nil).Content(md)}}, nil
	}})
	_, err := synqtest.TryExecute(t, w, "body", &State{})
	return err
}

// A body longer than a page may hold is cut, with a link to the issue; a
// code block the cut falls in is closed first.
func TestLongBodyIsCut(t *testing.T) {
	var b strings.Builder
	b.WriteString("Checklist:\r\n")
	for i := range 2000 {
		if i == 290 || i == 310 {
			b.WriteString("```\r\n")
		}
		b.WriteString("- [ ] item\r\n")
	}
	is := &github.Issue{Body: github.Ptr(b.String()), HTMLURL: github.Ptr("https://github.com/octo-org/octo-repo/issues/7")}
	got := body(is)
	if strings.Contains(got, "\r") || strings.Count(got, "\n") > maxBodyLines+10 {
		t.Fatalf("cut body has %d lines", strings.Count(got, "\n"))
	}
	if !strings.HasSuffix(got, "*The rest of this issue is on [GitHub](https://github.com/octo-org/octo-repo/issues/7).*\n") {
		t.Fatalf("cut body ends %q", got[len(got)-120:])
	}
	if strings.Count(got, "```") != 2 {
		t.Fatalf("the code block the cut fell in is not closed: %d fences", strings.Count(got, "```"))
	}
	// Uncut, the page would be refused; cut, it fits.
	if err := fitsAPage(t, b.String()); err == nil {
		t.Fatal("the whole checklist fits a page: the test body is too short")
	}
	if err := fitsAPage(t, got); err != nil {
		t.Fatalf("the cut body does not fit a page: %v", err)
	}
	short := &github.Issue{Body: github.Ptr("a\r\nb")}
	if got := body(short); got != "a\nb" {
		t.Fatalf("short body %q", got)
	}
}
