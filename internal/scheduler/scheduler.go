// Package scheduler starts runs when they are due. Several schedulers may
// run; a lease in Redis makes one of them the leader, and only the leader
// starts scheduled runs, so a tick never starts two runs.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/spec"
)

// Config configures a Scheduler.
type Config struct {
	Ops *ops.Ops
	// ID names this replica in the leader lease (default a random id).
	ID string
	// Tick is how often due syncs are checked (default TickDefault).
	Tick time.Duration
	// LeaseTTL is how long a dead leader blocks the others (default
	// LeaseTTLDefault).
	LeaseTTL time.Duration
	// ReapEvery is how often the leader looks for runs nobody will move on
	// (default ReapEveryDefault); Reaper tunes its grace periods.
	ReapEvery time.Duration
	Reaper    runs.ReaperConfig
	// RetryBase and RetryMax shape the backoff between the runs of a
	// failing continuous sync, from its floor (5 s) doubling per
	// consecutive failure up to RetryMax (default as pages':
	// queue.RetryBaseDefault, queue.RetryMaxDefault).
	RetryBase, RetryMax time.Duration
	Logger              *slog.Logger
	// Now overrides the clock (tests); default the Redis server's.
	Now func() time.Time
	// Metrics, when set, receives leadership and run starts.
	Metrics *metrics.Metrics
}

// Scheduler starts scheduled runs.
type Scheduler struct {
	cfg    Config
	rdb    *rdb.RDB
	log    *slog.Logger
	leader atomic.Bool
	reaper *runs.Reaper
	reaped time.Time

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Defaults of Config.
const (
	TickDefault      = time.Second
	LeaseTTLDefault  = 10 * time.Second
	ReapEveryDefault = 10 * time.Second
)

func (c Config) validate() error {
	if c.Ops == nil {
		return errors.New("scheduler: Config.Ops is required")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	c.Tick = defaults.Positive(c.Tick, TickDefault)
	c.LeaseTTL = defaults.Positive(c.LeaseTTL, LeaseTTLDefault)
	c.ReapEvery = defaults.Positive(c.ReapEvery, ReapEveryDefault)
	c.RetryBase = defaults.Positive(c.RetryBase, queue.RetryBaseDefault)
	c.RetryMax = defaults.Positive(c.RetryMax, queue.RetryMaxDefault)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// New returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	reaper, err := cfg.Ops.Lifecycle().NewReaper(cfg.Reaper)
	if err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg, rdb: cfg.Ops.RDB(), log: cfg.Logger.With("scheduler", cfg.ID), reaper: reaper}, nil
}

// ID names this replica in the leader lease.
func (s *Scheduler) ID() string { return s.cfg.ID }

// IsLeader reports whether this replica held the lease at its last tick.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Start runs the scheduling loop in the background until Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return errors.New("scheduler: already started")
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

// Stop ends the loop and gives up the lease so another replica takes over
// at once.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.leader.Load() {
		s.leader.Store(false)
		return s.rdb.ReleaseLeader(ctx, s.cfg.ID)
	}
	return nil
}

func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler tick failed; retrying at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick renews the lease and, as leader, starts the runs that are due.
func (s *Scheduler) Tick(ctx context.Context) error {
	leader, err := s.rdb.AcquireOrRenewLeader(ctx, s.cfg.ID, s.cfg.LeaseTTL)
	if err != nil {
		s.leader.Store(false)
		return err
	}
	if was := s.leader.Swap(leader); was != leader {
		s.log.Info("leadership changed", "leader", leader)
	}
	if m := s.cfg.Metrics; m != nil {
		m.Leader.Set(map[bool]float64{true: 1}[leader])
	}
	if !leader {
		return nil
	}
	cat, err := s.cfg.Ops.Catalog(ctx)
	if err != nil {
		return err
	}
	now, err := s.now(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, info := range cat {
		if !info.Declared {
			// Nobody would run it: an undeclared sync is not scheduled.
			continue
		}
		if err := s.schedule(ctx, info, now); err != nil {
			errs = append(errs, fmt.Errorf("sync %q: %w", info.Key, err))
		}
	}
	errs = append(errs, s.startRequested(ctx, cat))
	if time.Since(s.reaped) >= s.cfg.ReapEvery {
		s.reaped = time.Now()
		errs = append(errs, s.Reap(ctx, cat))
	}
	return errors.Join(errs...)
}

// Reap fails the runs nobody will move on: whose task is lost, whose
// executor died on the last attempt, or whose sync no live executor
// declares.
func (s *Scheduler) Reap(ctx context.Context, cat map[string]ops.SyncInfo) error {
	watched := make([]runs.Watched, 0, len(cat))
	for _, info := range cat {
		w := runs.Watched{Key: info.Key, Declared: info.Declared}
		if info.Declared {
			w.Options = info.Options()
		} else {
			w.Why = info.Undeclared()
		}
		watched = append(watched, w)
	}
	failed, err := s.reaper.Reap(ctx, watched)
	if m := s.cfg.Metrics; m != nil && len(failed) > 0 {
		m.RunsReaped.Add(float64(len(failed)))
	}
	return err
}

// now is the Redis server's clock (or Config.Now): next runs and the end
// of the last run are compared by whichever scheduler leads, so they must
// not depend on one machine's clock.
func (s *Scheduler) now(ctx context.Context) (time.Time, error) {
	if s.cfg.Now != nil {
		return s.cfg.Now(), nil
	}
	return s.rdb.ServerTime(ctx)
}

func (s *Scheduler) schedule(ctx context.Context, info ops.SyncInfo, now time.Time) error {
	st, err := s.rdb.GetSyncStatus(ctx, info.Key)
	if err != nil || st.Paused {
		return err
	}
	switch info.Schedule.Kind {
	case spec.Manual:
		return nil
	case spec.Continuous:
		if st.ActiveRun != "" {
			return nil
		}
		if !st.LastFinished.IsZero() && now.Before(st.LastFinished.Add(s.continuousWait(info, st))) {
			return nil
		}
		return s.start(ctx, info)
	}
	// A sync seen for the first time runs at once, then every interval.
	if !st.NextRun.IsZero() && now.Before(st.NextRun) {
		return nil
	}
	next := st.NextRun
	if next.IsZero() {
		next = now
	}
	for !next.After(now) {
		next = next.Add(info.Schedule.Interval)
	}
	if err := s.rdb.SetNextRun(ctx, info.Key, next); err != nil {
		return err
	}
	return s.start(ctx, info)
}

// startRequested starts the runs webhook deliveries asked for. A request
// stays while its sync is paused or has a run active (it becomes the one
// run after it) and is taken out as its run starts, so any burst of
// requests makes at most one run now and one after it.
func (s *Scheduler) startRequested(ctx context.Context, cat map[string]ops.SyncInfo) error {
	reqs, err := s.rdb.TriggerRequests(ctx)
	if err != nil || len(reqs) == 0 {
		return err
	}
	var errs []error
	for _, key := range reqs {
		info, ok := cat[key]
		if !ok {
			// Forgotten or never declared: nothing will ever run it.
			_, err := s.rdb.TakeTriggerRequest(ctx, key)
			errs = append(errs, err)
			continue
		}
		if !info.Declared {
			continue
		}
		st, err := s.rdb.GetSyncStatus(ctx, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Paused || st.ActiveRun != "" {
			continue
		}
		took, err := s.rdb.TakeTriggerRequest(ctx, key)
		if err != nil || !took {
			errs = append(errs, err)
			continue
		}
		run, err := s.cfg.Ops.StartRequested(ctx, info)
		if err != nil {
			// Not started (a run began meanwhile, a pause, Redis): the
			// request stays for the next tick.
			errs = append(errs, s.rdb.RequestTrigger(context.WithoutCancel(ctx), key))
			var active *ops.RunActiveError
			if !errors.As(err, &active) && !errors.Is(err, ops.ErrPaused) {
				errs = append(errs, fmt.Errorf("sync %q: start the run a webhook asked for: %w", key, err))
			}
			continue
		}
		s.log.Info("run started for webhook deliveries", "sync", key, "run", run)
		if m := s.cfg.Metrics; m != nil {
			m.RunsStarted.WithLabelValues(key, "webhook").Inc()
		}
	}
	return errors.Join(errs...)
}

// continuousWait is the pause after a continuous sync's last run: its
// floor, doubled for each consecutive failure up to RetryMax — the pages'
// exponential backoff, without jitter so every tick computes the same
// wait.
func (s *Scheduler) continuousWait(info ops.SyncInfo, st rdb.SyncStatus) time.Duration {
	floor := info.Schedule.Interval
	if st.ConsecutiveFailures == 0 {
		return floor
	}
	return queue.BackoffCeiling(st.ConsecutiveFailures, max(floor, s.cfg.RetryBase), max(floor, s.cfg.RetryMax))
}

func (s *Scheduler) start(ctx context.Context, info ops.SyncInfo) error {
	_, err := s.cfg.Ops.StartScheduled(ctx, info)
	var active *ops.RunActiveError
	m := s.cfg.Metrics
	if err == nil && m != nil {
		m.RunsStarted.WithLabelValues(info.Key, "schedule").Inc()
	}
	switch {
	case errors.As(err, &active):
		s.log.Info("tick skipped: a run is active", "sync", info.Key, "run", active.Run)
		if m != nil {
			m.SkippedTicks.WithLabelValues(info.Key).Inc()
		}
		return s.rdb.CountSkippedTick(ctx, info.Key)
	case errors.Is(err, ops.ErrPaused):
		return nil
	}
	return err
}
