package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/redistest"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// Every operation error reaches ctl with the code that tells it what
// kind of mistake it was, and with its own message.
func TestToStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("sync %q: %w", "ticketsDelta", err) }
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{&ops.UnknownSyncError{Key: "nope", Known: []string{"ticketsDelta"}}, codes.NotFound},
		{wrap(ops.ErrUnknownRun), codes.NotFound},
		{&ops.RunActiveError{Sync: "ticketsDelta", Run: "ticketsDelta-20261124T101500-3f9a1c"}, codes.FailedPrecondition},
		{wrap(ops.ErrPaused), codes.FailedPrecondition},
		{wrap(ops.ErrNotActive), codes.FailedPrecondition},
		{wrap(ops.ErrUndeclared), codes.FailedPrecondition},
		{wrap(ops.ErrDeclared), codes.FailedPrecondition},
		{wrap(ops.ErrSweeping), codes.FailedPrecondition},
		{wrap(ops.ErrInvalidState), codes.InvalidArgument},
		{wrap(ops.ErrNoExecutor), codes.Unavailable},
		{fmt.Errorf("read status: %w", rdb.ErrUnavailable), codes.Unavailable},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{wrap(context.Canceled), codes.Canceled},
		{errors.New("a bug"), codes.Internal},
	} {
		got := toStatus(tc.err)
		st, ok := status.FromError(got)
		if !ok || st.Code() != tc.code || st.Message() != tc.err.Error() {
			t.Errorf("toStatus(%v) = %v; want code %v with the error's message", tc.err, got, tc.code)
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) is not nil")
	}
	// A status already made (a validation error) passes unchanged.
	given := status.Error(codes.InvalidArgument, "key is required")
	if got := toStatus(given); got != given {
		t.Errorf("toStatus(status) = %v; want it unchanged", got)
	}
}

// A run's record maps field by field; attempts and the last error belong
// to a running run's current page only.
func TestRunPB(t *testing.T) {
	started := time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)
	finished := started.Add(3 * time.Minute)
	counters := map[string]int64{"pages": 3, "created": 120, "updated": 4, "unchanged": 76, "trashed": 1, "skipped": 2}
	if runPB(nil) != nil {
		t.Fatal("runPB(nil) is not nil")
	}
	warning := runPB(&rdb.Run{ID: "ticketsBackfill-20261124T101500-3f9a1c", Sync: "ticketsBackfill", Worker: "synq-demo",
		Trigger: "manual", Status: rdb.RunWarning, Started: started, Finished: finished, AllowTrash: true,
		Error: "the deletion guard held the sweep back", TaskPage: 2, AttemptPage: 2, Attempts: 3, LastError: "503", Counters: counters})
	if warning.Id != "ticketsBackfill-20261124T101500-3f9a1c" || warning.SyncKey != "ticketsBackfill" || warning.Worker != "synq-demo" ||
		warning.Trigger != synqv1.Trigger_TRIGGER_MANUAL || warning.Status != synqv1.RunStatus_RUN_STATUS_WARNING ||
		warning.Error != "the deletion guard held the sweep back" || !warning.AllowTrash ||
		!warning.Started.AsTime().Equal(started) || !warning.Finished.AsTime().Equal(finished) {
		t.Errorf("warning run = %v", warning)
	}
	if c := warning.Counters; c.Pages != 3 || c.Created != 120 || c.Updated != 4 || c.Unchanged != 76 || c.Trashed != 1 || c.Skipped != 2 {
		t.Errorf("counters = %v", c)
	}
	if warning.Attempts != 0 || warning.LastError != "" || warning.CurrentPage != 0 {
		t.Errorf("an ended run shows its last page's attempts: %v", warning)
	}

	running := runPB(&rdb.Run{ID: "r", Sync: "s", Trigger: "schedule", Status: rdb.RunRunning, Started: started,
		TaskPage: 4, AttemptPage: 4, Attempts: 2, LastError: "helpdesk API: 503"})
	if running.Status != synqv1.RunStatus_RUN_STATUS_RUNNING || running.Trigger != synqv1.Trigger_TRIGGER_SCHEDULE ||
		running.CurrentPage != 4 || running.Attempts != 2 || running.LastError != "helpdesk API: 503" || running.Finished != nil {
		t.Errorf("running run = %v", running)
	}
	// The attempts counted were the previous page's: the current page has
	// not started yet.
	moved := runPB(&rdb.Run{ID: "r", Status: rdb.RunRunning, TaskPage: 5, AttemptPage: 4, Attempts: 2})
	if moved.CurrentPage != 5 || moved.Attempts != 0 {
		t.Errorf("run on to the next page = %v; want page 5 with no attempts", moved)
	}
	for st, want := range map[string]synqv1.RunStatus{
		rdb.RunSucceeded: synqv1.RunStatus_RUN_STATUS_SUCCEEDED, rdb.RunFailed: synqv1.RunStatus_RUN_STATUS_FAILED,
		rdb.RunCancelled: synqv1.RunStatus_RUN_STATUS_CANCELLED, rdb.RunParked: synqv1.RunStatus_RUN_STATUS_PARKED,
	} {
		if got := runPB(&rdb.Run{Status: st, Trigger: "resume"}); got.Status != want || got.Trigger != synqv1.Trigger_TRIGGER_RESUME {
			t.Errorf("status %q → %v, trigger resume → %v", st, got.Status, got.Trigger)
		}
	}
}

func manifestSync(key string, sched string) spec.ManifestSync {
	s, err := spec.ParseSchedule(sched)
	if err != nil {
		panic(err)
	}
	return spec.ManifestSync{Key: key, Database: "tickets", Mode: spec.Incremental, Schedule: s,
		Timeout: 2 * time.Minute, MaxAttempts: 7, Pacers: []string{"helpdeskApi"}, MaxTrashFraction: 0.25}
}

// A sync's view maps to the message ctl and the console read: its
// declaration, status, health, runs, whether a live executor declares it
// (and since when not), and its pacers' figures from Redis.
func TestSyncPB(t *testing.T) {
	r := redistest.Start(t)
	p, err := pacer.New(pacer.Config{Redis: r.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := p.Wait(ctx, "sdk:helpdeskApi", pacer.Limit{Requests: 100, Interval: time.Second}, "ticketsDelta"); err != nil {
			t.Fatal(err)
		}
	}
	next := time.Date(2026, 11, 24, 10, 20, 0, 0, time.UTC)
	st := rdb.SyncStatus{Paused: true, ConsecutiveFailures: 2, SkippedTicks: 5, NextRun: next}
	v := ops.View{
		SyncInfo: ops.SyncInfo{ManifestSync: manifestSync("ticketsDelta", "5m"), Worker: "synq-demo", Build: "3f9a1c0b2d4e",
			Declared: true, Since: next.Add(-time.Hour), Conflict: "other-worker",
			PacerLimits: map[string]pacer.Limit{"helpdeskApi": {Requests: 100, Interval: time.Second}}},
		Status: st, Health: ops.HealthOf(st),
		ActiveRun: &rdb.Run{ID: "ticketsDelta-20261124T101500-3f9a1c", Status: rdb.RunParked},
		LastRun:   &rdb.Run{ID: "ticketsDelta-20261124T100000-aaaaaa", Status: rdb.RunWarning},
	}
	got := (&Service{cfg: Config{Pacer: p}}).syncPB(ctx, v)
	if got.Key != "ticketsDelta" || got.Worker != "synq-demo" || got.Database != "tickets" || got.Mode != synqv1.Mode_MODE_INCREMENTAL ||
		got.Schedule != "5m" || got.Build != "3f9a1c0b2d4e" || got.Conflict != "other-worker" || !got.Declared ||
		got.Timeout.AsDuration() != 2*time.Minute || got.MaxAttempts != 7 || got.MaxTrashFraction != 0.25 {
		t.Errorf("declaration = %v", got)
	}
	if !got.Paused || got.Health != synqv1.Health_HEALTH_DISABLED || got.ConsecutiveFailures != 2 || got.SkippedTicks != 5 ||
		!got.NextRun.AsTime().Equal(next) {
		t.Errorf("status = %v", got)
	}
	if got.UndeclaredSince != nil {
		t.Errorf("a declared sync has undeclared_since %v", got.UndeclaredSince)
	}
	if got.ActiveRun.GetStatus() != synqv1.RunStatus_RUN_STATUS_PARKED || got.LastRun.GetStatus() != synqv1.RunStatus_RUN_STATUS_WARNING {
		t.Errorf("runs: active %v, last %v", got.ActiveRun, got.LastRun)
	}
	if len(got.Pacers) != 1 || got.Pacers[0].Key != "helpdeskApi" || got.Pacers[0].Granted != 3 || got.Pacers[0].ActiveConsumers != 1 ||
		got.Pacers[0].AllowedRequests != 100 || got.Pacers[0].Interval.AsDuration() != time.Second {
		t.Errorf("pacers = %v; want helpdeskApi, 100 a second, with 3 grants to one consumer", got.Pacers)
	}

	// No live executor declares it: since when is said; a manual sync
	// has no next run whatever its status holds.
	since := next.Add(-2 * time.Hour)
	undeclared := ops.View{SyncInfo: ops.SyncInfo{ManifestSync: manifestSync("retired", "manual"), Worker: "old", Since: since},
		Status: rdb.SyncStatus{NextRun: next}, Health: ops.Initializing}
	got = (&Service{}).syncPB(ctx, undeclared)
	if got.Declared || !got.UndeclaredSince.AsTime().Equal(since) || got.NextRun != nil || got.Pacers != nil ||
		got.Health != synqv1.Health_HEALTH_INITIALIZING || got.ActiveRun != nil || got.LastRun != nil {
		t.Errorf("undeclared manual sync = %v", got)
	}
}

// Health follows the Notion CLI's: each ops health has its own value.
func TestHealthPB(t *testing.T) {
	seen := map[synqv1.Health]bool{}
	for _, h := range []ops.Health{ops.Initializing, ops.Healthy, ops.Warning, ops.Error, ops.Disabled} {
		pb := healthPB(h)
		if pb == synqv1.Health_HEALTH_UNSPECIFIED || seen[pb] {
			t.Errorf("health %s → %v", h, pb)
		}
		seen[pb] = true
	}
}
