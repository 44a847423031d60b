// Package ops holds the operations on syncs and runs that the scheduler,
// the executors and the control API share: trigger, pause, resume, cancel,
// state, runs and logs. It reads the syncs from the manifests executors
// publish, so it never needs user code.
package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Config configures Ops.
type Config struct {
	// Redis is the client for synq's keys and for enqueueing asynq tasks.
	Redis  redis.UniversalClient
	Queue  string
	Logger *slog.Logger
	Now    func() time.Time
	// RunRetention is how many runs per sync are kept (default 100).
	RunRetention int
}

// Ops performs operations on syncs and runs.
type Ops struct {
	cfg   Config
	rdb   *rdb.RDB
	queue *asynq.Client
	log   *slog.Logger
}

// New returns Ops.
func New(cfg Config) (*Ops, error) {
	if cfg.Redis == nil {
		return nil, errors.New("ops: Config.Redis is required")
	}
	if cfg.Queue == "" {
		cfg.Queue = queue.DefaultQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RunRetention <= 0 {
		cfg.RunRetention = 100
	}
	return &Ops{cfg: cfg, rdb: rdb.New(cfg.Redis), queue: asynq.NewClientFromRedisClient(cfg.Redis), log: cfg.Logger}, nil
}

// RDB returns the key layer Ops works on.
func (o *Ops) RDB() *rdb.RDB { return o.rdb }

// Close releases nothing today: the asynq client shares the Redis client,
// whose owner closes it.
func (o *Ops) Close() error { return nil }

// Errors a caller maps to its own codes (the control API to gRPC codes).
var (
	ErrUnknownSync = errors.New("unknown sync")
	ErrUnknownRun  = errors.New("unknown run")
	ErrRunActive   = errors.New("a run is active")
	ErrPaused      = errors.New("sync is paused")
	ErrNotActive   = errors.New("run is not active")
)

// UnknownSyncError names the sync asked for and the ones that exist.
type UnknownSyncError struct {
	Key   string
	Known []string
}

func (e *UnknownSyncError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown sync %q: no executor has published a manifest yet (start an executor)", e.Key)
	}
	return fmt.Sprintf("unknown sync %q: known syncs are %s", e.Key, strings.Join(e.Known, ", "))
}

func (e *UnknownSyncError) Unwrap() error { return ErrUnknownSync }

// RunActiveError is a trigger refused because a run is active.
type RunActiveError struct{ Sync, Run string }

func (e *RunActiveError) Error() string {
	return fmt.Sprintf("sync %q already has an active run %s: wait for it, or cancel it with `ctl cancel %s`", e.Sync, e.Run, e.Run)
}

func (e *RunActiveError) Unwrap() error { return ErrRunActive }

// SyncInfo is a sync as published in a manifest.
type SyncInfo struct {
	spec.ManifestSync
	Worker    string
	Published time.Time
}

// Catalog returns every published sync by key. When two workers publish the
// same key, the most recently published wins.
func (o *Ops) Catalog(ctx context.Context) (map[string]SyncInfo, error) {
	raw, err := o.rdb.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]SyncInfo{}
	for worker, b := range raw {
		m, err := spec.ParseManifest(b)
		if err != nil {
			o.log.Warn("skipping a manifest that does not decode", "worker", worker, "err", err)
			continue
		}
		for _, s := range m.Syncs {
			if cur, ok := out[s.Key]; ok && cur.Published.After(m.Published) {
				continue
			}
			out[s.Key] = SyncInfo{ManifestSync: s, Worker: worker, Published: m.Published}
		}
	}
	return out, nil
}

// Sync returns one published sync.
func (o *Ops) Sync(ctx context.Context, key string) (SyncInfo, error) {
	cat, err := o.Catalog(ctx)
	if err != nil {
		return SyncInfo{}, err
	}
	s, ok := cat[key]
	if !ok {
		return SyncInfo{}, &UnknownSyncError{Key: key, Known: slices.Sorted(keys(cat))}
	}
	return s, nil
}

// NewRunID returns a run id that names its sync, so operations given only a
// run id find the sync: "<sync>-<UTC time>-<random>".
func NewRunID(sync string, now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return sync + "-" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// SyncOfRun returns the sync key inside a run id.
func SyncOfRun(run string) (string, error) {
	i := strings.LastIndexByte(run, '-')
	if i > 0 {
		if j := strings.LastIndexByte(run[:i], '-'); j > 0 {
			return run[:j], nil
		}
	}
	return "", fmt.Errorf("%q is not a run id (they look like ticketsBackfill-20261124T101500-3f9a1c): %w", run, ErrUnknownRun)
}

// Trigger starts a run of sync now. trigger is "manual" or "schedule".
func (o *Ops) Trigger(ctx context.Context, key, trigger string) (string, error) {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return "", err
	}
	st, err := o.rdb.GetSyncStatus(ctx, key)
	if err != nil {
		return "", err
	}
	if st.Paused {
		return "", fmt.Errorf("sync %q is paused: resume it with `ctl resume %s` first: %w", key, key, ErrPaused)
	}
	now := o.cfg.Now()
	run := NewRunID(key, now)
	active, started, err := o.rdb.StartRun(ctx, key, run, trigger, now)
	if err != nil {
		return "", err
	}
	if !started {
		return "", &RunActiveError{Sync: key, Run: active}
	}
	if err := o.EnqueuePage(ctx, s.ManifestSync, run, 0, 0); err != nil {
		// Without its first task the run would stay active forever.
		_, _ = o.rdb.FinishRun(context.WithoutCancel(ctx), key, run, rdb.RunFailed, "could not enqueue the first page: "+err.Error(), o.cfg.Now())
		return "", err
	}
	if err := o.rdb.TrimRuns(ctx, key, o.cfg.RunRetention); err != nil {
		o.log.Warn("could not trim old runs", "sync", key, "err", err)
	}
	o.log.Info("run started", "sync", key, "run", run, "trigger", trigger)
	return run, nil
}

// EnqueuePage enqueues one page task. A task that already exists (same
// run and page) is not an error: pages are enqueued at most once.
func (o *Ops) EnqueuePage(ctx context.Context, s spec.ManifestSync, run string, page int, delay time.Duration) error {
	return o.enqueue(ctx, s, queue.Payload{Sync: s.Key, Run: run, Page: page, Due: o.cfg.Now().Add(delay).UnixNano()}, delay)
}

func (o *Ops) enqueue(ctx context.Context, s spec.ManifestSync, p queue.Payload, delay time.Duration) error {
	run, page := p.Run, p.Page
	task, err := queue.NewPageTask(p, queue.Options{
		MaxAttempts: s.MaxAttempts,
		Timeout:     s.Timeout + 30*time.Minute,
		Queue:       o.cfg.Queue,
		ProcessIn:   delay,
	})
	if err != nil {
		return err
	}
	if _, err := o.queue.EnqueueContext(ctx, task); err != nil && !queue.IsDuplicate(err) {
		return fmt.Errorf("enqueue page %d of run %s: %w", page, run, err)
	}
	return nil
}

// Pause stops scheduling a sync; an active run stops at its next page
// boundary (the executor parks it).
func (o *Ops) Pause(ctx context.Context, key string) error {
	if _, err := o.Sync(ctx, key); err != nil {
		return err
	}
	return o.rdb.SetPaused(ctx, key, true)
}

// Resume schedules a sync again and continues a parked run from its
// committed state. It returns the id of the run resumed, if any.
func (o *Ops) Resume(ctx context.Context, key string) (string, error) {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return "", err
	}
	if err := o.rdb.SetPaused(ctx, key, false); err != nil {
		return "", err
	}
	st, err := o.rdb.GetSyncStatus(ctx, key)
	if err != nil || st.ActiveRun == "" {
		return "", err
	}
	ok, err := o.rdb.SetRunStatus(ctx, key, st.ActiveRun, rdb.RunParked, rdb.RunRunning)
	if err != nil || !ok {
		return "", err
	}
	state, err := o.rdb.GetSync(ctx, key)
	if err != nil {
		return "", err
	}
	page := 0
	if state.Run == st.ActiveRun {
		page = state.RunPages
	}
	now := o.cfg.Now()
	p := queue.Payload{Sync: key, Run: st.ActiveRun, Page: page, Due: now.UnixNano(), Resumed: now.UnixMilli()}
	if err := o.enqueue(ctx, s.ManifestSync, p, 0); err != nil {
		return "", err
	}
	o.log.Info("run resumed", "sync", key, "run", st.ActiveRun, "page", page)
	return st.ActiveRun, nil
}

// Cancel ends an active run. The page in flight finishes (its writes are
// idempotent) and no further page runs.
func (o *Ops) Cancel(ctx context.Context, run string) (rdb.Run, error) {
	r, err := o.Run(ctx, run)
	if err != nil {
		return rdb.Run{}, err
	}
	ok, err := o.rdb.CancelRun(ctx, r.Sync, run, o.cfg.Now())
	if err != nil {
		return rdb.Run{}, err
	}
	if !ok {
		return r, fmt.Errorf("run %s already ended (%s): %w", run, r.Status, ErrNotActive)
	}
	o.log.Info("run cancelled", "sync", r.Sync, "run", run)
	r, err = o.Run(ctx, run)
	return r, err
}

// Run returns one run record.
func (o *Ops) Run(ctx context.Context, run string) (rdb.Run, error) {
	sync, err := SyncOfRun(run)
	if err != nil {
		return rdb.Run{}, err
	}
	r, ok, err := o.rdb.GetRun(ctx, sync, run)
	if err != nil {
		return rdb.Run{}, err
	}
	if !ok {
		return rdb.Run{}, fmt.Errorf("run %s not found (it may be older than the retention of %d runs): %w", run, o.cfg.RunRetention, ErrUnknownRun)
	}
	return r, nil
}

// Runs lists runs newest first: of one sync, or of every sync when key is "".
func (o *Ops) Runs(ctx context.Context, key string, offset, limit int) ([]rdb.Run, error) {
	if limit <= 0 {
		limit = 20
	}
	if key != "" {
		if _, err := o.Sync(ctx, key); err != nil {
			return nil, err
		}
		return o.rdb.ListRuns(ctx, key, offset, limit)
	}
	cat, err := o.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	var all []rdb.Run
	for k := range cat {
		runs, err := o.rdb.ListRuns(ctx, k, 0, offset+limit)
		if err != nil {
			return nil, err
		}
		all = append(all, runs...)
	}
	slices.SortFunc(all, func(a, b rdb.Run) int { return b.Started.Compare(a.Started) })
	if offset >= len(all) {
		return nil, nil
	}
	return all[offset:min(len(all), offset+limit)], nil
}

// Logs returns a run's log lines from index from on.
func (o *Ops) Logs(ctx context.Context, run string, from int64) ([]rdb.LogLine, error) {
	r, err := o.Run(ctx, run)
	if err != nil {
		return nil, err
	}
	return o.rdb.ReadLog(ctx, r.Sync, run, from)
}

// State returns a sync's committed state (nil when empty).
func (o *Ops) State(ctx context.Context, key string) ([]byte, error) {
	if _, err := o.Sync(ctx, key); err != nil {
		return nil, err
	}
	st, err := o.rdb.GetSync(ctx, key)
	return st.State, err
}

// ResetState clears a sync's state and replace cycle. It is refused while a
// run is active: the run would commit over the reset.
func (o *Ops) ResetState(ctx context.Context, key string) error {
	if _, err := o.Sync(ctx, key); err != nil {
		return err
	}
	st, err := o.rdb.GetSyncStatus(ctx, key)
	if err != nil {
		return err
	}
	if st.ActiveRun != "" {
		return &RunActiveError{Sync: key, Run: st.ActiveRun}
	}
	return o.rdb.ResetState(ctx, key)
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
