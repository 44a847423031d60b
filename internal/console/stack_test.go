package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/console"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
	"github.com/synqhq/synq/schema"
)

// stack is a whole synq in one test process: a real redis-server, the
// Notion emulator over HTTP, a real executor running the test worker, the
// operations and the console over HTTP.
type stack struct {
	t      *testing.T
	redis  *redistest.Server
	emu    *emulator.Server
	ops    *ops.Ops
	rdb    *rdb.RDB
	srv    *httptest.Server
	con    *console.Console
	source *source
	token  string
}

// source is the upstream the test worker's syncs read.
type source struct {
	mu    sync.Mutex
	items map[string]string // key → note
	// pages and pause shape slowSync: pages per run, time per page.
	pages atomic.Int64
	pause atomic.Int64
}

type pageState struct {
	Page int `json:"page"`
}

func testWorker(src *source) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "consoletest"})
	things := w.Database("things", synq.DatabaseConfig{
		InitialTitle: "Things",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title(), "Note": schema.RichText(), "Page": schema.Number()},
	})
	notes := w.Database("notes", synq.DatabaseConfig{
		InitialTitle: "Notes",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title(), "Note": schema.RichText()},
	})
	upstream := w.Pacer("upstream", synq.PacerConfig{AllowedRequests: 100, Interval: time.Second})
	synq.AddSync(w, "slowSync", synq.SyncConfig[pageState]{Database: things, Schedule: "manual", Pacers: []*synq.Pacer{upstream},
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			if err := upstream.Wait(ctx); err != nil {
				return synq.Result[pageState]{}, err
			}
			synq.Logger(ctx).Info("fetching page", "page", s.Page)
			select {
			case <-time.After(time.Duration(src.pause.Load())):
			case <-ctx.Done():
				return synq.Result[pageState]{}, ctx.Err()
			}
			res := synq.Result[pageState]{HasMore: int64(s.Page+1) < src.pages.Load(), NextState: &pageState{Page: s.Page + 1}}
			for r := range 3 {
				res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("row-%02d-%d", s.Page, r), builder.Properties{"Page": builder.Int(int64(s.Page))}))
			}
			return res, nil
		}})
	// notesSync mirrors source.items: a replace sync whose preview shows
	// created, updated (old → new) and unchanged rows.
	synq.AddSync(w, "notesSync", synq.SyncConfig[pageState]{Database: notes, Schedule: "manual",
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			src.mu.Lock()
			defer src.mu.Unlock()
			var res synq.Result[pageState]
			for k, v := range src.items {
				res.Changes = append(res.Changes, synq.Upsert(k, builder.Properties{"Note": builder.RichText(v)}))
			}
			return res, nil
		}})
	synq.AddSync(w, "failSync", synq.SyncConfig[pageState]{Database: notes, Mode: synq.Incremental, Schedule: "manual", MaxAttempts: 1,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			return synq.Result[pageState]{}, errors.New("upstream says no")
		}})
	return w
}

type stackOptions struct {
	token string
	// pause is how long a page of slowSync takes.
	pause time.Duration
	pages int
	// second starts a second worker ("second", one sync) beside the first.
	second bool
	// existing seeds notiontest's Backlog (a database people already
	// have) and starts a worker ("backlog") that syncs into it.
	existing bool
}

func backlogWorker(url string) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "backlog"})
	db := w.Database("backlog", synq.DatabaseConfig{Existing: url, PrimaryKey: "Name",
		Schema: schema.Properties{"Name": schema.Title(), "Points": schema.Number()}})
	synq.AddSync(w, "backlogSync", synq.SyncConfig[pageState]{Database: db, Schedule: "manual",
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			return synq.Result[pageState]{}, nil
		}})
	return w
}

func secondWorker() *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "second"})
	others := w.Database("others", synq.DatabaseConfig{
		InitialTitle: "Others",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title()},
	})
	synq.AddSync(w, "secondSync", synq.SyncConfig[pageState]{Database: others, Mode: synq.Incremental, Schedule: "1h",
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			return synq.Result[pageState]{Changes: []synq.Change{synq.Upsert("x", builder.Properties{})}}, nil
		}})
	synq.AddWebhook(w, "secondEvents", synq.WebhookConfig{Database: others,
		Handle: func(context.Context, *synq.WebhookDelivery) (synq.WebhookResult, error) {
			return synq.WebhookResult{}, nil
		}})
	return w
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, redis: redistest.Start(t), emu: notiontest.Start(t, emulator.Config{}), token: o.token,
		source: &source{items: map[string]string{"a": "alpha", "b": "beta", "c": "gamma"}}}
	s.source.pause.Store(int64(o.pause))
	s.source.pages.Store(int64(max(o.pages, 1)))
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	workers := []*synq.Worker{testWorker(s.source)}
	if o.second {
		workers = append(workers, secondWorker())
	}
	if o.existing {
		nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
		if err != nil {
			t.Fatal(err)
		}
		bl, err := notiontest.SeedBacklog(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, backlogWorker(bl.URL))
	}
	for _, w := range workers {
		x, err := synq.NewExecutor(ctx, w, synq.ExecutorConfig{
			RedisURL: s.redis.URL(), NotionToken: notiontest.Token, NotionBaseURL: s.emu.URL(),
			NotionParentPageID: notiontest.ParentPageID(), NotionRateLimit: 6000, Concurrency: 2, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = x.Stop(sctx)
		})
	}
	var err error
	s.ops, err = ops.New(ops.Config{Redis: s.redis.Client(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.rdb = s.ops.RDB()
	// The leader lease, as a scheduler holds it.
	if _, err := s.rdb.AcquireOrRenewLeader(ctx, "test-scheduler", time.Minute); err != nil {
		t.Fatal(err)
	}
	s.con, err = console.New(console.Config{Ops: s.ops, Token: o.token, SchedulerID: "test-scheduler", Refresh: time.Second,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(s.con)
	t.Cleanup(s.srv.Close)
	return s
}

// retire registers a sync that no live executor declares (a worker that
// was retired), so forget has something to forget.
func (s *stack) retire(key string) {
	s.t.Helper()
	b, err := json.Marshal(spec.Registered{Worker: "oldworker", Build: "b0", Sync: spec.ManifestSync{
		Key: key, Database: "old", Mode: spec.Incremental, Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}, MaxAttempts: 3, Timeout: time.Minute}})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.rdb.Register(context.Background(), map[string][]byte{key: b}); err != nil {
		s.t.Fatal(err)
	}
}

// waitRun waits for a run to end.
func (s *stack) waitRun(id string, d time.Duration) rdb.Run {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := s.ops.Run(context.Background(), id)
		if err == nil && r.Ended() {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s did not end within %v: %+v (%v)", id, d, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client is a browser-like HTTP client: cookies, no redirects followed.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	// csrf is the token of the last page read.
	csrf string
}

func (s *stack) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: s.t, base: s.srv.URL, hc: &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	status int
	body   string
	header http.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	r, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp{status: r.StatusCode, body: string(b), header: r.Header}
}

func (c *client) get(path string) resp {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// post sends a form the way the console's pages do: with the CSRF token
// of the last page read, from the console's own origin.
func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	return c.postRaw(path, form, map[string]string{"Origin": c.base, "Sec-Fetch-Site": "same-origin"})
}

func (c *client) postRaw(path string, form url.Values, hdr map[string]string) resp {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

func (c *client) login(token string) {
	c.t.Helper()
	r := c.postRaw("/login", url.Values{"token": {token}, "next": {"/"}}, map[string]string{"Origin": c.base})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("login: %d\n%s", r.status, r.body)
	}
}

func want(t *testing.T, what string, r resp, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, r.status, status, r.body)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			t.Fatalf("%s: the page lacks %q\n%s", what, s, r.body)
		}
	}
}

func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s in:\n%s", re, s)
	}
	return m[1]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// rowsOf reads a database's live rows from the emulator: key → Note.
func (s *stack) rowsOf(db string) map[string]string {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), db)
	if err != nil || !ok {
		s.t.Fatalf("database %s: %v (%v)", db, ok, err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	list, err := nc.QueryDataSource(context.Background(), ids.DataSourceID, notion.QueryRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Results {
		out[p.Properties["Key"].Text()] = p.Properties["Note"].Text()
	}
	return out
}

// testWriter sends the console's warnings and errors to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
