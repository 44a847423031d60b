// Package console serves synq's web console: the control surface of ctl as
// web pages, served by every scheduler (docs/operations.md, "The console in detail").
//
// Every screen reads, and every button acts, through the operations of
// package ops — the ones the gRPC control API calls — so no rule of synq
// has a second implementation here. Pages are html/template with embedded
// assets (a stylesheet and a small script, no CDN, no build step). Without
// SYNQ_CONTROL_TOKEN the console listens on loopback only (the control
// API's rule) and answers only requests addressed to a loopback host (a
// page of another site cannot reach it through DNS rebinding); with a
// token, a login form sets a signed session cookie (HttpOnly,
// SameSite=Strict, Secure over TLS). Every state-changing request carries
// a CSRF token bound to the session and passes Go's cross-origin
// protection (Sec-Fetch-Site / Origin).
package console

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/ops"
)

// AddrDefault is where schedulers serve the console by default.
const AddrDefault = "127.0.0.1:7078"

// Config configures a Console.
type Config struct {
	Ops *ops.Ops
	// Token, when set, is asked for by the login form (the scheduler's
	// SYNQ_CONTROL_TOKEN). Empty: no login, and only loopback hosts are
	// served.
	Token string
	// SchedulerID names the replica serving the console (shown beside
	// the leader).
	SchedulerID string
	// Refresh is how often the overview, lists and detail pages refresh
	// their figures in the browser (default RefreshDefault).
	Refresh time.Duration
	// SessionTTL is how long a login lasts (default SessionTTLDefault).
	SessionTTL time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout bound a request's read,
	// its response's write and a kept-alive connection's wait (defaults
	// ReadTimeoutDefault, WriteTimeoutDefault, IdleTimeoutDefault), so a
	// client that trickles or stalls cannot hold a connection for ever.
	// A run's live stream lifts the read and write bounds for itself.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// AlertDestinations names where alerts go (shown on the alerts page).
	AlertDestinations []string
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Console is the console's HTTP handler.
type Console struct {
	cfg Config
	ops *ops.Ops
	log *slog.Logger
	// key signs sessions and CSRF tokens: derived from the token, so every
	// scheduler replica accepts the others' sessions and a new token ends
	// every session; random per process without a token.
	key     []byte
	handler http.Handler
}

// Defaults of Config.
const (
	RefreshDefault    = 5 * time.Second
	SessionTTLDefault = 12 * time.Hour
	// The slowest page (a preview reading Notion) answers well within
	// WriteTimeoutDefault; forms are small, so ReadTimeoutDefault is
	// generous for a slow link.
	ReadTimeoutDefault  = 30 * time.Second
	WriteTimeoutDefault = 2 * time.Minute
	IdleTimeoutDefault  = 2 * time.Minute
)

func (c Config) validate() error {
	if c.Ops == nil {
		return errors.New("console: Config.Ops is required")
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Refresh = defaults.Positive(c.Refresh, RefreshDefault)
	c.SessionTTL = defaults.Positive(c.SessionTTL, SessionTTLDefault)
	c.ReadTimeout = defaults.Positive(c.ReadTimeout, ReadTimeoutDefault)
	c.WriteTimeout = defaults.Positive(c.WriteTimeout, WriteTimeoutDefault)
	c.IdleTimeout = defaults.Positive(c.IdleTimeout, IdleTimeoutDefault)
	return c
}

// New returns a Console.
func New(cfg Config) (*Console, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Console{cfg: cfg, ops: cfg.Ops, log: cfg.Logger}
	if cfg.Token != "" {
		c.key = deriveKey(cfg.Token)
	} else {
		c.key = make([]byte, 32)
		if _, err := rand.Read(c.key); err != nil {
			return nil, err
		}
	}
	c.handler = c.routes()
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Serve serves the console on lis until ctx ends, then shuts down
// (live streams end at once; other requests get 5 s). With certFile and
// keyFile it serves HTTPS.
func (c *Console) Serve(ctx context.Context, lis net.Listener, certFile, keyFile string) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.cfg.ReadTimeout,
		WriteTimeout:      c.cfg.WriteTimeout,
		IdleTimeout:       c.cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	// Live streams (a run's events) follow the base context: they end when
	// the server shuts down instead of holding it up.
	srv.RegisterOnShutdown(cancel)
	done := make(chan error, 1)
	go func() {
		if certFile != "" {
			done <- srv.ServeTLS(lis, certFile, keyFile)
		} else {
			done <- srv.Serve(lis)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
