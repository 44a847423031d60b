package synq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/executor"
	"github.com/synqhq/synq/internal/logging"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/redisconn"
)

// ExecutorConfig configures an executor process. ExecutorConfigFromEnv
// reads it from the environment variables named on each field. A zero
// field takes its default, named by a constant below.
type ExecutorConfig struct {
	// RedisURL is the Redis holding queues and state (REDIS_URL, default
	// RedisURLDefault): redis://, rediss:// (TLS) or, to follow failovers,
	// redis+sentinel://[user:password@]host:port[,host:port…]/<master-name>[/<db>].
	RedisURL string
	// NotionToken is the integration token (NOTION_API_TOKEN).
	NotionToken string
	// NotionBaseURL is the API's address (NOTION_API_BASE_URL, default
	// NotionBaseURLDefault; the local emulator's address in development).
	NotionBaseURL string
	// NotionParentPageID is the page managed databases are created under
	// (NOTION_PARENT_PAGE_ID).
	NotionParentPageID string
	// NotionRateLimit is Notion requests per minute for the token, shared by
	// every executor: 0 is NotionRateLimitDefault, so a config left empty
	// never hammers real Notion, and Unlimited turns pacing off (for the
	// local emulator). SYNQ_NOTION_RATE_LIMIT is read the operator's way:
	// unset is the default, and 0 is Unlimited.
	NotionRateLimit int
	// NotionWorkspace names the Notion workspace the token belongs to
	// (SYNQ_NOTION_WORKSPACE). Notion's workspace budget is shared by every
	// connection of the workspace: give executors of every token of one
	// workspace the same name, and a 429 on the workspace's budget holds
	// back all of them, not only the token that met it.
	NotionWorkspace string
	// NotionWorkspaceRateLimit is the workspace's budget in requests per
	// minute for all its tokens together (SYNQ_NOTION_WORKSPACE_RATE_LIMIT,
	// needs NotionWorkspace); 0 paces each token on its own budget only.
	NotionWorkspaceRateLimit int
	// Concurrency is how many pages this process runs at once
	// (SYNQ_CONCURRENCY, default ConcurrencyDefault).
	Concurrency int
	// MetricsAddr, when set, serves Prometheus metrics at /metrics and the
	// executor's health at /healthz (SYNQ_METRICS_ADDR, e.g. ":9464").
	MetricsAddr string
	// WebhookAddr, when set, serves the worker's webhooks
	// (SYNQ_WEBHOOK_ADDR, e.g. ":8088"; off by default). Every executor
	// of a worker may serve them, behind any load balancer.
	WebhookAddr string
	// WebhookURL is the public base URL the webhook server is reached at
	// (SYNQ_WEBHOOK_URL, e.g. https://hooks.example.com), which `ctl
	// webhooks list` shows; default http:// and WebhookAddr's address.
	WebhookURL string
	// ShutdownTimeout is how long Stop waits for pages in flight before
	// handing them back to the queue (default ShutdownTimeoutDefault).
	ShutdownTimeout time.Duration
	// ManifestInterval is how often the executor refreshes its worker's
	// manifest in Redis (SYNQ_MANIFEST_INTERVAL, default
	// ManifestIntervalDefault). A manifest expires after four intervals
	// without a refresh: that is how long after its last executor stopped
	// a sync counts as declared.
	ManifestInterval time.Duration
	// ClaimTTL is how long the claim a writer holds on a row's key while
	// writing it outlives the writer when it stops renewing it (crashed,
	// frozen, cut off from Redis): other writers of the key wait that long
	// (SYNQ_CLAIM_TTL, default ClaimTTLDefault). A writer that cannot renew
	// its claim cancels its Notion request before the claim can expire.
	ClaimTTL time.Duration
	// WriteConcurrency is how many rows of a page this process writes to
	// Notion at once (SYNQ_WRITE_CONCURRENCY, default
	// WriteConcurrencyDefault; 1 writes them one after another). Each
	// Notion call takes a few hundred milliseconds, so one write at a time
	// leaves most of a budget unused; the Notion rate limit still bounds
	// the calls of every executor together. Raise it when Notion answers
	// slowly and the budget stays unused (docs/notion.md).
	WriteConcurrency int
	// PollInterval is how often an idle executor checks its queue for a
	// page (SYNQ_POLL_INTERVAL, default PollIntervalDefault, 20ms). Each
	// check is about three Redis commands, so an idle executor sends some
	// 150 a second whatever the number of syncs; a fleet of many
	// executors can raise it (200ms: a tenth of the traffic) at the price
	// of up to that much more between one page's commit and the next
	// page's start.
	PollInterval time.Duration
	// Logger defaults to slog.Default(). ExecutorConfigFromEnv sets one
	// that writes text on a terminal and JSON lines otherwise
	// (SYNQ_LOG_FORMAT=text|json overrides), at SYNQ_LOG_LEVEL.
	Logger *slog.Logger
}

// Defaults of ExecutorConfig's zero fields.
const (
	// RedisURLDefault is a Redis on this machine's default port.
	RedisURLDefault = redisconn.URLDefault
	// NotionBaseURLDefault is Notion's API.
	NotionBaseURLDefault = notion.BaseURLDefault
	// NotionRateLimitDefault is Notion's documented average: 3 requests a
	// second per integration.
	NotionRateLimitDefault = pacer.NotionPerMinuteDefault
	// ConcurrencyDefault is how many pages an executor runs at once.
	ConcurrencyDefault = executor.ConcurrencyDefault
	// ShutdownTimeoutDefault is how long Stop waits for pages in flight.
	ShutdownTimeoutDefault = executor.ShutdownTimeoutDefault
	// ManifestIntervalDefault is how often an executor refreshes its
	// worker's manifest.
	ManifestIntervalDefault = executor.ManifestIntervalDefault
	// ClaimTTLDefault is how long a key claim outlives a writer that
	// stopped renewing it.
	ClaimTTLDefault = engine.ClaimTTLDefault
	// WriteConcurrencyDefault is how many rows of a page an executor
	// writes at once.
	WriteConcurrencyDefault = engine.WriteConcurrencyDefault
	// PollIntervalDefault is how often an idle executor checks its queue.
	PollIntervalDefault = queue.PollIntervalDefault
)

// Unlimited as ExecutorConfig.NotionRateLimit turns Notion pacing off.
const Unlimited = executor.Unlimited

// ExecutorConfigFromEnv reads an ExecutorConfig from the environment.
func ExecutorConfigFromEnv() (ExecutorConfig, error) {
	cfg := ExecutorConfig{
		RedisURL:           os.Getenv("REDIS_URL"),
		NotionToken:        os.Getenv("NOTION_API_TOKEN"),
		NotionBaseURL:      os.Getenv("NOTION_API_BASE_URL"),
		NotionParentPageID: os.Getenv("NOTION_PARENT_PAGE_ID"),
		MetricsAddr:        os.Getenv("SYNQ_METRICS_ADDR"),
		WebhookAddr:        os.Getenv("SYNQ_WEBHOOK_ADDR"),
		WebhookURL:         os.Getenv("SYNQ_WEBHOOK_URL"),
		NotionWorkspace:    os.Getenv("SYNQ_NOTION_WORKSPACE"),
	}
	if v := os.Getenv("SYNQ_NOTION_WORKSPACE_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("SYNQ_NOTION_WORKSPACE_RATE_LIMIT=%q: want requests per minute for all the workspace's tokens together, a whole number ≥ 0 (0 = pace each token alone)", v)
		}
		if cfg.NotionWorkspace == "" && n > 0 {
			return cfg, fmt.Errorf("SYNQ_NOTION_WORKSPACE_RATE_LIMIT=%d needs SYNQ_NOTION_WORKSPACE: name the workspace its tokens share", n)
		}
		cfg.NotionWorkspaceRateLimit = n
	}
	if v := os.Getenv("SYNQ_NOTION_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("SYNQ_NOTION_RATE_LIMIT=%q: want requests per minute, a whole number ≥ 0 (0 = unlimited)", v)
		}
		cfg.NotionRateLimit = n
		if n == 0 {
			cfg.NotionRateLimit = Unlimited
		}
	}
	if v := os.Getenv("SYNQ_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("SYNQ_CONCURRENCY=%q: want a whole number ≥ 1", v)
		}
		cfg.Concurrency = n
	}
	if v := os.Getenv("SYNQ_WRITE_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("SYNQ_WRITE_CONCURRENCY=%q: want how many rows of a page are written to Notion at once, a whole number ≥ 1 (1 = one after another)", v)
		}
		cfg.WriteConcurrency = n
	}
	if v := os.Getenv("SYNQ_MANIFEST_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return cfg, fmt.Errorf("SYNQ_MANIFEST_INTERVAL=%q: want a duration of at least 100ms, e.g. 15s", v)
		}
		cfg.ManifestInterval = d
	}
	if v := os.Getenv("SYNQ_POLL_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return cfg, fmt.Errorf("SYNQ_POLL_INTERVAL=%q: want how often an idle executor checks its queue, a duration from 1ms to 1m, e.g. 200ms", v)
		}
		cfg.PollInterval = d
	}
	if v := os.Getenv("SYNQ_CLAIM_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return cfg, fmt.Errorf("SYNQ_CLAIM_TTL=%q: want a duration of at least 1s, e.g. 30s", v)
		}
		cfg.ClaimTTL = d
	}
	logger, err := logging.FromEnv(os.Stderr, "")
	if err != nil {
		return cfg, err
	}
	cfg.Logger = logger
	return cfg, nil
}

// Executor runs a worker's syncs: it pulls page tasks from Redis, calls
// Execute, writes Notion and commits, alongside any number of executor
// processes of the same worker.
type Executor struct {
	x *executor.Executor
}

// NewExecutor validates the worker and the config and connects to Redis
// and Notion.
func NewExecutor(ctx context.Context, w *Worker, cfg ExecutorConfig) (*Executor, error) {
	set, err := w.build()
	if err != nil {
		return nil, err
	}
	x, err := executor.Open(ctx, set, executor.Settings(cfg))
	if err != nil {
		return nil, fmt.Errorf("worker %q: %w", w.Name(), err)
	}
	return &Executor{x: x}, nil
}

// Start publishes the worker's manifest, creates or migrates its Notion
// databases and starts pulling pages. The metrics server's /healthz
// answers 503 until then, and 200 from then on.
func (e *Executor) Start(ctx context.Context) error { return e.x.Start(ctx) }

// Stop stops pulling pages and waits for the pages in flight (up to
// ShutdownTimeout; unfinished pages go back to the queue).
func (e *Executor) Stop(ctx context.Context) error { return e.x.Stop(ctx) }

// RunExecutor is a whole executor main in one call: configuration from the
// environment, start, and a graceful stop on SIGINT or SIGTERM (or when ctx
// ends). While it runs, its logger is the process's default (slog.Default
// and the standard log package), so lines of user code that log outside
// Execute come out in the same format; the previous defaults are back when
// it returns (a log.Fatal(err) after it prints as before).
//
//	func main() {
//		w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk"})
//		// … declare databases, pacers and syncs …
//		if err := synq.RunExecutor(context.Background(), w); err != nil {
//			log.Fatal(err)
//		}
//	}
func RunExecutor(ctx context.Context, w *Worker) error {
	cfg, err := ExecutorConfigFromEnv()
	if err != nil {
		return err
	}
	defer logging.Install(cfg.Logger)()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	x, err := NewExecutor(ctx, w, cfg)
	if err != nil {
		return err
	}
	if err := x.Start(ctx); err != nil {
		_ = x.Stop(context.Background())
		if ctx.Err() != nil {
			// Stopped while starting (waiting for Notion or Redis to
			// answer, say): a clean shutdown, not a failure.
			return nil
		}
		return err
	}
	<-ctx.Done()
	// Stop waits up to ShutdownTimeout for the pages in flight; the rest
	// is for handing them back and closing Redis.
	sctx, cancel := context.WithTimeout(context.Background(), x.x.ShutdownTimeout()+15*time.Second)
	defer cancel()
	if err := x.Stop(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Healthcheck asks a running executor whether it is healthy: it fetches
// /healthz from the metrics server at SYNQ_METRICS_ADDR (a wildcard host
// such as 0.0.0.0 or ":9464" is asked on 127.0.0.1). Container images
// without curl run it as a health check, e.g. `executor healthcheck`:
//
//	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
//		if err := synq.Healthcheck(context.Background()); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		return
//	}
func Healthcheck(ctx context.Context) error {
	addr := os.Getenv("SYNQ_METRICS_ADDR")
	if addr == "" {
		return errors.New("healthcheck: SYNQ_METRICS_ADDR is not set: the executor serves /healthz on its metrics address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: SYNQ_METRICS_ADDR=%q: want host:port, e.g. 0.0.0.0:9464", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// WebhookAddr is the address the executor's webhook server listens on
// after Start ("" when it serves none: WebhookAddr not set, or no webhook
// declared). With WebhookAddr ":0" it names the port chosen.
func (e *Executor) WebhookAddr() string { return e.x.WebhookAddr() }
