// Package executor runs page tasks: it is the stateless worker process of
// synq. It publishes the worker's manifest, pulls page tasks from its
// worker's asynq queue, runs them through the engine (Execute, validate,
// apply) and moves the run on through internal/runs.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/spec"
)

// Defaults of the Settings (synq.ExecutorConfig documents them).
const (
	ConcurrencyDefault = 4
	// ManifestIntervalDefault is how often an executor refreshes its
	// manifest and its own record; both expire after ManifestTTLFactor
	// intervals without a refresh.
	ManifestIntervalDefault = 15 * time.Second
	ManifestTTLFactor       = 4
	// RegisterEvery is how often the newest build's executors write its
	// syncs to the registry again (they always do when the build becomes
	// the newest): the registry only says since when a sync that no live
	// executor declares has been undeclared, so this is that figure's
	// precision. Writing every sync each manifest interval cost Redis one
	// command per sync per interval (667 commands/s at 10,000 syncs).
	RegisterEvery          = 10 * time.Minute
	ShutdownTimeoutDefault = queue.ShutdownTimeoutDefault
)

// Config configures an Executor: the process's Settings (New reads
// Concurrency, ShutdownTimeout, ManifestInterval and Logger; Open the
// connection settings) and what Open built from them.
type Config struct {
	Settings
	Set    *spec.Set
	Engine *engine.Engine
	// Redis is the client for synq's keys and asynq's.
	Redis redis.UniversalClient
	// Monitor watches Redis for outages: a page that meets one waits for
	// Redis and goes on (optional; the executor starts and stops it).
	Monitor *redisconn.Monitor
	// Pacers backs the SDK's pacer handles; nil paces each process locally.
	Pacers spec.PacerWaiter
	// LogCap bounds each run's stored log (default runs.LogCapDefault).
	LogCap int
	// Metrics, when set, receives the executor's figures.
	Metrics *metrics.Metrics
	// Record adds fields to this executor's record in Redis, which
	// operators read (the console lists the Notion pacers it names).
	Record map[string]string
}

func (c Config) withDefaults() Config {
	c.Settings = c.Settings.withDefaults()
	c.LogCap = defaults.Positive(c.LogCap, runs.LogCapDefault)
	return c
}

func (c Config) validate() error {
	if c.Set == nil || c.Engine == nil || c.Redis == nil {
		return errors.New("executor: Config.Set, Config.Engine and Config.Redis are required")
	}
	return nil
}

// Executor is one executor process's runtime.
type Executor struct {
	cfg      Config
	rdb      *rdb.RDB
	runs     *runs.Runs
	log      *slog.Logger
	queue    string
	manifest spec.Manifest
	id       string
	inFlight atomic.Int64
	// registered is when this process last registered its syncs (Unix
	// ns; 0 when not since its build last became the newest).
	registered atomic.Int64
	// stopping is set once Stop began: a page cut short then was handed
	// back by asynq, not lost to an outage.
	stopping atomic.Bool
	// notionURL is where Notion calls go (logged at start; set by Open).
	notionURL string

	mu      sync.Mutex
	started bool
	server  *queue.Server
	cancel  context.CancelFunc
	done    chan struct{}
	// doubtsDone is closed when the doubt checks stopped.
	doubtsDone chan struct{}
	// ownClient is closed on Stop when Open created it.
	ownClient redis.UniversalClient
	// webhooks is the webhook server (nil when it does not run).
	webhooks    *webhookIngress
	queueClient *queue.Client
	// metricsSrv serves the metrics and /healthz when Open was given a
	// MetricsAddr.
	metricsSrv *metrics.Server
}

// New returns an Executor.
func New(cfg Config) (*Executor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := rdb.New(cfg.Redis)
	rs, err := runs.New(runs.Config{RDB: r, Queue: queue.NewClient(cfg.Redis), Logger: cfg.Logger, LogCap: cfg.LogCap})
	if err != nil {
		return nil, err
	}
	m := cfg.Set.Manifest()
	m.Version = version()
	return &Executor{cfg: cfg, rdb: r, runs: rs, log: cfg.Logger, queue: queue.ForWorker(cfg.Set.Worker),
		manifest: m, id: uuid.NewString(), queueClient: queue.NewClient(cfg.Redis)}, nil
}

// ShutdownTimeout is how long Stop waits for the pages in flight.
func (x *Executor) ShutdownTimeout() time.Duration { return x.cfg.ShutdownTimeout }

// Start checks that no other worker declares this worker's syncs or
// databases, publishes the manifest (and keeps it fresh from then on),
// provisions the databases — retrying while Notion answers with transient
// errors — and starts pulling page tasks from the worker's queue. After a
// failed Start, Stop releases what was started. The metrics server's
// /healthz answers 503 until then, and 200 from then on.
func (x *Executor) Start(ctx context.Context) error {
	if ms := x.metricsSrv; ms != nil {
		ms.SetHealth(func() error { return errors.New("starting: provisioning the Notion databases") })
		if err := ms.Start(ctx); err != nil {
			return err
		}
	}
	if err := x.start(ctx); err != nil {
		return err
	}
	if ms := x.metricsSrv; ms != nil {
		ms.SetHealth(func() error { return nil })
	}
	return nil
}

func (x *Executor) start(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.started {
		return errors.New("executor: already started")
	}
	x.started = true
	if mon := x.cfg.Monitor; mon != nil {
		if err := mon.Start(ctx); err != nil {
			return err
		}
	}
	if err := x.checkConflicts(ctx); err != nil {
		return err
	}
	if err := x.publish(ctx); err != nil {
		return err
	}
	// The manifest must stay fresh while provisioning waits for Notion,
	// or the scheduler would count the worker's syncs as undeclared.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel, x.done = cancel, make(chan struct{})
	go x.republish(bg)
	// Keys left in doubt by writers that gave up on a write are checked
	// again by every executor (engine.RunDoubtChecks).
	x.doubtsDone = make(chan struct{})
	go func() {
		defer close(x.doubtsDone)
		x.cfg.Engine.RunDoubtChecks(bg, 0)
	}()
	if err := x.cfg.Engine.Provision(ctx); err != nil {
		return fmt.Errorf("provision Notion databases: %w", err)
	}
	srv, err := queue.NewServer(x.cfg.Redis, queue.ServerOptions{Queue: x.queue, Concurrency: x.cfg.Concurrency,
		ShutdownTimeout: x.cfg.ShutdownTimeout, PollInterval: x.cfg.PollInterval, Logger: x.log})
	if err != nil {
		return err
	}
	h := queue.Handlers{Page: x.handlePage, Preview: x.handlePreview}
	if len(x.cfg.Set.WebhookOrder) > 0 {
		h.Webhook = x.handleWebhook
	}
	if err := srv.Start(h); err != nil {
		return err
	}
	x.server = srv
	if err := x.startWebhooks(ctx); err != nil {
		return err
	}
	x.log.Info("executor started", "worker", x.cfg.Set.Worker, "build", x.manifest.Build, "queue", x.queue,
		"syncs", x.cfg.Set.SyncOrder, "concurrency", x.cfg.Concurrency, "notion", x.notionURL)
	return nil
}

// Stop stops pulling tasks and waits for the pages in flight up to the
// shutdown timeout; asynq hands unfinished pages back to the queue.
func (x *Executor) Stop(ctx context.Context) error {
	ms := x.metricsSrv
	if ms != nil {
		ms.SetHealth(func() error { return errors.New("stopping") })
	}
	err := x.stop(ctx)
	if ms != nil {
		err = errors.Join(err, ms.Stop(ctx))
	}
	return err
}

func (x *Executor) stop(ctx context.Context) error {
	x.stopping.Store(true)
	x.mu.Lock()
	srv, cancel, done, doubtsDone, started := x.server, x.cancel, x.done, x.doubtsDone, x.started
	x.server, x.cancel, x.started = nil, nil, false
	x.stopWebhooks(ctx)
	x.mu.Unlock()
	if srv != nil {
		stopped := make(chan struct{})
		go func() { srv.Shutdown(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			return fmt.Errorf("executor: stop: %w", ctx.Err())
		}
	}
	if cancel != nil {
		cancel()
		<-done
		if doubtsDone != nil {
			<-doubtsDone
		}
	}
	if started {
		// The manifest is left to expire: another executor of this build
		// may be starting (a restart), and withdrawing it would make the
		// syncs look undeclared in between.
		if err := x.rdb.Gone(context.WithoutCancel(ctx), x.id); err != nil {
			x.log.Debug("could not remove the executor's record", "err", err)
		}
		if mon := x.cfg.Monitor; mon != nil {
			_ = mon.Stop(ctx)
		}
	}
	if x.ownClient != nil {
		_ = x.ownClient.Close()
		x.ownClient = nil
	}
	if srv != nil {
		x.log.Info("executor stopped")
	}
	return nil
}

// checkConflicts refuses to start when another worker's live build
// declares one of our syncs or databases: their keys are global in Redis,
// and two workers would take each other's runs and indexes.
func (x *Executor) checkConflicts(ctx context.Context) error {
	live, err := x.rdb.LiveBuilds(ctx)
	if err != nil {
		return fmt.Errorf("read the other workers' manifests: %w", err)
	}
	var errs []error
	for w, lb := range live {
		if w == x.cfg.Set.Worker {
			continue
		}
		m, err := spec.ParseManifest(lb.Manifest)
		if err != nil {
			continue
		}
		for _, s := range m.Syncs {
			if _, ok := x.cfg.Set.Syncs[s.Key]; ok {
				errs = append(errs, fmt.Errorf("sync %q is already declared by worker %q (build %s, live since %s): sync keys are unique across the workers sharing a Redis; rename the sync in worker %q, or stop worker %q's executors first",
					s.Key, w, lb.Build, lb.Since.UTC().Format(time.RFC3339), x.cfg.Set.Worker, w))
			}
		}
		for _, h := range m.Webhooks {
			if _, ok := x.cfg.Set.Webhooks[h.Key]; ok {
				errs = append(errs, fmt.Errorf("webhook %q is already declared by worker %q (build %s): webhook keys are unique across the workers sharing a Redis; rename it in worker %q",
					h.Key, w, lb.Build, x.cfg.Set.Worker))
			}
		}
		// Pacer keys are shared on purpose (workers split one budget), but
		// two budgets for one key is a mistake: the pacer follows
		// whichever executor wrote it last.
		for _, p := range m.Pacers {
			if mine, ok := x.cfg.Set.Pacers[p.Key]; ok && (mine.AllowedRequests != p.AllowedRequests || mine.Interval != p.Interval) {
				x.log.Warn(fmt.Sprintf("pacer %q is declared by worker %q too, with another budget: %d requests per %v there, %d per %v here; workers share a pacer key's budget, so declare it with the same figures (or give this worker's pacer another key)",
					p.Key, w, p.AllowedRequests, p.Interval, mine.AllowedRequests, mine.Interval),
					"pacer", p.Key, "worker", x.cfg.Set.Worker, "other_worker", w)
			}
		}
		for _, d := range m.Databases {
			if _, ok := x.cfg.Set.Databases[d.Key]; ok {
				errs = append(errs, fmt.Errorf("database %q is already declared by worker %q (build %s): database keys are unique across the workers sharing a Redis; rename it in worker %q",
					d.Key, w, lb.Build, x.cfg.Set.Worker))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("worker %q cannot start: %w", x.cfg.Set.Worker, errors.Join(errs...))
	}
	return nil
}

// publish refreshes the build's manifest and this executor's record; when
// the build is its worker's newest live build, its syncs are registered
// as declared now.
func (x *Executor) publish(ctx context.Context) error {
	m := x.manifest
	m.Published = time.Now().UTC()
	b, err := jsonMarshal(m)
	if err != nil {
		return err
	}
	ttl := x.cfg.ManifestInterval * ManifestTTLFactor
	newest, err := x.rdb.PublishBuild(ctx, m.Worker, m.Build, b, ttl)
	if err != nil {
		return fmt.Errorf("publish manifest: %w", err)
	}
	if newest != m.Build {
		x.registered.Store(0)
	}
	if newest == m.Build && time.Since(time.Unix(0, x.registered.Load())) >= RegisterEvery {
		reg := make(map[string][]byte, len(m.Syncs))
		for _, s := range m.Syncs {
			e, err := jsonMarshal(spec.Registered{Worker: m.Worker, Build: m.Build, Sync: s})
			if err != nil {
				return err
			}
			reg[s.Key] = e
		}
		if err := x.rdb.Register(ctx, reg); err != nil {
			return fmt.Errorf("register syncs: %w", err)
		}
		x.registered.Store(time.Now().UnixNano())
	}
	host, _ := os.Hostname()
	rec := map[string]string{
		"worker": m.Worker, "build": m.Build, "version": m.Version, "host": host, "pid": strconv.Itoa(os.Getpid()),
		"concurrency": strconv.Itoa(x.cfg.Concurrency), "in_flight": strconv.FormatInt(x.inFlight.Load(), 10),
		"queue": x.queue, "newest": strconv.FormatBool(newest == m.Build),
	}
	if in := x.webhooks; in != nil {
		rec[ExecutorWebhookURL] = in.base
	}
	for k, v := range x.cfg.Record {
		if _, ok := rec[k]; !ok {
			rec[k] = v
		}
	}
	return x.rdb.Heartbeat(ctx, x.id, ttl, rec)
}

// republish refreshes the manifest every interval, and every second after
// a failure: a manifest that expired during a Redis outage is back within
// a second of Redis, before the scheduler counts the worker's syncs as
// undeclared.
func (x *Executor) republish(ctx context.Context) {
	defer close(x.done)
	wait := x.cfg.ManifestInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = x.cfg.ManifestInterval
		if err := x.publish(ctx); err != nil && ctx.Err() == nil {
			if !errors.Is(err, rdb.ErrUnavailable) {
				x.log.Warn("could not republish the manifest; retrying", "err", err)
			}
			wait = min(wait, time.Second)
		}
	}
}

// newestDeclares reports whether the worker's newest live build (not this
// one) declares sync, and returns that build's task options for it.
func (x *Executor) newestDeclares(ctx context.Context, sync string) (runs.TaskOptions, string, bool, error) {
	live, err := x.rdb.LiveBuilds(ctx)
	if err != nil {
		return runs.TaskOptions{}, "", false, err
	}
	lb, ok := live[x.cfg.Set.Worker]
	if !ok || lb.Build == x.manifest.Build {
		return runs.TaskOptions{}, lb.Build, false, nil
	}
	m, err := spec.ParseManifest(lb.Manifest)
	if err != nil {
		return runs.TaskOptions{}, lb.Build, false, nil
	}
	s := m.Sync(sync)
	if s == nil {
		return runs.TaskOptions{}, lb.Build, false, nil
	}
	return runs.TaskOptions{Worker: m.Worker, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout}, lb.Build, true, nil
}

func (x *Executor) options(s *spec.Sync) runs.TaskOptions {
	return runs.TaskOptions{Worker: x.cfg.Set.Worker, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout}
}
