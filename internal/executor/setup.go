package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/spec"
)

// Settings are an executor process's settings. They are
// synq.ExecutorConfig's fields, documented there: the SDK converts its
// config to Settings (a conversion, so the two cannot drift apart).
type Settings struct {
	RedisURL                 string
	NotionToken              string
	NotionBaseURL            string
	NotionParentPageID       string
	NotionRateLimit          int
	NotionWorkspace          string
	NotionWorkspaceRateLimit int
	Concurrency              int
	MetricsAddr              string
	WebhookAddr              string
	WebhookURL               string
	ShutdownTimeout          time.Duration
	ManifestInterval         time.Duration
	ClaimTTL                 time.Duration
	WriteConcurrency         int
	PollInterval             time.Duration
	Logger                   *slog.Logger
}

// Unlimited as Settings.NotionRateLimit turns Notion pacing off.
const Unlimited = -1

// withDefaults fills the zero settings. NotionRateLimit's zero value is
// Notion's average, so that a config left empty never hammers real Notion;
// a negative one (Unlimited) stays negative and means unpaced.
func (s Settings) withDefaults() Settings {
	if s.NotionRateLimit == 0 {
		s.NotionRateLimit = pacer.NotionPerMinuteDefault
	}
	s.Concurrency = defaults.Positive(s.Concurrency, ConcurrencyDefault)
	s.ShutdownTimeout = defaults.Positive(s.ShutdownTimeout, ShutdownTimeoutDefault)
	s.ManifestInterval = defaults.Positive(s.ManifestInterval, ManifestIntervalDefault)
	s.Logger = cmp.Or(s.Logger, slog.Default())
	return s
}

// validate checks what Open needs before it connects anywhere; errors say
// which setting to fix.
func (s Settings) validate(set *spec.Set) error {
	if s.NotionToken == "" {
		return errors.New("NOTION_API_TOKEN is not set: set it to the integration token (or to any token the local Notion emulator accepts)")
	}
	if err := checkNotionTarget(s); err != nil {
		return err
	}
	if s.NotionParentPageID == "" && len(set.Databases) > 0 {
		return errors.New("NOTION_PARENT_PAGE_ID is not set: set it to the id of the Notion page managed databases are created under (shared with the integration)")
	}
	return nil
}

// pacedPerMinute is a Notion rate limit as the pacer and the executor's
// record take it: 0 when unpaced.
func pacedPerMinute(limit int) int { return max(limit, 0) }

// Open checks s, connects to Redis and Notion, and returns an executor
// ready to Start. With s.MetricsAddr it also serves the executor's metrics
// and /healthz. Errors say which setting to fix; secrets never appear in
// them.
func Open(ctx context.Context, set *spec.Set, s Settings) (*Executor, error) {
	s = s.withDefaults()
	if err := s.validate(set); err != nil {
		return nil, err
	}
	var m *metrics.Metrics
	var ms *metrics.Server
	if s.MetricsAddr != "" {
		m = metrics.NewExecutor()
		var err error
		if ms, err = m.Listen(s.MetricsAddr, s.Logger); err != nil {
			return nil, err
		}
	}
	x, err := open(ctx, set, s, m)
	if err != nil {
		if ms != nil {
			_ = ms.Stop(ctx)
		}
		return nil, err
	}
	x.metricsSrv = ms
	return x, nil
}

func open(ctx context.Context, set *spec.Set, s Settings, m *metrics.Metrics) (*Executor, error) {
	// One watcher of Redis for the process: it logs an outage once (and
	// drops the repeats asynq and the pacer would log), and tells pages
	// when Redis is back.
	conn, err := redisconn.Connect(ctx, s.RedisURL, s.Logger)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Executor, error) {
		_ = conn.Client.Close()
		return nil, err
	}
	s.Logger = conn.Logger
	m.WatchRedis(conn.Monitor.Up)
	if m != nil {
		m.NotionBudget.WithLabelValues(pacer.NotionPacerName(s.NotionToken)).Set(float64(pacedPerMinute(s.NotionRateLimit)))
	}
	p, err := pacer.New(pacer.Config{Redis: conn.Client, Logger: s.Logger})
	if err != nil {
		return fail(err)
	}
	ncfg := notionConfig(s, m, p)
	ncfg.After = watchAuth(ncfg.After, rdb.New(conn.Client), pacer.NotionPacerName(s.NotionToken), s.Logger)
	nc, err := notion.New(ncfg)
	if err != nil {
		return fail(fmt.Errorf("Notion client: %w", err))
	}
	eng, err := engine.New(engine.Config{Redis: rdb.New(conn.Client), Notion: nc, ParentPageID: s.NotionParentPageID, Set: set, Logger: s.Logger,
		ClaimTTL: s.ClaimTTL, WriteConcurrency: s.WriteConcurrency})
	if err != nil {
		return fail(err)
	}
	x, err := New(Config{Settings: s, Set: set, Engine: eng, Redis: conn.Client, Monitor: conn.Monitor,
		Pacers: sdkPacers{p: p, m: m}, Metrics: m, Record: notionRecord(s)})
	if err != nil {
		return fail(err)
	}
	x.ownClient = conn.Client
	x.notionURL = nc.BaseURL()
	return x, nil
}

// LocalEmulatorToken is the token `make dev` gives executors for its Notion
// emulator.
const LocalEmulatorToken = "secret_local_emulator"

// checkNotionTarget catches an executor started by hand against `make dev`
// without NOTION_API_BASE_URL: with the emulator's token it would call the
// real api.notion.com and fail there with "unauthorized".
func checkNotionTarget(s Settings) error {
	base := cmp.Or(s.NotionBaseURL, os.Getenv("NOTION_API_BASE_URL"))
	if s.NotionToken == LocalEmulatorToken && (base == "" || strings.Contains(base, "api.notion.com")) {
		return fmt.Errorf("NOTION_API_TOKEN is the local emulator's token (%s) but NOTION_API_BASE_URL is %s: set NOTION_API_BASE_URL to the emulator (`make dev` prints the exports, e.g. NOTION_API_BASE_URL=http://127.0.0.1:7070)",
			LocalEmulatorToken, cmp.Or(base, "not set (so the real https://api.notion.com)"))
	}
	return nil
}

// notionConfig wires the Notion client into the shared pacer: every call
// waits its turn on the token's budgets (connection, workspace, endpoint;
// see pacer.NotionBudgets), with the running sync as consumer, and a 429
// cools down the budget it names for every executor.
func notionConfig(s Settings, m *metrics.Metrics, p *pacer.Pacer) notion.Config {
	ncfg := notion.Config{BaseURL: s.NotionBaseURL, Token: s.NotionToken, Logger: s.Logger}
	if m != nil {
		ncfg.After = func(r notion.Request, status int, d time.Duration, _ error) { m.ObserveNotion(r.Route, status, d) }
	}
	b, ok := p.Notion(pacer.NotionConfig{
		Token: s.NotionToken, PerMinute: pacedPerMinute(s.NotionRateLimit),
		Workspace: s.NotionWorkspace, WorkspacePerMinute: s.NotionWorkspaceRateLimit,
	})
	if ok {
		ncfg.Before = func(ctx context.Context, r notion.Request) error {
			start := time.Now()
			err := b.Wait(ctx, r.Route, consumerOf(ctx))
			if m != nil {
				m.PacerWait.WithLabelValues("notion").Observe(time.Since(start).Seconds())
			}
			return err
		}
		ncfg.OnRateLimited = func(ctx context.Context, rl notion.RateLimit) {
			prl := pacer.RateLimit{Budget: pacer.Budget(rl.Budget), RetryAfter: rl.RetryAfter, Route: rl.Route}
			if err := b.RateLimited(context.WithoutCancel(ctx), prl); err != nil {
				s.Logger.Warn("could not share Notion's rate-limit cool-down", "budget", rl.Budget, "err", err)
			}
		}
	}
	return ncfg
}

// watchAuth tells the leader's alerts when Notion refuses this
// executor's token (401/403), at most once a minute, and when it accepts
// it again; then calls next.
func watchAuth(next func(notion.Request, int, time.Duration, error), r *rdb.RDB, fingerprint string, log *slog.Logger) func(notion.Request, int, time.Duration, error) {
	var refused atomic.Bool
	var noted atomic.Int64
	note := func(f func(context.Context) error) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := f(ctx); err != nil {
				log.Debug("could not tell alerts about the Notion token", "err", err)
			}
		}()
	}
	return func(req notion.Request, status int, d time.Duration, err error) {
		if next != nil {
			next(req, status, d, err)
		}
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			now := time.Now().UnixNano()
			if refused.Load() && now-noted.Load() < int64(time.Minute) {
				return
			}
			refused.Store(true)
			noted.Store(now)
			msg := http.StatusText(status)
			if err != nil {
				msg = err.Error()
			}
			note(func(ctx context.Context) error { return r.NoteNotionAuth(ctx, fingerprint, status, msg) })
		case status/100 == 2 && refused.Load():
			refused.Store(false)
			note(func(ctx context.Context) error { return r.ClearNotionAuth(ctx, fingerprint) })
		}
	}
}

// notionRecord is what the executor's record says of its Notion budgets;
// the per-minute figures are 0 when unpaced.
func notionRecord(s Settings) map[string]string {
	rec := map[string]string{
		rdb.ExecutorNotionPacer:     pacer.NotionPacerName(s.NotionToken),
		rdb.ExecutorNotionPerMinute: strconv.Itoa(pacedPerMinute(s.NotionRateLimit)),
	}
	if ws := strings.TrimSpace(s.NotionWorkspace); ws != "" {
		rec[rdb.ExecutorNotionWorkspacePacer] = pacer.NotionWorkspacePacerName(ws)
		rec[rdb.ExecutorNotionWorkspacePerMinute] = strconv.Itoa(pacedPerMinute(s.NotionWorkspaceRateLimit))
	}
	return rec
}

// consumerOf is the pacer consumer of a Notion call: the sync running it,
// so syncs split the integration's budget.
func consumerOf(ctx context.Context) string {
	if e := spec.ExecFrom(ctx); e != nil {
		return e.Sync
	}
	return "synq"
}

// sdkPacers backs the SDK's Pacer handles with the shared pacer; the SDK
// pacer "helpdeskApi" lives under "sdk:helpdeskApi", apart from Notion's.
type sdkPacers struct {
	p *pacer.Pacer
	m *metrics.Metrics
}

func (s sdkPacers) WaitPacer(ctx context.Context, p spec.Pacer, consumer string) error {
	start := time.Now()
	err := s.p.Wait(ctx, "sdk:"+p.Key, pacer.Limit{Requests: p.AllowedRequests, Interval: p.Interval}, consumer)
	if s.m != nil {
		s.m.PacerWait.WithLabelValues(p.Key).Observe(time.Since(start).Seconds())
	}
	return err
}
