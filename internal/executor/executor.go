// Package executor runs page tasks: it is the stateless worker process of
// synq. It publishes the worker's manifest, pulls page tasks from asynq,
// runs them through the engine (Execute, validate, apply, commit) and
// enqueues the next page or finishes the run.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Config configures an Executor.
type Config struct {
	Set    *spec.Set
	Engine *engine.Engine
	// Redis is the client for synq's keys and asynq's.
	Redis redis.UniversalClient
	// Pacers backs the SDK's pacer handles; nil paces each process locally.
	Pacers spec.PacerWaiter
	// Concurrency is how many pages this process runs at once (default 4).
	Concurrency int
	Queue       string
	// LogCap bounds each run's stored log (default 2000 lines).
	LogCap int
	// ManifestEvery is how often the manifest is republished, so the
	// scheduler sees live workers (default 30s).
	ManifestEvery   time.Duration
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// RetryBase and RetryMax shape the page retry backoff (default 1s, 5m).
	RetryBase, RetryMax time.Duration
	// Metrics, when set, receives the executor's figures.
	Metrics *metrics.Metrics
}

// Executor is one executor process's runtime.
type Executor struct {
	cfg    Config
	rdb    *rdb.RDB
	ops    *ops.Ops
	log    *slog.Logger
	server *asynq.Server

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// ownClient is closed on Stop when Open created it.
	ownClient *redis.Client
}

// New returns an Executor.
func New(cfg Config) (*Executor, error) {
	if cfg.Set == nil || cfg.Engine == nil || cfg.Redis == nil {
		return nil, errors.New("executor: Config.Set, Config.Engine and Config.Redis are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Queue == "" {
		cfg.Queue = queue.DefaultQueue
	}
	if cfg.LogCap <= 0 {
		cfg.LogCap = 2000
	}
	if cfg.ManifestEvery <= 0 {
		cfg.ManifestEvery = 30 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o, err := ops.New(ops.Config{Redis: cfg.Redis, Queue: cfg.Queue, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Executor{cfg: cfg, rdb: rdb.New(cfg.Redis), ops: o, log: cfg.Logger}, nil
}

// Start publishes the manifest, provisions the databases and starts
// pulling page tasks.
func (x *Executor) Start(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.server != nil {
		return errors.New("executor: already started")
	}
	if err := x.publish(ctx); err != nil {
		return err
	}
	if err := x.cfg.Engine.Provision(ctx); err != nil {
		return fmt.Errorf("provision Notion databases: %w", err)
	}
	acfg := queue.ServerConfig(x.cfg.Concurrency)
	acfg.Queues = map[string]int{x.cfg.Queue: 1}
	acfg.RetryDelayFunc = queue.RetryDelay(x.cfg.RetryBase, x.cfg.RetryMax)
	acfg.ShutdownTimeout = x.cfg.ShutdownTimeout
	acfg.Logger = asynqLogger{x.log}
	acfg.LogLevel = asynq.WarnLevel
	// A skipped retry is a failed page; everything else is a retryable
	// failure asynq counts as such.
	srv := asynq.NewServerFromRedisClient(x.cfg.Redis, acfg)
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypePage, x.handlePage)
	mux.HandleFunc(queue.TypePreview, x.handlePreview)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start task server: %w", err)
	}
	x.server = srv
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel, x.done = cancel, make(chan struct{})
	go x.republish(bg)
	x.log.Info("executor started", "worker", x.cfg.Set.Worker, "syncs", x.cfg.Set.SyncOrder, "concurrency", x.cfg.Concurrency)
	return nil
}

// Stop stops pulling tasks and waits for the pages in flight up to the
// shutdown timeout; asynq hands unfinished pages back to the queue.
func (x *Executor) Stop(ctx context.Context) error {
	x.mu.Lock()
	srv, cancel, done := x.server, x.cancel, x.done
	x.server = nil
	x.mu.Unlock()
	if srv == nil {
		if x.ownClient != nil {
			_ = x.ownClient.Close()
		}
		return nil
	}
	stopped := make(chan struct{})
	go func() { srv.Shutdown(); close(stopped) }()
	cancel()
	select {
	case <-stopped:
	case <-ctx.Done():
		return fmt.Errorf("executor: stop: %w", ctx.Err())
	}
	<-done
	if x.ownClient != nil {
		_ = x.ownClient.Close()
	}
	x.log.Info("executor stopped")
	return nil
}

func (x *Executor) publish(ctx context.Context) error {
	m := x.cfg.Set.Manifest()
	m.Published = time.Now().UTC()
	b, err := jsonMarshal(m)
	if err != nil {
		return err
	}
	if err := x.rdb.PublishManifest(ctx, x.cfg.Set.Worker, b, m.Published); err != nil {
		return fmt.Errorf("publish manifest: %w", err)
	}
	return nil
}

func (x *Executor) republish(ctx context.Context) {
	defer close(x.done)
	t := time.NewTicker(x.cfg.ManifestEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := x.publish(ctx); err != nil && ctx.Err() == nil {
				x.log.Warn("could not republish the manifest", "err", err)
			}
		}
	}
}

// handlePage runs one page task (DESIGN.md §3).
func (x *Executor) handlePage(ctx context.Context, t *asynq.Task) error {
	p, err := queue.ParsePayload(t.Payload())
	if err != nil {
		x.log.Error("dropping a malformed page task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	s, ok := x.cfg.Set.Syncs[p.Sync]
	if !ok {
		// Another worker's sync on the shared queue, or one removed by a
		// deploy: fail loudly rather than drop the run silently.
		return fmt.Errorf("sync %q is not declared by worker %q: deploy an executor that declares it", p.Sync, x.cfg.Set.Worker)
	}
	run, ok, err := x.rdb.GetRun(ctx, p.Sync, p.Run)
	if err != nil {
		return err
	}
	if !ok || run.Status == rdb.RunParked || (run.Status != rdb.RunRunning) {
		// Cancelled, finished, parked or dropped by retention: nothing to do.
		return nil
	}
	status, err := x.rdb.GetSyncStatus(ctx, p.Sync)
	if err != nil {
		return err
	}
	user, platform, buf := newRunLogger(x.log.Handler(), p.Page)
	user = user.With("sync", p.Sync, "run", p.Run, "page", p.Page)
	platform = platform.With("sync", p.Sync, "run", p.Run, "page", p.Page)
	defer x.flushLog(ctx, p, buf)
	if status.Paused {
		if _, err := x.rdb.SetRunStatus(ctx, p.Sync, p.Run, rdb.RunRunning, rdb.RunParked); err != nil {
			return err
		}
		platform.Info("sync is paused: run parked before this page; `ctl resume` continues it")
		return nil
	}
	attempt, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	start := time.Now()
	m := x.cfg.Metrics
	if m != nil && p.Due > 0 && attempt == 0 {
		m.QueueLag.Observe(max(0, start.Sub(time.Unix(0, p.Due)).Seconds()))
	}
	res, err := x.cfg.Engine.RunPage(ctx, engine.PageRequest{Sync: p.Sync, Run: p.Run, Page: p.Page, Logger: user, Pacers: x.cfg.Pacers})
	if m != nil {
		m.PageDuration.WithLabelValues(p.Sync).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return x.pageFailed(ctx, s, p, platform, err, attempt, maxRetry)
	}
	if !res.AlreadyCommitted {
		platform.Info("page committed", "changes", res.Changes, "has_more", res.HasMore, "counters", map[string]int64(res.Counters), "took_ms", time.Since(start).Milliseconds())
	}
	if m != nil {
		if res.AlreadyCommitted {
			m.Pages.WithLabelValues(p.Sync, "duplicate").Inc()
		} else {
			m.Pages.WithLabelValues(p.Sync, "committed").Inc()
			for k, v := range res.Counters {
				m.Rows.WithLabelValues(p.Sync, k).Add(float64(v))
			}
		}
	}
	if res.HasMore {
		// A cancel during the page stops the run here.
		if cur, ok, err := x.rdb.GetRun(ctx, p.Sync, p.Run); err != nil {
			return err
		} else if !ok || cur.Status != rdb.RunRunning {
			return nil
		}
		ms := spec.ManifestSync{Key: s.Key, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout}
		return x.ops.EnqueuePage(ctx, ms, p.Run, p.Page+1, 0)
	}
	if ok, err := x.rdb.FinishRun(ctx, p.Sync, p.Run, rdb.RunSucceeded, "", time.Now()); err != nil {
		return err
	} else if ok {
		platform.Info("run succeeded", "pages", p.Page+1)
		if m != nil {
			m.Runs.WithLabelValues(p.Sync, "succeeded").Inc()
		}
	}
	return nil
}

func (x *Executor) pageFailed(ctx context.Context, s *spec.Sync, p queue.Payload, log *slog.Logger, err error, attempt, maxRetry int) error {
	final := engine.IsValidation(err) || isPermanent(err)
	if ctx.Err() != nil && !final {
		// Shutdown or task timeout: asynq hands the page back.
		log.Warn("page interrupted; it will run again", "err", err)
		return err
	}
	if final || attempt >= maxRetry {
		why := "after the last attempt"
		if final {
			why = "with an error that retrying cannot fix"
		}
		log.Error("page failed "+why+"; the run fails and the state stays at the last committed page", "attempt", attempt+1, "err", err)
		if _, ferr := x.rdb.FinishRun(context.WithoutCancel(ctx), p.Sync, p.Run, rdb.RunFailed, err.Error(), time.Now()); ferr != nil {
			return errors.Join(err, ferr)
		}
		if m := x.cfg.Metrics; m != nil {
			m.Pages.WithLabelValues(p.Sync, "failed").Inc()
			m.Runs.WithLabelValues(p.Sync, "failed").Inc()
		}
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log.Warn("page failed; it will be retried", "attempt", attempt+1, "max_attempts", maxRetry+1, "err", err)
	if m := x.cfg.Metrics; m != nil {
		m.Pages.WithLabelValues(p.Sync, "retried").Inc()
	}
	return err
}

func (x *Executor) flushLog(ctx context.Context, p queue.Payload, buf *lineBuffer) {
	if lines := buf.take(); len(lines) > 0 {
		if err := x.rdb.AppendLog(context.WithoutCancel(ctx), p.Sync, p.Run, x.cfg.LogCap, lines...); err != nil {
			x.log.Warn("could not store run log lines", "run", p.Run, "err", err)
		}
	}
}
