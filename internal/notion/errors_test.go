package notion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestErrorString(t *testing.T) {
	e := &Error{Status: 400, Code: CodeValidation, Message: "body.properties.X should be defined", RequestID: "r-1", Method: "PATCH", Path: "/v1/pages/p1"}
	want := "notion: PATCH /v1/pages/p1: 400 validation_error: body.properties.X should be defined (request_id r-1)"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant %q", e.Error(), want)
	}
	e = &Error{Status: 429, Code: CodeRateLimited, Message: "slow down", RetryAfter: 3 * time.Second, Method: "POST", Path: "/v1/pages"}
	if got := e.Error(); got != "notion: POST /v1/pages: 429 rate_limited: slow down (retry after 3s)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDecodeErrorBody(t *testing.T) {
	r := Request{Method: "POST", Path: "/v1/pages"}
	resp := &http.Response{StatusCode: 503, Header: http.Header{}}
	body := `{"object":"error","status":503,"code":"service_unavailable","message":"Notion is unavailable.","request_id":"rq",
	  "additional_data":{"committed_resource_id":"59833787-2cf9-4fdf-8782-e53db20768a5"}}`
	e := decodeError(r, resp, []byte(body))
	if e.Status != 503 || e.Code != "service_unavailable" || e.RequestID != "rq" || e.Method != "POST" {
		t.Errorf("decoded %+v", e)
	}
	if id, ok := CommittedResourceID(fmt.Errorf("wrapped: %w", e)); !ok || id != "59833787-2cf9-4fdf-8782-e53db20768a5" {
		t.Errorf("CommittedResourceID = %q, %v", id, ok)
	}

	resp = &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}}
	e = decodeError(r, resp, []byte(`{"object":"error","status":429,"code":"rate_limited","message":"You have been rate limited.","additional_data":{"rate_limit_reason":"connection"}}`))
	if e.RetryAfter != 7*time.Second || e.AdditionalData["rate_limit_reason"] != "connection" {
		t.Errorf("429 decoded %+v", e)
	}

	resp = &http.Response{StatusCode: 502, Header: http.Header{}}
	e = decodeError(r, resp, []byte("<html>bad gateway from the proxy, secret-ish page</html>"))
	if e.Code != "" || strings.Contains(e.Error(), "html") || !strings.Contains(e.Error(), "502: Bad Gateway") {
		t.Errorf("proxy page decoded as %q", e.Error())
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "2": 2 * time.Second, " 30 ": 30 * time.Second, "1.5": 1500 * time.Millisecond, "junk": 0, "-3": 0} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	if got := parseRetryAfter(time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)); got < 8*time.Second || got > 10*time.Second {
		t.Errorf("HTTP-date Retry-After = %v", got)
	}
}

func TestErrorPredicates(t *testing.T) {
	nf := fmt.Errorf("ctx: %w", &Error{Status: 404, Code: CodeObjectNotFound})
	val := &Error{Status: 400, Code: CodeValidation}
	if !IsNotFound(nf) || IsNotFound(val) || IsNotFound(errors.New("x")) || IsNotFound(nil) {
		t.Error("IsNotFound")
	}
	if !IsValidation(val) || IsValidation(nf) {
		t.Error("IsValidation")
	}
	if _, ok := CommittedResourceID(&Error{Status: 500, AdditionalData: map[string]any{"committed_resource_id": "x"}}); ok {
		t.Error("a 500 is not a committed 503")
	}
	if _, ok := CommittedResourceID(&Error{Status: 503}); ok {
		t.Error("a 503 without additional_data is not committed")
	}
}

func TestIsRetryable(t *testing.T) {
	committed := &Error{Status: 503, AdditionalData: map[string]any{"committed_resource_id": "p"}}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &transportError{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	timeout := fmt.Errorf("notion: GET /v1/pages/x: no answer: %w", context.DeadlineExceeded)
	cases := []struct {
		name        string
		err         error
		read, write bool
		wait        time.Duration
	}{
		{"nil", nil, false, false, 0},
		{"429", &Error{Status: 429, RetryAfter: 2 * time.Second}, true, true, 2 * time.Second},
		{"529", &Error{Status: 529, RetryAfter: time.Second}, true, true, time.Second},
		{"500", &Error{Status: 500}, true, false, 0},
		{"502", &Error{Status: 502}, true, false, 0},
		{"503", &Error{Status: 503}, true, false, 0},
		{"504", &Error{Status: 504}, true, false, 0},
		{"503 committed", committed, false, false, 0},
		{"400", &Error{Status: 400, Code: CodeValidation}, false, false, 0},
		{"401", &Error{Status: 401}, false, false, 0},
		{"404", &Error{Status: 404}, false, false, 0},
		{"409", &Error{Status: 409, Code: CodeConflict}, false, false, 0},
		{"timeout", timeout, true, false, 0},
		{"reset", reset, true, false, 0},
		{"unexpected EOF", &transportError{io.ErrUnexpectedEOF}, true, false, 0},
		{"never connected", fmt.Errorf("x: %w", &transportError{dial}), true, true, 0},
		{"ambiguous", fmt.Errorf("%w: %w", ErrAmbiguousWrite, &Error{Status: 500}), false, false, 0},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false, false, 0},
		{"other", errors.New("boom"), false, false, 0},
	}
	for _, c := range cases {
		r, w := IsRetryable(c.err, false)
		if r != c.read || (r && w != c.wait) {
			t.Errorf("%s: read retry = %v %v, want %v %v", c.name, r, w, c.read, c.wait)
		}
		if r, _ := IsRetryable(c.err, true); r != c.write {
			t.Errorf("%s: write retry = %v, want %v", c.name, r, c.write)
		}
	}
}

func TestNewConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "NOTION_API_TOKEN") {
		t.Errorf("empty token: %v", err)
	}
	for _, bad := range []string{"api.notion.com", "ftp://x", "http://", "http://x/?q=1", ":/bad"} {
		if _, err := New(Config{Token: "t", BaseURL: bad}); err == nil || !strings.Contains(err.Error(), "NOTION_API_BASE_URL") {
			t.Errorf("base URL %q: %v", bad, err)
		}
	}
	t.Setenv("NOTION_API_BASE_URL", "http://127.0.0.1:9/prefix/")
	c, err := New(Config{Token: "t"})
	if err != nil || c.BaseURL() != "http://127.0.0.1:9/prefix" {
		t.Errorf("env base URL: %v %v", c, err)
	}
	os.Unsetenv("NOTION_API_BASE_URL")
	c, err = New(Config{Token: "t"})
	if err != nil || c.BaseURL() != BaseURLDefault {
		t.Errorf("default base URL: %v %v", c, err)
	}
}

// scripted serves the given responses in turn (the last repeats) and
// records the requests.
type scripted struct {
	calls   atomic.Int64
	steps   []func(w http.ResponseWriter, r *http.Request)
	headers chan http.Header
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1)) - 1
	if s.headers != nil {
		select {
		case s.headers <- r.Header.Clone():
		default:
		}
	}
	s.steps[min(n, len(s.steps)-1)](w, r)
}

func respond(status int, body string, hdr ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func apiErr(status int, code string) func(http.ResponseWriter, *http.Request) {
	return respond(status, fmt.Sprintf(`{"object":"error","status":%d,"code":%q,"message":"m"}`, status, code))
}

const pageOK = `{"object":"page","id":"p1","created_time":"2024-01-01T00:00:00.000Z","last_edited_time":"2024-01-01T00:00:00.000Z","parent":{"type":"data_source_id","data_source_id":"d"},"properties":{}}`

func newScripted(t *testing.T, cfg Config, steps ...func(http.ResponseWriter, *http.Request)) (*Client, *scripted) {
	t.Helper()
	s := &scripted{steps: steps, headers: make(chan http.Header, 1)}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	if cfg.Token == "" {
		cfg.Token = "secret_TOKEN_abc123"
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestHeadersAndHooks(t *testing.T) {
	var before, after atomic.Int64
	var routes []string
	c, s := newScripted(t, Config{
		Before: func(ctx context.Context, r Request) error {
			before.Add(1)
			if !r.Write || r.Route != "PATCH /v1/pages/{id}" || r.Path != "/v1/pages/p%2F1" {
				t.Errorf("Before got %+v", r)
			}
			return nil
		},
		After: func(r Request, status int, d time.Duration, err error) {
			after.Add(1)
			routes = append(routes, fmt.Sprint(r.Route, " ", status, " ", err != nil))
		},
	}, apiErr(429, CodeRateLimited), respond(200, pageOK))
	if _, err := c.UpdatePage(context.Background(), "p/1", UpdatePageRequest{Properties: map[string]PropertyValue{"Done": CheckboxValue(true)}}); err != nil {
		t.Fatal(err)
	}
	h := <-s.headers
	if h.Get("Authorization") != "Bearer secret_TOKEN_abc123" || h.Get("Notion-Version") != "2025-09-03" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}
	if before.Load() != 2 || after.Load() != 2 || s.calls.Load() != 2 {
		t.Errorf("before %d after %d calls %d", before.Load(), after.Load(), s.calls.Load())
	}
	if strings.Join(routes, ",") != "PATCH /v1/pages/{id} 429 true,PATCH /v1/pages/{id} 200 false" {
		t.Errorf("After saw %v", routes)
	}
}

func TestBeforeErrorAbortsWithoutSending(t *testing.T) {
	stop := errors.New("pacer closed")
	c, s := newScripted(t, Config{Before: func(context.Context, Request) error { return stop }}, respond(200, pageOK))
	_, err := c.CreatePage(context.Background(), CreatePageRequest{DataSourceID: "d"})
	if !errors.Is(err, stop) || errors.Is(err, ErrAmbiguousWrite) || s.calls.Load() != 0 {
		t.Errorf("err = %v, calls = %d", err, s.calls.Load())
	}
}

func TestWriteRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("529 retried", func(t *testing.T) {
		c, s := newScripted(t, Config{}, apiErr(529, "service_overload"), respond(200, pageOK))
		if _, err := c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d"}); err != nil || s.calls.Load() != 2 {
			t.Errorf("err %v calls %d", err, s.calls.Load())
		}
	})
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status, " not retried, ambiguous"), func(t *testing.T) {
			c, s := newScripted(t, Config{}, apiErr(status, "x"), respond(200, pageOK))
			_, err := c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d"})
			var e *Error
			if !errors.Is(err, ErrAmbiguousWrite) || !errors.As(err, &e) || e.Status != status || s.calls.Load() != 1 {
				t.Errorf("err %v calls %d", err, s.calls.Load())
			}
		})
	}
	t.Run("409 not retried, not ambiguous", func(t *testing.T) {
		c, s := newScripted(t, Config{}, apiErr(409, CodeConflict), respond(200, pageOK))
		_, err := c.UpdatePage(ctx, "p1", UpdatePageRequest{})
		if err == nil || errors.Is(err, ErrAmbiguousWrite) || s.calls.Load() != 1 {
			t.Errorf("err %v calls %d", err, s.calls.Load())
		}
	})
	t.Run("429 exhausted is not ambiguous", func(t *testing.T) {
		var limited atomic.Int64
		c, s := newScripted(t, Config{MaxRetries: 2, OnRateLimited: func(context.Context, RateLimit) { limited.Add(1) }}, apiErr(429, CodeRateLimited))
		_, err := c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d"})
		if err == nil || errors.Is(err, ErrAmbiguousWrite) || s.calls.Load() != 3 || limited.Load() != 3 {
			t.Errorf("err %v calls %d limited %d", err, s.calls.Load(), limited.Load())
		}
	})
	t.Run("503 committed reads the page back", func(t *testing.T) {
		c, s := newScripted(t, Config{},
			respond(503, `{"object":"error","status":503,"code":"service_unavailable","message":"m","additional_data":{"committed_resource_id":"p1"}}`),
			func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "GET" || r.URL.Path != "/v1/pages/p1" {
					t.Errorf("read back with %s %s", r.Method, r.URL.Path)
				}
				respond(200, pageOK)(w, r)
			})
		p, err := c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d"})
		if err != nil || p.ID != "p1" || s.calls.Load() != 2 {
			t.Errorf("page %+v err %v calls %d", p, err, s.calls.Load())
		}
	})
	t.Run("MaxRetries negative means once", func(t *testing.T) {
		c, s := newScripted(t, Config{MaxRetries: -1}, apiErr(500, "internal_server_error"), respond(200, pageOK))
		if _, err := c.GetPage(ctx, "p1"); err == nil || s.calls.Load() != 1 {
			t.Errorf("err %v calls %d", err, s.calls.Load())
		}
	})
}

func TestRetryAfterBeyondDeadlineReturnsAtOnce(t *testing.T) {
	c, s := newScripted(t, Config{}, respond(429, `{"object":"error","status":429,"code":"rate_limited","message":"m"}`, "Retry-After", "30"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.GetPage(ctx, "p1")
	var e *Error
	if !errors.As(err, &e) || e.Status != 429 || !errors.Is(err, context.DeadlineExceeded) || s.calls.Load() != 1 {
		t.Fatalf("err %v calls %d", err, s.calls.Load())
	}
	if time.Since(start) > time.Second {
		t.Errorf("waited %v although the wait could not fit before the deadline", time.Since(start))
	}
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	const token = "secret_TOKEN_abc123"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	ctx := context.Background()

	c, _ := newScripted(t, Config{Token: token, Logger: logger, MaxRetries: 1}, apiErr(500, "internal_server_error"))
	_, err := c.GetPage(ctx, "p1")
	errs = append(errs, err)
	_, err = c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d", Properties: map[string]PropertyValue{"T": TitleValue(Text("body-content"))}})
	errs = append(errs, err)

	c, _ = newScripted(t, Config{Token: token, Logger: logger, Timeout: 50 * time.Millisecond, MaxRetries: 1},
		func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	_, err = c.GetPage(ctx, "p1")
	errs = append(errs, err)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Close() // connection refused
	c, _ = New(Config{Token: token, BaseURL: srv.URL, Logger: logger, Backoff: time.Millisecond, MaxRetries: 1})
	_, err = c.GetDatabase(ctx, "db")
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "Bearer") || strings.Contains(err.Error(), "body-content") {
			t.Errorf("error leaks a secret or the body: %v", err)
		}
	}
	if strings.Contains(logs.String(), token) || logs.Len() == 0 {
		t.Errorf("logs leak the token (or are empty): %s", logs.String())
	}
}

func TestTimeoutCutsAttempt(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client leaving only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	c, s := newScripted(t, Config{Timeout: 100 * time.Millisecond}, stall, respond(200, pageOK))
	if _, err := c.GetPage(context.Background(), "p1"); err != nil || s.calls.Load() != 2 {
		t.Errorf("read: err %v calls %d", err, s.calls.Load())
	}
	c, s = newScripted(t, Config{Timeout: 100 * time.Millisecond}, stall, respond(200, pageOK))
	_, err := c.UpdatePage(context.Background(), "p1", UpdatePageRequest{})
	if !errors.Is(err, ErrAmbiguousWrite) || !errors.Is(err, context.DeadlineExceeded) || s.calls.Load() != 1 {
		t.Errorf("write: err %v calls %d", err, s.calls.Load())
	}
}

func TestRefusedConnectionRetriedForWrites(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	var attempts atomic.Int64
	c, err := New(Config{Token: "t", BaseURL: srv.URL, Backoff: time.Millisecond, MaxRetries: 2,
		After:  func(Request, int, time.Duration, error) { attempts.Add(1) },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreatePage(context.Background(), CreatePageRequest{DataSourceID: "d"})
	if err == nil || errors.Is(err, ErrAmbiguousWrite) || attempts.Load() != 3 {
		t.Errorf("err %v attempts %d: a refused connection never reached Notion", err, attempts.Load())
	}
}

func TestLocalArgumentErrors(t *testing.T) {
	c, s := newScripted(t, Config{}, respond(200, pageOK))
	ctx := context.Background()
	checks := []error{}
	_, err := c.GetPage(ctx, "")
	checks = append(checks, err)
	_, err = c.CreatePage(ctx, CreatePageRequest{})
	checks = append(checks, err)
	_, err = c.CreateDatabase(ctx, CreateDatabaseRequest{Title: "x"})
	checks = append(checks, err)
	_, err = c.QueryDataSource(ctx, "d", QueryRequest{PageSize: 101})
	checks = append(checks, err)
	_, err = c.Search(ctx, SearchRequest{Filter: "database"})
	checks = append(checks, err)
	_, err = c.CreatePage(ctx, CreatePageRequest{DataSourceID: "d", Properties: map[string]PropertyValue{"x": {}}})
	checks = append(checks, err)
	for i, err := range checks {
		if err == nil {
			t.Errorf("check %d: no error", i)
		}
	}
	if s.calls.Load() != 0 {
		t.Errorf("%d requests sent for invalid arguments", s.calls.Load())
	}
}
