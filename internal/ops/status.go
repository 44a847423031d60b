package ops

import (
	"context"
	"fmt"
	"slices"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Health follows the Notion CLI's sync health.
type Health string

const (
	Initializing Health = "INITIALIZING" // never succeeded
	Healthy      Health = "HEALTHY"
	Warning      Health = "WARNING"  // 1–2 consecutive failed runs
	Error        Health = "ERROR"    // 3+ consecutive failed runs
	Disabled     Health = "DISABLED" // paused
)

// HealthOf derives a sync's health from its status.
func HealthOf(st rdb.SyncStatus) Health {
	switch {
	case st.Paused:
		return Disabled
	case st.ConsecutiveFailures >= 3:
		return Error
	case st.ConsecutiveFailures >= 1:
		return Warning
	case st.LastSuccess.IsZero():
		return Initializing
	}
	return Healthy
}

// View is everything an operator sees of one sync.
type View struct {
	SyncInfo
	Status    rdb.SyncStatus
	Health    Health
	ActiveRun *rdb.Run
	LastRun   *rdb.Run
	// Existing is what is known of the sync's database when it is one
	// people already have (nil for a database synq manages).
	Existing *rdb.ExistingInfo
}

// View returns the view of one sync.
func (o *Ops) View(ctx context.Context, key string) (View, error) {
	s, err := o.Sync(ctx, key)
	if err != nil {
		return View{}, err
	}
	return o.view(ctx, s)
}

// Views returns the views of every published sync, sorted by key.
func (o *Ops) Views(ctx context.Context) ([]View, error) {
	cat, err := o.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(cat))
	for _, k := range slices.Sorted(keys(cat)) {
		v, err := o.view(ctx, cat[k])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (o *Ops) view(ctx context.Context, s SyncInfo) (View, error) {
	st, err := o.rdb.GetSyncStatus(ctx, s.Key)
	if err != nil {
		return View{}, err
	}
	return o.viewWith(ctx, s, st)
}

// viewWith is view with the sync's status already read.
func (o *Ops) viewWith(ctx context.Context, s SyncInfo, st rdb.SyncStatus) (View, error) {
	v := View{SyncInfo: s, Status: st, Health: HealthOf(st)}
	if s.Existing != "" {
		info, err := o.rdb.GetExisting(ctx, s.Database)
		if err != nil {
			return View{}, err
		}
		v.Existing = &info
	}
	if st.ActiveRun != "" {
		if r, ok, err := o.rdb.GetRun(ctx, s.Key, st.ActiveRun); err != nil {
			return View{}, err
		} else if ok {
			v.ActiveRun = &r
		}
	}
	if st.LastRun != "" {
		if r, ok, err := o.rdb.GetRun(ctx, s.Key, st.LastRun); err != nil {
			return View{}, err
		} else if ok {
			v.LastRun = &r
		}
	}
	return v, nil
}

// HealthReason says in words why a sync has its health: what the console
// shows beside it and ctl's JSON carries as health_reason.
func (v View) HealthReason() string {
	if !v.Declared {
		return "no live executor declares it"
	}
	switch v.Health {
	case Disabled:
		return "paused: no new runs until it is resumed"
	case Error, Warning:
		n := v.Status.ConsecutiveFailures
		s := fmt.Sprintf("%d consecutive failed run", n)
		if n != 1 {
			s += "s"
		}
		if v.LastRun != nil && v.LastRun.Error != "" {
			s += ": " + v.LastRun.Error
		}
		return s
	case Initializing:
		if v.ActiveRun != nil {
			return "first run in progress"
		}
		if v.Schedule.Kind == spec.Manual {
			return "never succeeded yet: a manual sync runs when triggered (ctl trigger " + v.Key + ")"
		}
		return "never succeeded yet"
	}
	if v.LastRun != nil && !v.LastRun.Finished.IsZero() {
		return "last run " + v.LastRun.Status
	}
	return "last run succeeded"
}
