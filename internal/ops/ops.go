// Package ops holds the operations on syncs and runs that the scheduler,
// the control API and the console share: the catalog of syncs, trigger,
// pause, resume, cancel, forget, state, runs and logs. It learns the syncs
// from the manifests executors publish, so it never needs user code; the
// run transitions themselves belong to internal/runs.
package ops

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/spec"
)

// Config configures Ops.
type Config struct {
	// Redis is the client for synq's keys and asynq's.
	Redis  redis.UniversalClient
	Logger *slog.Logger
	Now    func() time.Time
	// RunRetention is how many runs per sync are kept (default
	// runs.RetentionDefault).
	RunRetention int
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	c.RunRetention = defaults.Positive(c.RunRetention, runs.RetentionDefault)
	return c
}

// Ops performs operations on syncs and runs.
type Ops struct {
	cfg     Config
	rdb     *rdb.RDB
	queue   *queue.Client
	inspect *queue.Inspector
	runs    *runs.Runs
	pacer   *pacer.Pacer
	log     *slog.Logger

	// The catalog List reads, kept while its stamp holds (see
	// rdb.CatalogStamp); catMu serialises its refresh.
	catMu    sync.Mutex
	cat      map[string]SyncInfo
	catFrom  []string
	catStamp rdb.CatalogStamp
	catRead  time.Time
}

// New returns Ops.
func New(cfg Config) (*Ops, error) {
	if cfg.Redis == nil {
		return nil, errors.New("ops: Config.Redis is required")
	}
	cfg = cfg.withDefaults()
	r := rdb.New(cfg.Redis)
	q := queue.NewClient(cfg.Redis)
	in := queue.NewInspector(cfg.Redis)
	rs, err := runs.New(runs.Config{RDB: r, Queue: q, Inspector: in, Logger: cfg.Logger, Retention: cfg.RunRetention})
	if err != nil {
		return nil, err
	}
	// The pacer is only read (Stats); its active window is the default
	// every executor uses.
	p, err := pacer.New(pacer.Config{Redis: cfg.Redis, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Ops{cfg: cfg, rdb: r, queue: q, inspect: in, runs: rs, pacer: p, log: cfg.Logger}, nil
}

// RDB returns the key layer Ops works on.
func (o *Ops) RDB() *rdb.RDB { return o.rdb }

// Lifecycle returns the owner of run transitions.
func (o *Ops) Lifecycle() *runs.Runs { return o.runs }

// Close releases nothing today: the queue client shares the Redis client,
// whose owner closes it.
func (o *Ops) Close() error { return nil }

// Errors a caller maps to its own codes (the control API to gRPC codes).
var (
	ErrUnknownSync = errors.New("unknown sync")
	ErrUnknownRun  = errors.New("unknown run")
	ErrRunActive   = runs.ErrRunActive
	ErrPaused      = runs.ErrPaused
	ErrNotActive   = runs.ErrNotActive
	ErrSweeping    = runs.ErrSweeping
	// ErrUndeclared: no live executor declares the sync.
	ErrUndeclared = errors.New("sync is not declared by any live executor")
	// ErrDeclared: the operation needs a sync that no executor declares.
	ErrDeclared = errors.New("sync is still declared")
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
	// Thousands of syncs make no useful sentence: name the first few.
	const named = 20
	if len(e.Known) > named {
		return fmt.Sprintf("unknown sync %q: known syncs are %s and %d more (ctl status lists them; a glob narrows it: ctl status '%s*')",
			e.Key, strings.Join(e.Known[:named], ", "), len(e.Known)-named, firstRunes(e.Key, 3))
	}
	return fmt.Sprintf("unknown sync %q: known syncs are %s", e.Key, strings.Join(e.Known, ", "))
}

func (e *UnknownSyncError) Unwrap() error { return ErrUnknownSync }

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// RunActiveError is a trigger refused because a run is active.
type RunActiveError = runs.ActiveError

// SyncInfo is a sync as the catalog knows it.
type SyncInfo struct {
	spec.ManifestSync
	Worker string
	Build  string
	// Declared says a live build of Worker declares the sync. Since is
	// when that build first published; for a sync no live executor
	// declares, it is the last time one did.
	Declared bool
	Since    time.Time
	// Conflict names another worker whose live build declares the same
	// key (only the first worker's executors run it).
	Conflict string
	// PacerLimits are the budgets of the pacers the sync uses, as its live
	// build declares them (empty for an undeclared sync).
	PacerLimits map[string]pacer.Limit
}

// Undeclared explains a sync that no live executor declares.
func (s SyncInfo) Undeclared() string {
	return fmt.Sprintf("sync %q is not declared by any live executor of worker %q since %s: deploy an executor that declares it, or remove its records with `ctl forget %s`",
		s.Key, s.Worker, s.Since.UTC().Format(time.RFC3339), s.Key)
}

// Options are the page-task options of the sync.
func (s SyncInfo) Options() runs.TaskOptions {
	return runs.TaskOptions{Worker: s.Worker, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout}
}

// Catalog returns every known sync by key: those the newest live build of
// each worker declares, and those the registry remembers but no live
// executor declares any more.
func (o *Ops) Catalog(ctx context.Context) (map[string]SyncInfo, error) {
	cat, _, err := o.CatalogFrom(ctx)
	return cat, err
}

// CatalogFrom is Catalog with the manifests it was read from
// (rdb.BuildManifestKey): while they all exist and the catalog version
// (rdb.CatalogStamp) stays, the catalog is the same.
func (o *Ops) CatalogFrom(ctx context.Context) (map[string]SyncInfo, []string, error) {
	live, err := o.rdb.LiveBuilds(ctx)
	if err != nil {
		return nil, nil, err
	}
	manifests := make([]string, 0, len(live))
	for w, b := range live {
		manifests = append(manifests, rdb.BuildManifestKey(w, b.Build))
	}
	out, err := o.catalog(ctx, live)
	return out, manifests, err
}

func (o *Ops) catalog(ctx context.Context, live map[string]rdb.LiveBuild) (map[string]SyncInfo, error) {
	reg, err := o.rdb.Registry(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]SyncInfo{}
	for k, r := range reg {
		var e spec.Registered
		if err := json.Unmarshal(r.Spec, &e); err != nil {
			o.log.Warn("skipping a registry entry that does not decode", "sync", k, "err", err)
			continue
		}
		out[k] = SyncInfo{ManifestSync: e.Sync, Worker: e.Worker, Build: e.Build, Since: r.Declared}
	}
	// Which live workers declare each key; the registry's owner keeps a
	// key two workers declare (executors refuse to start on such a
	// conflict, so it only happens when both started at once).
	type decl struct {
		worker string
		build  rdb.LiveBuild
		sync   spec.ManifestSync
		limits map[string]pacer.Limit
	}
	declared := map[string][]decl{}
	for _, w := range slices.Sorted(keys(live)) {
		m, err := spec.ParseManifest(live[w].Manifest)
		if err != nil {
			o.log.Warn("skipping a manifest that does not decode", "worker", w, "err", err)
			continue
		}
		limits := make(map[string]pacer.Limit, len(m.Pacers))
		for _, p := range m.Pacers {
			limits[p.Key] = pacer.Limit{Requests: p.AllowedRequests, Interval: p.Interval}
		}
		for _, s := range m.Syncs {
			declared[s.Key] = append(declared[s.Key], decl{w, live[w], s, limits})
		}
	}
	for key, ds := range declared {
		pick := ds[0]
		if cur, ok := out[key]; ok {
			for _, d := range ds {
				if d.worker == cur.Worker {
					pick = d
				}
			}
		}
		info := SyncInfo{ManifestSync: pick.sync, Worker: pick.worker, Build: pick.build.Build, Declared: true, Since: pick.build.Since, PacerLimits: pick.limits}
		for _, d := range ds {
			if d.worker != pick.worker {
				info.Conflict = d.worker
			}
		}
		out[key] = info
	}
	return out, nil
}

// Sync returns one known sync. It reads the cached catalog (checked
// against the catalog's version and manifests first), so that pausing or
// triggering one sync among thousands decodes none of the others.
func (o *Ops) Sync(ctx context.Context, key string) (SyncInfo, error) {
	cat, err := o.CachedCatalog(ctx)
	if err != nil {
		return SyncInfo{}, err
	}
	s, ok := cat[key]
	if !ok {
		return SyncInfo{}, &UnknownSyncError{Key: key, Known: slices.Sorted(keys(cat))}
	}
	return s, nil
}

// declared returns a sync that a live executor declares.
func (o *Ops) declared(ctx context.Context, key string) (SyncInfo, error) {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return s, err
	}
	if !s.Declared {
		return s, fmt.Errorf("%s: %w", s.Undeclared(), ErrUndeclared)
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

// TriggerOptions refine a trigger.
type TriggerOptions struct {
	// AllowTrash lifts the deletion guard for this one run.
	AllowTrash bool
}

// Trigger starts a run of sync now. trigger is "manual" or "schedule".
func (o *Ops) Trigger(ctx context.Context, key, trigger string, opts ...TriggerOptions) (string, error) {
	s, err := o.declared(ctx, key)
	if err != nil {
		return "", err
	}
	return o.start(ctx, s, trigger, opts...)
}

func (o *Ops) start(ctx context.Context, s SyncInfo, trigger string, opts ...TriggerOptions) (string, error) {
	var opt TriggerOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	run := NewRunID(s.Key, o.cfg.Now())
	if err := o.runs.Start(ctx, runs.Start{Sync: s.Key, Run: run, Trigger: trigger, AllowTrash: opt.AllowTrash, Options: s.Options()}); err != nil {
		return "", err
	}
	o.log.Info("run started", "sync", s.Key, "run", run, "trigger", trigger, "worker", s.Worker)
	return run, nil
}

// StartScheduled starts a run for the scheduler, which already holds the
// catalog.
func (o *Ops) StartScheduled(ctx context.Context, s SyncInfo) (string, error) {
	return o.start(ctx, s, "schedule")
}

// StartRequested starts a run a webhook delivery asked for (see
// rdb.TriggerRequestsKey); the scheduler holds the catalog.
func (o *Ops) StartRequested(ctx context.Context, s SyncInfo) (string, error) {
	return o.start(ctx, s, "webhook")
}

// Pause stops scheduling a sync; an active run stops at its next page
// boundary (it is parked).
func (o *Ops) Pause(ctx context.Context, key string) error {
	if _, err := o.Sync(ctx, key); err != nil {
		return err
	}
	return o.runs.Pause(ctx, key)
}

// Resume schedules a sync again and continues a parked run from its
// committed state. It returns the id of the run resumed, if any.
func (o *Ops) Resume(ctx context.Context, key string) (string, error) {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return "", err
	}
	if !s.Declared {
		// Unpausing is harmless, but a parked run has nobody to run it.
		st, err := o.rdb.GetSyncStatus(ctx, key)
		if err != nil {
			return "", err
		}
		if st.ActiveRun != "" {
			return "", fmt.Errorf("%s: %w", s.Undeclared(), ErrUndeclared)
		}
		return "", o.rdb.SetPaused(ctx, key, false)
	}
	run, err := o.runs.Resume(ctx, key, s.Options())
	if run != "" && err == nil {
		o.log.Info("run resumed", "sync", key, "run", run)
	}
	return run, err
}

// Cancel ends an active run. The page in flight finishes (its writes are
// idempotent) and no further page runs; a cancelled run never sweeps.
func (o *Ops) Cancel(ctx context.Context, run string) (rdb.Run, error) {
	r, err := o.Run(ctx, run)
	if err != nil {
		return rdb.Run{}, err
	}
	if err := o.runs.Cancel(ctx, r.Sync, run, "an operator"); err != nil {
		return r, err
	}
	o.log.Info("run cancelled", "sync", r.Sync, "run", run)
	return o.Run(ctx, run)
}

// Forget removes every record of a sync that no live executor declares:
// its state, runs, logs and health. Its Notion rows are never touched.
func (o *Ops) Forget(ctx context.Context, key string) error {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return err
	}
	if s.Declared {
		return refusal(ErrDeclared, "sync %q is still declared by worker %q (build %s): remove it from the worker's code and deploy, then forget it", key, s.Worker, s.Build)
	}
	st, err := o.rdb.GetSyncStatus(ctx, key)
	if err != nil {
		return err
	}
	if st.ActiveRun != "" {
		if _, err := o.runs.Fail(ctx, rdb.Fail{Sync: key, Run: st.ActiveRun, Message: "the sync was forgotten (`ctl forget`)", AllowParked: true, Page: -1}); err != nil {
			return err
		}
	}
	if err := o.rdb.Forget(ctx, key); err != nil {
		return err
	}
	o.log.Info("sync forgotten", "sync", key, "worker", s.Worker)
	return nil
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
		return rdb.Run{}, refusal(ErrUnknownRun, "run %s not found (it may be older than the retention of %d runs)", run, o.cfg.RunRetention)
	}
	return r, nil
}

// RunPages returns the page records of a run.
func (o *Ops) RunPages(ctx context.Context, run string) ([]rdb.PageRecord, error) {
	r, err := o.Run(ctx, run)
	if err != nil {
		return nil, err
	}
	return o.rdb.RunPages(ctx, r.Sync, run)
}

// LatestRun returns the newest run of a sync.
func (o *Ops) LatestRun(ctx context.Context, key string) (rdb.Run, error) {
	rs, err := o.Runs(ctx, key, 0, 1)
	if err != nil {
		return rdb.Run{}, err
	}
	if len(rs) == 0 {
		return rdb.Run{}, fmt.Errorf("sync %q has no runs yet: start one with `ctl trigger %s`: %w", key, key, ErrUnknownRun)
	}
	return rs[0], nil
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
	// Every sync's runs: one page of the recent-runs index, whatever the
	// number of syncs; a Redis that has started no run since the index
	// appeared is read sync by sync.
	if runs, ok, err := o.rdb.ListRecentRuns(ctx, offset, limit); err != nil || ok {
		return runs, err
	}
	cat, err := o.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	var all []rdb.Run
	for k := range cat {
		rs, err := o.rdb.ListRuns(ctx, k, 0, offset+limit)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b rdb.Run) int { return b.Started.Compare(a.Started) })
	if offset >= len(all) {
		return nil, nil
	}
	return all[offset:min(len(all), offset+limit)], nil
}

// Logs returns a run's log lines from sequence number from on (see
// rdb.ReadLog: a follower reads on from the last line's Seq+1).
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

// refusal is an error that says all in its own words and still matches
// its sentinel with errors.Is (a %w would repeat the sentinel's text at
// the end of a sentence that already said it).
func refusal(sentinel error, format string, args ...any) error {
	return &refusalErr{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}

type refusalErr struct {
	msg      string
	sentinel error
}

func (e *refusalErr) Error() string { return e.msg }
func (e *refusalErr) Unwrap() error { return e.sentinel }
