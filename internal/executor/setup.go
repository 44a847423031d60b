package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/spec"
)

// Options are an executor process's settings (DESIGN.md §7).
type Options struct {
	RedisURL      string // REDIS_URL
	NotionToken   string // NOTION_API_TOKEN
	NotionBaseURL string // NOTION_API_BASE_URL
	ParentPageID  string // NOTION_PARENT_PAGE_ID
	// NotionRateLimit is Notion requests per minute for the token, shared
	// by every executor (SYNQ_NOTION_RATE_LIMIT); 0 or less = unlimited.
	NotionRateLimit int
	// NotionWorkspace names the Notion workspace of the token
	// (SYNQ_NOTION_WORKSPACE): executors of every token given the same
	// name share the workspace's cool-downs and NotionWorkspaceRateLimit.
	NotionWorkspace string
	// NotionWorkspaceRateLimit is the workspace's budget, requests per
	// minute for all its tokens together (SYNQ_NOTION_WORKSPACE_RATE_LIMIT);
	// 0 paces each token alone.
	NotionWorkspaceRateLimit int
	Concurrency              int
	ShutdownTimeout          time.Duration
	RetryBase                time.Duration
	RetryMax                 time.Duration
	ManifestEvery            time.Duration
	Logger                   *slog.Logger
	// Metrics, when set, receives the executor's figures.
	Metrics *metrics.Metrics
}

// Open connects to Redis and Notion and returns an executor ready to Start.
// Errors say which setting to fix; secrets never appear in them.
func Open(ctx context.Context, set *spec.Set, o Options) (*Executor, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	target, err := redisconn.Parse(o.RedisURL)
	if err != nil {
		return nil, err
	}
	client, err := target.Open(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Executor, error) {
		_ = client.Close()
		return nil, err
	}
	// One watcher of Redis for the process: it logs an outage once (and
	// drops the repeats asynq and the pacer would log), and tells pages
	// when Redis is back.
	mon, err := redisconn.NewMonitor(redisconn.Config{Client: client, Where: target.Where(), Logger: o.Logger, WatchCommands: true})
	if err != nil {
		return fail(err)
	}
	o.Logger = slog.New(mon.Handler(o.Logger.Handler()))
	if o.NotionToken == "" {
		return fail(errors.New("NOTION_API_TOKEN is not set: set it to the integration token (or to any token the local Notion emulator accepts)"))
	}
	if err := checkNotionTarget(o); err != nil {
		return fail(err)
	}
	if o.ParentPageID == "" && len(set.Databases) > 0 {
		return fail(errors.New("NOTION_PARENT_PAGE_ID is not set: set it to the id of the Notion page managed databases are created under (shared with the integration)"))
	}
	p, err := pacer.New(pacer.Config{Redis: client, Logger: o.Logger})
	if err != nil {
		return fail(err)
	}
	nc, err := notion.New(notionConfig(o, p))
	if err != nil {
		return fail(fmt.Errorf("Notion client: %w", err))
	}
	eng, err := engine.New(engine.Config{Redis: rdb.New(client), Notion: nc, ParentPageID: o.ParentPageID, Set: set, Logger: o.Logger})
	if err != nil {
		return fail(err)
	}
	x, err := New(Config{
		Record: notionRecord(o),
		Set:    set, Engine: eng, Redis: client, Monitor: mon, Pacers: sdkPacers{p: p, m: o.Metrics}, Metrics: o.Metrics,
		Concurrency: o.Concurrency, ShutdownTimeout: o.ShutdownTimeout,
		RetryBase: o.RetryBase, RetryMax: o.RetryMax, ManifestEvery: o.ManifestEvery, Logger: o.Logger,
	})
	if err != nil {
		return fail(err)
	}
	x.ownClient = client
	x.notionURL = cmp.Or(o.NotionBaseURL, os.Getenv("NOTION_API_BASE_URL"), notion.DefaultBaseURL)
	return x, nil
}

// LocalEmulatorToken is the token `make dev` gives executors for its Notion
// emulator.
const LocalEmulatorToken = "secret_local_emulator"

// checkNotionTarget catches an executor started by hand against `make dev`
// without NOTION_API_BASE_URL: with the emulator's token it would call the
// real api.notion.com and fail there with "unauthorized".
func checkNotionTarget(o Options) error {
	base := cmp.Or(o.NotionBaseURL, os.Getenv("NOTION_API_BASE_URL"))
	if o.NotionToken == LocalEmulatorToken && (base == "" || strings.Contains(base, "api.notion.com")) {
		return fmt.Errorf("NOTION_API_TOKEN is the local emulator's token (%s) but NOTION_API_BASE_URL is %s: set NOTION_API_BASE_URL to the emulator (`make dev` prints the exports, e.g. NOTION_API_BASE_URL=http://127.0.0.1:7070)",
			LocalEmulatorToken, cmp.Or(base, "not set (so the real https://api.notion.com)"))
	}
	return nil
}

// notionConfig wires the Notion client into the shared pacer: every call
// waits its turn on the token's budgets (connection, workspace, endpoint;
// see pacer.NotionBudgets), with the running sync as consumer, and a 429
// cools down the budget it names for every executor.
func notionConfig(o Options, p *pacer.Pacer) notion.Config {
	ncfg := notion.Config{BaseURL: o.NotionBaseURL, Token: o.NotionToken, Logger: o.Logger}
	if m := o.Metrics; m != nil {
		ncfg.After = func(r notion.Request, status int, d time.Duration, _ error) { m.ObserveNotion(r.Route, status, d) }
	}
	b, ok := p.Notion(pacer.NotionConfig{
		Token: o.NotionToken, PerMinute: o.NotionRateLimit,
		Workspace: o.NotionWorkspace, WorkspacePerMinute: o.NotionWorkspaceRateLimit,
	})
	if ok {
		ncfg.Before = func(ctx context.Context, r notion.Request) error {
			start := time.Now()
			err := b.Wait(ctx, r.Route, consumerOf(ctx))
			if o.Metrics != nil {
				o.Metrics.PacerWait.WithLabelValues("notion").Observe(time.Since(start).Seconds())
			}
			return err
		}
		ncfg.OnRateLimited = func(ctx context.Context, rl notion.RateLimit) {
			prl := pacer.RateLimit{Budget: pacer.Budget(rl.Budget), RetryAfter: rl.RetryAfter, Route: rl.Route}
			if err := b.RateLimited(context.WithoutCancel(ctx), prl); err != nil {
				o.Logger.Warn("could not share Notion's rate-limit cool-down", "budget", rl.Budget, "err", err)
			}
		}
	}
	return ncfg
}

// notionRecord is what the executor's record says of its Notion budgets;
// the per-minute figures are 0 when unpaced.
func notionRecord(o Options) map[string]string {
	rec := map[string]string{
		rdb.ExecutorNotionPacer:     pacer.NotionPacerName(o.NotionToken),
		rdb.ExecutorNotionPerMinute: strconv.Itoa(max(o.NotionRateLimit, 0)),
	}
	if ws := strings.TrimSpace(o.NotionWorkspace); ws != "" {
		rec[rdb.ExecutorNotionWorkspacePacer] = pacer.NotionWorkspacePacerName(ws)
		rec[rdb.ExecutorNotionWorkspacePerMinute] = strconv.Itoa(max(o.NotionWorkspaceRateLimit, 0))
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
