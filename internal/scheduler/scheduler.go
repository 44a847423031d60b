// Package scheduler starts runs when they are due. Several schedulers may
// run; a lease in Redis makes one of them the leader, and only the leader
// starts scheduled runs, so a tick never starts two runs.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
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
	// DueBatch is how many due syncs a tick reads at once (default
	// DueBatchDefault); Starts how many of them it starts at a time
	// (default StartsDefault).
	DueBatch, Starts int
	// CatalogMaxAge is how long the leader keeps a catalog whose version
	// did not change before reading it again anyway (default
	// CatalogMaxAgeDefault): a safety net, not the way changes arrive.
	CatalogMaxAge time.Duration
}

// Scheduler starts scheduled runs.
type Scheduler struct {
	cfg    Config
	rdb    *rdb.RDB
	log    *slog.Logger
	leader atomic.Bool
	reaper *runs.Reaper
	reaped time.Time

	// The leader's catalog, the manifests it was read from and its stamp
	// then (Tick's goroutine only); nil until read, and after a change of
	// leadership. fullReap asks the next reaper pass to check every sync.
	cat      map[string]ops.SyncInfo
	catFrom  []string
	catStamp rdb.CatalogStamp
	catRead  time.Time
	fullReap bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Defaults of Config.
const (
	TickDefault      = time.Second
	LeaseTTLDefault  = 10 * time.Second
	ReapEveryDefault = 10 * time.Second
	DueBatchDefault  = 500
	StartsDefault    = 8
	// CatalogMaxAgeDefault: at ten thousand syncs a catalog read costs the
	// leader about a tenth of a second of CPU.
	CatalogMaxAgeDefault = 5 * time.Minute
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
	c.DueBatch = defaults.Positive(c.DueBatch, DueBatchDefault)
	c.Starts = defaults.Positive(c.Starts, StartsDefault)
	c.CatalogMaxAge = defaults.Positive(c.CatalogMaxAge, CatalogMaxAgeDefault)
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
		// A new leader reads everything once: the catalog (and with it the
		// due set's reconcile) and every sync's active run.
		s.cat, s.fullReap = nil, true
	}
	if m := s.cfg.Metrics; m != nil {
		m.Leader.Set(map[bool]float64{true: 1}[leader])
	}
	if !leader {
		return nil
	}
	if err := s.refreshCatalog(ctx); err != nil {
		return err
	}
	now, err := s.now(ctx)
	if err != nil {
		return err
	}
	errs := []error{s.runDue(ctx, now), s.startRequested(ctx, s.cat)}
	if time.Since(s.reaped) >= s.cfg.ReapEvery {
		s.reaped = time.Now()
		errs = append(errs, s.Reap(ctx, s.cat))
	}
	return errors.Join(errs...)
}

// refreshCatalog reads the catalog again when it may have changed (its
// version moved, a manifest it was read from expired, or it is older than
// CatalogMaxAge) and brings the due set in line with the schedules.
func (s *Scheduler) refreshCatalog(ctx context.Context) error {
	stamp, err := s.rdb.CatalogStamp(ctx, s.catFrom)
	if err != nil {
		return err
	}
	if s.cat != nil && stamp == s.catStamp && time.Since(s.catRead) < s.cfg.CatalogMaxAge {
		return nil
	}
	cat, from, err := s.cfg.Ops.CatalogFrom(ctx)
	if err != nil {
		return err
	}
	scheds := make(map[string]string, len(cat))
	for k, info := range cat {
		if info.Declared {
			scheds[k] = schedOf(info.Schedule)
		}
	}
	changed, err := s.rdb.Reconcile(ctx, scheds)
	if err != nil {
		return err
	}
	s.log.Debug("catalog read", "syncs", len(cat), "schedules_changed", changed, "version", stamp.Version)
	s.cat, s.catFrom, s.catRead = cat, from, time.Now()
	s.catStamp = rdb.CatalogStamp{Version: stamp.Version, Live: int64(len(from))}
	return nil
}

func schedOf(sc spec.Schedule) string {
	switch sc.Kind {
	case spec.Continuous:
		return rdb.SchedContinuous
	case spec.Manual:
		return rdb.SchedManual
	}
	return rdb.SchedInterval(sc.Interval)
}

// maxSpread bounds spread.
const maxSpread = 5 * time.Minute

// spread is how far a new sync's grid is shifted from its first run: up
// to a tenth of its interval (at most maxSpread), from a hash of its key
// so that every leader computes the same.
func spread(key string, interval time.Duration) time.Duration {
	width := min(interval/10, maxSpread)
	if width <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(width))
}

// before compares due times in ms, as the due set holds them: a sync the
// due set returns as due is due here too.
func before(a, b time.Time) bool { return a.UnixMilli() < b.UnixMilli() }

// dueRounds bounds how many batches of due syncs one tick starts: the rest
// wait for the next tick rather than starve the lease renewal.
const dueRounds = 40

// runDue looks at the syncs whose due time has come (rdb.DueKey), a batch
// at a time, and starts those whose run is due; each leaves the due set
// with its next due time, or is taken out (paused, undeclared, manual).
func (s *Scheduler) runDue(ctx context.Context, now time.Time) error {
	for range dueRounds {
		keys, err := s.rdb.Due(ctx, now, s.cfg.DueBatch)
		if err != nil || len(keys) == 0 {
			return err
		}
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
			sem  = make(chan struct{}, s.cfg.Starts)
		)
		for _, key := range keys {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := s.schedule(ctx, key, now); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("sync %q: %w", key, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 || len(keys) < s.cfg.DueBatch {
			return errors.Join(errs...)
		}
	}
	return nil
}

// Reap fails the runs nobody will move on: whose task is lost, whose
// executor died on the last attempt, or whose sync no live executor
// declares. It looks at the syncs with an active run (rdb.ActiveKey)
// only; a new leader's first pass checks every sync of cat first, to
// repair a set an older version or a lost write left incomplete.
func (s *Scheduler) Reap(ctx context.Context, cat map[string]ops.SyncInfo) error {
	if s.fullReap {
		if _, err := s.rdb.MarkActive(ctx, slices.Collect(maps.Keys(cat))...); err != nil {
			return err
		}
		s.fullReap = false
	}
	active, err := s.rdb.ActiveSyncs(ctx)
	if err != nil {
		return err
	}
	// Drop the members whose run ended meanwhile in a way that did not
	// say so (a record lost with Redis): one step for the whole set.
	if _, err := s.rdb.MarkActive(ctx, active...); err != nil {
		return err
	}
	watched := make([]runs.Watched, 0, len(active))
	for _, key := range active {
		info, ok := cat[key]
		if !ok {
			continue
		}
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

// schedule looks at one due sync: it starts its run when due and puts it
// back in the due set at its next due time, or takes it out.
func (s *Scheduler) schedule(ctx context.Context, key string, now time.Time) error {
	info, ok := s.cat[key]
	if !ok || !info.Declared || info.Schedule.Kind == spec.Manual {
		// Nobody would run it, or nothing schedules it: the catalog's
		// next change puts it back if that changes.
		return s.rdb.Unschedule(ctx, key)
	}
	cont := info.Schedule.Kind == spec.Continuous
	st, err := s.rdb.GetSyncStatus(ctx, key)
	if err != nil {
		return err
	}
	if st.Paused {
		_, err := s.rdb.ScheduleAt(ctx, key, now, cont) // takes it out
		return err
	}
	if cont {
		if st.ActiveRun == "" && !st.LastFinished.IsZero() {
			if due := st.LastFinished.Add(s.continuousWait(info, st)); before(now, due) {
				_, err := s.rdb.ScheduleAt(ctx, key, due, true)
				return err
			}
		}
		var serr error
		if st.ActiveRun == "" {
			serr = s.start(ctx, info)
		}
		// With its run active it leaves the due set; the run's end puts it
		// back (the script checks both in one step). Without (the start
		// failed), it is looked at again next tick.
		_, err := s.rdb.ScheduleAt(ctx, key, now.Add(s.cfg.Tick), true)
		return errors.Join(serr, err)
	}
	interval := info.Schedule.Interval
	if !st.NextRun.IsZero() && before(now, st.NextRun) {
		// Looked at early (a resume, a new schedule): back to its next
		// run, or sooner when the interval was shortened.
		if limit := now.Add(interval + spread(key, interval)); st.NextRun.After(limit) {
			_, err := s.rdb.ScheduleNext(ctx, key, limit, limit, st.NextRun)
			return err
		}
		_, err := s.rdb.ScheduleAt(ctx, key, st.NextRun, false)
		return err
	}
	// A sync seen for the first time runs at once, then every interval
	// on a grid shifted by its spread: syncs declared together (a deploy
	// of thousands) do not all come due in the same second forever after.
	next := st.NextRun
	if next.IsZero() {
		next = now.Add(interval + spread(key, interval))
	}
	for !before(now, next) {
		next = next.Add(interval)
	}
	// Taken only if nobody moved the next run since it was read: two
	// leaders overlapping across a failover never both start this slot.
	taken, err := s.rdb.ScheduleNext(ctx, key, next, next, st.NextRun)
	if err != nil || !taken {
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
