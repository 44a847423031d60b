package synq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/synqhq/synq/internal/spec"
)

// Mode is how a sync's results relate to its database.
type Mode int

const (
	// Replace (the default): each cycle returns the whole dataset, page by
	// page; after the final page, rows not seen in the cycle are trashed. A
	// completed cycle resets the state to its zero value.
	Replace Mode = iota
	// Incremental: each run returns only changes and explicit deletes; the
	// state persists across runs.
	Incremental
)

func (m Mode) String() string {
	switch m {
	case Replace:
		return string(spec.Replace)
	case Incremental:
		return string(spec.Incremental)
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// SyncConfig declares a sync with state type S. S is stored as JSON between
// pages and runs, so keep it a small struct of exported fields (a cursor, a
// timestamp).
type SyncConfig[S any] struct {
	// Database is the database the sync writes (changes may target another
	// declared database with Change.In).
	Database *Database
	// Mode is Replace (default) or Incremental.
	Mode Mode
	// Schedule is "manual", "continuous" or an interval between "5m" and
	// "7d" such as "15m", "1h", "1d"; default ScheduleDefault.
	Schedule string
	// Execute returns one page of changes from state. It is called again with
	// NextState while HasMore is set. Return a *RateLimitError when the
	// upstream API asks to wait.
	Execute func(ctx context.Context, state *S) (Result[S], error)
	// Timeout bounds one Execute call (default SyncTimeoutDefault).
	Timeout time.Duration
	// MaxAttempts bounds the attempts at one page before the run fails
	// (default MaxAttemptsDefault).
	MaxAttempts int
	// Pacers lists the pacers Execute uses, for operators' views (optional).
	Pacers []*Pacer
	// MaxTrashFraction is the deletion guard of a Replace sync: a cycle
	// that would trash more than this fraction of its database's rows
	// (when the database has more than 10) trashes nothing and ends with a
	// warning, so an empty or truncated upstream answer never wipes a
	// database people have annotated. Default MaxTrashFractionDefault;
	// 1 turns the guard off. `ctl trigger KEY --allow-trash` lifts it for
	// one run.
	MaxTrashFraction float64
}

// Defaults of SyncConfig's zero fields.
const (
	// ScheduleDefault is a run every 30 minutes.
	ScheduleDefault = spec.ScheduleDefault
	// SyncTimeoutDefault bounds one Execute call.
	SyncTimeoutDefault = spec.TimeoutDefault
	// MaxAttemptsDefault is how many times a page is tried before its run
	// fails.
	MaxAttemptsDefault = spec.MaxAttemptsDefault
	// MaxTrashFractionDefault is the deletion guard's threshold.
	MaxTrashFractionDefault = spec.MaxTrashFractionDefault
)

// Result is what Execute returns for one page.
type Result[S any] struct {
	Changes []Change
	// HasMore asks for another page, with NextState.
	HasMore bool
	// NextState is the state for the next page (or the next run, in
	// Incremental mode). nil keeps the current state.
	NextState *S
}

// Sync is a handle on a declared sync.
type Sync struct {
	key   string
	build func(w *Worker) (*spec.Sync, error)
}

// Key returns the sync's key.
func (s *Sync) Key() string { return s.key }

// AddSync declares a sync under key. It is a function rather than a method
// because Go methods cannot have type parameters.
func AddSync[S any](w *Worker, key string, cfg SyncConfig[S]) *Sync {
	_, taken := w.syncs[key]
	w.checkKey("sync", key, taken)
	s := &Sync{key: key}
	s.build = func(w *Worker) (*spec.Sync, error) { return buildSync(w, key, cfg) }
	if !taken {
		w.syncs[key] = s
		w.syncOrder = append(w.syncOrder, key)
	}
	return s
}

func (s *Sync) spec(w *Worker) (*spec.Sync, error) { return s.build(w) }

func buildSync[S any](w *Worker, key string, cfg SyncConfig[S]) (*spec.Sync, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("sync %q: "+format, append([]any{key}, a...)...))
	}
	dbKey := ""
	switch {
	case cfg.Database == nil:
		bad("Database is nil: pass the handle w.Database(…) returned")
	case cfg.Database.w != w:
		bad("Database %q belongs to another worker: declare it on this one", cfg.Database.key)
	default:
		dbKey = cfg.Database.key
	}
	if cfg.Execute == nil {
		bad("Execute is nil: give the sync a function that returns a page of changes")
	}
	var mode spec.Mode
	switch cfg.Mode {
	case Replace:
		mode = spec.Replace
	case Incremental:
		mode = spec.Incremental
	default:
		bad("unknown Mode %d: use synq.Replace or synq.Incremental", int(cfg.Mode))
	}
	sched, err := spec.ParseSchedule(cfg.Schedule)
	if err != nil {
		bad("%v", err)
	}
	if cfg.Timeout < 0 {
		bad("Timeout is negative (%v): leave it 0 for the default %v", cfg.Timeout, SyncTimeoutDefault)
	}
	if cfg.MaxAttempts < 0 {
		bad("MaxAttempts is negative (%d): leave it 0 for the default %d", cfg.MaxAttempts, MaxAttemptsDefault)
	}
	if cfg.MaxTrashFraction < 0 || cfg.MaxTrashFraction > 1 {
		bad("MaxTrashFraction %v is not a fraction: use a value in (0, 1], e.g. 0.5 (0 means the default %v; 1 turns the deletion guard off)", cfg.MaxTrashFraction, MaxTrashFractionDefault)
	}
	var pacers []string
	for i, p := range cfg.Pacers {
		if p == nil {
			bad("Pacers[%d] is nil", i)
			continue
		}
		if w.pacers[p.key] != p {
			bad("pacer %q is not declared on this worker: declare it with w.Pacer", p.key)
		}
		pacers = append(pacers, p.key)
	}
	var zero S
	if !jsonable(zero) {
		bad("state type %T cannot be encoded as JSON: use a struct of exported, JSON-encodable fields", zero)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = SyncTimeoutDefault
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = MaxAttemptsDefault
	}
	return &spec.Sync{
		Key:         key,
		Database:    dbKey,
		Mode:        mode,
		Schedule:    sched,
		Timeout:     timeout,
		MaxAttempts: attempts,
		Pacers:      pacers,
		Execute:     erase(w, key, cfg.Execute),
		State:       reflect.TypeFor[S](),

		MaxTrashFraction: cfg.MaxTrashFraction,
	}, nil
}

func jsonable(v any) bool {
	_, err := json.Marshal(v)
	return err == nil
}

// erase wraps a typed Execute into one on JSON state.
func erase[S any](w *Worker, key string, execute func(context.Context, *S) (Result[S], error)) func(context.Context, json.RawMessage) (spec.Page, error) {
	return func(ctx context.Context, raw json.RawMessage) (page spec.Page, err error) {
		var state S
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &state); err != nil {
				return spec.Page{}, &StateError{Sync: key, Err: err}
			}
		}
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Sync: key, Value: r, Stack: string(debug.Stack())}
			}
		}()
		res, err := execute(ctx, &state)
		if err != nil {
			return spec.Page{}, err
		}
		page.HasMore = res.HasMore
		if res.NextState != nil {
			b, err := json.Marshal(res.NextState)
			if err != nil {
				return spec.Page{}, fmt.Errorf("sync %q: encode NextState: %w", key, err)
			}
			page.NextState = b
		}
		page.Changes = make([]spec.Change, 0, len(res.Changes))
		for i, c := range res.Changes {
			sc, err := c.spec(w)
			if err != nil {
				return spec.Page{}, &ChangeError{Sync: key, Index: i, Key: c.key, Err: err}
			}
			page.Changes = append(page.Changes, sc)
		}
		return page, nil
	}
}
