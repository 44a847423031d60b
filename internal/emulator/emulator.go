// Package emulator is a Notion API emulator (API version 2025-09-03) for
// tests and the local stack.
//
// It serves the endpoints synq uses — databases, data sources, pages,
// users and search — with the JSON shapes, error codes, limits and rate
// limiting of the real API, so that code tested against it works against
// Notion. Data lives in memory and, with a data directory, in an
// append-only log replayed at start. Faults (500, 503, stalls, and a 503
// after a write was applied) can be injected to test failure handling.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the Notion API version the emulator speaks.
const Version = "2025-09-03"

// AddrDefault is where the notion-emulator command listens by default.
const AddrDefault = "127.0.0.1:7070"

// RateLimitDefault is Notion's documented average: 3 requests a second,
// counted here as 180 per 60 s per token.
const RateLimitDefault = 180

// QueryResultLimitDefault is the most results Notion returns for one data
// source query (its filter and sorts): past it, pagination stops with
// has_more false and request_status "incomplete" (Notion's guide "Query
// large data sources").
const QueryResultLimitDefault = 10_000

// Config configures a Server.
type Config struct {
	// Addr is the listen address of Start; "" means 127.0.0.1:0.
	Addr string
	// Tokens are the accepted integration tokens. Empty accepts any
	// non-empty bearer token (handy for a local stack); a request without
	// one is always unauthorized.
	Tokens []string
	// DataDir keeps the data across restarts; "" keeps it in memory only.
	DataDir string
	// RateLimit is the number of requests a token may send per 60 s;
	// 0 turns rate limiting off (the command defaults to RateLimitDefault).
	// Refusals name the connection's budget.
	RateLimit int
	// WorkspaceRateLimit is the number of requests every token together
	// may send per 60 s (the emulator is one workspace); 0 means no
	// workspace budget. Refusals name the workspace's budget.
	WorkspaceRateLimit int
	// Faults injects errors; see Faults.
	Faults Faults
	// Latency delays every API request, as api.notion.com's few hundred
	// milliseconds do; the zero value answers at once.
	Latency Latency
	// QueryResultLimit is the most results one data source query returns
	// (QueryResultLimitDefault, Notion's 10,000, when 0): past it the
	// query's pages stop with has_more false and
	// request_status {"type": "incomplete", "incomplete_reason":
	// "query_result_limit_reached"}. Tests lower it.
	QueryResultLimit int
	// Users are the workspace's users; nil gives DefaultUsers.
	Users []User
	// Logger receives one line per request at debug level; nil discards.
	Logger *slog.Logger
	// WebURL is where people reach the emulator's web view, for the url
	// field of databases, data sources and pages; "" means the address
	// Start listens on (http://host:port).
	WebURL string
}

// User is a workspace member (or bot) listed by GET /v1/users.
type User struct {
	ID    string
	Name  string
	Email string
	Bot   bool
}

// DefaultUsers are the users of an emulator configured without any: the
// integration's bot and two people for demos.
var DefaultUsers = []User{
	{ID: "9f1c2b6e-5a4d-4c1e-8f00-000000000001", Name: "synq", Bot: true},
	{ID: "9f1c2b6e-5a4d-4c1e-8f00-000000000002", Name: "Ada Lovelace", Email: "ada@example.com"},
	{ID: "9f1c2b6e-5a4d-4c1e-8f00-000000000003", Name: "Grace Hopper", Email: "grace@example.com"},
}

// Server is a running or runnable emulator. Its Handler can be mounted
// on any http.Server; Start listens on Config.Addr.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  *store
	faults *faultInjector
	limit  *rateLimiter
	// workspace is the budget every token shares.
	workspace *rateLimiter
	stats     *statsRecorder
	latency   *latencyDrawer
	// queryLimit is the QueryResultLimit in force.
	queryLimit atomic.Int64
	tokens     map[string]bool
	mux        http.Handler

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New returns a server with its data loaded from Config.DataDir.
func New(cfg Config) (*Server, error) {
	if cfg.RateLimit < 0 {
		return nil, fmt.Errorf("emulator: rate limit %d: want requests per 60 s, or 0 for none", cfg.RateLimit)
	}
	if cfg.WorkspaceRateLimit < 0 {
		return nil, fmt.Errorf("emulator: workspace rate limit %d: want requests per 60 s, or 0 for none", cfg.WorkspaceRateLimit)
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if err := cfg.Latency.validate(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if cfg.QueryResultLimit < 0 {
		return nil, fmt.Errorf("emulator: query result limit %d: want the most results a query returns, or 0 for Notion's %d", cfg.QueryResultLimit, QueryResultLimitDefault)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	users := cfg.Users
	if users == nil {
		users = DefaultUsers
	}
	for _, u := range users {
		if _, ok := normalizeID(u.ID); !ok {
			return nil, fmt.Errorf("emulator: user %q: id %q is not a UUID", u.Name, u.ID)
		}
	}
	st, err := openStore(cfg.DataDir, users)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		store:     st,
		faults:    newFaultInjector(cfg.Faults),
		limit:     newRateLimiter(cfg.RateLimit),
		workspace: newRateLimiter(cfg.WorkspaceRateLimit),
		stats:     newStatsRecorder(),
		latency:   newLatencyDrawer(cfg.Latency),
		tokens:    map[string]bool{},
	}
	s.SetQueryResultLimit(cfg.QueryResultLimit)
	for _, t := range cfg.Tokens {
		s.tokens[t] = true
	}
	s.mux = s.routes()
	return s, nil
}

// Handler serves the API and the web page.
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on Config.Addr and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("emulator: already started")
	}
	addr := s.cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	s.ln = ln
	web := strings.TrimRight(s.cfg.WebURL, "/")
	if web == "" {
		web = "http://" + ln.Addr().String()
	}
	s.store.webBase.Store(&web)
	// net/http's own lines (a handler's panic, an accept error) go to the
	// emulator's logger, not to the standard log package.
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("emulator stopped serving", "err", err)
		}
	}()
	return nil
}

// Stop shuts the listener down, waits for requests in flight (until ctx
// ends) and closes the data log.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}
	if cerr := s.store.close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops at once, cutting requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Stop(ctx)
}

// Addr is the listen address once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the base URL of a started server, to use as NOTION_API_BASE_URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) { s.faults.set(f) }

// SetRateLimit sets the requests per 60 s per token (0 turns it off).
func (s *Server) SetRateLimit(perMinute int) { s.limit.set(perMinute) }

// SetWorkspaceRateLimit sets the requests per 60 s every token together
// may send (0 turns it off).
func (s *Server) SetWorkspaceRateLimit(perMinute int) { s.workspace.set(perMinute) }

// SetLatency changes how long every request takes from now on.
func (s *Server) SetLatency(l Latency) { s.latency.set(l) }

// SetQueryResultLimit sets the most results one query returns; 0 means
// Notion's QueryResultLimitDefault.
func (s *Server) SetQueryResultLimit(n int) {
	if n <= 0 {
		n = QueryResultLimitDefault
	}
	s.queryLimit.Store(int64(n))
}

// Stats counts the requests served since the start or ResetStats.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ResetStats zeroes the counters.
func (s *Server) ResetStats() { s.stats.reset() }
