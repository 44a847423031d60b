// Package runs owns every transition of a run: start, page start, page
// done, park, resume, cancel, fail and succeed. Each transition that can
// race another is one atomic script in internal/rdb; this package adds the
// task that goes with it (the next page's enqueue, the continuation of a
// resumed run) and the reaper that ends runs nobody will move on.
//
// docs/state_machine.md draws the states and the rules the scripts keep.
package runs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
)

// Defaults.
const (
	// LogCapDefault bounds each run's stored log, in lines.
	LogCapDefault = 2000
	// RetentionDefault is how many runs per sync are kept.
	RetentionDefault = 100
)

// WhyPermanent starts the message of a run failed by an error retrying
// cannot fix (a malformed change, a Notion 4xx): alerts tell it from a
// run that ran out of attempts by it.
const WhyPermanent = "page failed with an error that retrying cannot fix"

// Config configures Runs.
type Config struct {
	RDB   *rdb.RDB
	Queue *queue.Client
	// Inspector lets the reaper and Cancel read and tidy tasks (optional
	// for executors).
	Inspector *queue.Inspector
	Logger    *slog.Logger
	// LogCap bounds each run's stored log, in lines (default
	// LogCapDefault).
	LogCap int
	// Retention is how many runs per sync are kept (default
	// RetentionDefault).
	Retention int
}

func (c Config) validate() error {
	if c.RDB == nil || c.Queue == nil {
		return errors.New("runs: Config.RDB and Config.Queue are required")
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.LogCap = defaults.Positive(c.LogCap, LogCapDefault)
	c.Retention = defaults.Positive(c.Retention, RetentionDefault)
	return c
}

// Runs performs run transitions.
type Runs struct {
	cfg Config
	rdb *rdb.RDB
	log *slog.Logger
}

// New returns Runs.
func New(cfg Config) (*Runs, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Runs{cfg: cfg, rdb: cfg.RDB, log: cfg.Logger}, nil
}

// LogCap is the cap of each run's log.
func (r *Runs) LogCap() int { return r.cfg.LogCap }

// Errors callers map to their own codes.
var (
	ErrRunActive = errors.New("a run is active")
	ErrPaused    = errors.New("sync is paused")
	ErrNotActive = errors.New("run is not active")
	ErrSweeping  = errors.New("run is finishing")
)

// ActiveError is a start refused because a run is active.
type ActiveError struct{ Sync, Run string }

func (e *ActiveError) Error() string {
	return fmt.Sprintf("sync %q already has an active run %s: wait for it, or cancel it with `ctl cancel %s`", e.Sync, e.Run, e.Run)
}

func (e *ActiveError) Unwrap() error { return ErrRunActive }

// TaskOptions are a sync's page-task settings.
type TaskOptions struct {
	Worker      string
	MaxAttempts int
	Timeout     time.Duration
}

func (o TaskOptions) task(sync, run string, page int, id string, delay time.Duration) queue.PageTask {
	return queue.PageTask{
		Payload:     queue.Payload{Sync: sync, Run: run, Page: page, Due: time.Now().Add(delay).UnixNano()},
		ID:          id,
		Queue:       queue.ForWorker(o.Worker),
		MaxAttempts: o.MaxAttempts,
		// The task's own deadline leaves room for the Notion writes and the
		// commit after Execute's timeout.
		Timeout: o.Timeout + 30*time.Minute,
		Delay:   delay,
	}
}

// Start describes a run to start.
type Start struct {
	Sync    string
	Run     string
	Trigger string // "manual" | "schedule"
	// AllowTrash lifts the deletion guard for this run.
	AllowTrash bool
	Options    TaskOptions
}

// TaskID is the id of page p's task in run.
func TaskID(run string, page int) string { return fmt.Sprintf("%s:%d", run, page) }

// Start creates a run and enqueues its first page. A run whose first task
// could not be enqueued is failed at once, so it never blocks the sync.
func (r *Runs) Start(ctx context.Context, s Start) error {
	task := TaskID(s.Run, 0)
	res, err := r.rdb.StartRun(ctx, rdb.StartRun{
		Sync: s.Sync, Run: s.Run, Trigger: s.Trigger, Worker: s.Options.Worker, Queue: queue.ForWorker(s.Options.Worker),
		Task: task, AllowTrash: s.AllowTrash, RefusePaused: true,
	})
	if err != nil {
		return err
	}
	switch {
	case res.Paused:
		return fmt.Errorf("sync %q is paused: resume it with `ctl resume %s` first: %w", s.Sync, s.Sync, ErrPaused)
	case !res.Started:
		return &ActiveError{Sync: s.Sync, Run: res.Active}
	}
	if err := r.cfg.Queue.EnqueuePage(ctx, s.Options.task(s.Sync, s.Run, 0, task, 0)); err != nil {
		msg := "could not enqueue the first page: " + err.Error()
		if _, ferr := r.Fail(context.WithoutCancel(ctx), rdb.Fail{Sync: s.Sync, Run: s.Run, Message: msg, ExpectTask: task, Page: -1}); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	if err := r.rdb.TrimRuns(ctx, s.Sync, r.cfg.Retention); err != nil {
		r.log.Warn("could not trim old runs", "sync", s.Sync, "err", err)
	}
	return nil
}

// Ref names one page of one run.
type Ref struct {
	Sync string
	Run  string
	Page int
}

// BeginPage starts an attempt of task (its id; "" when unknown) at a
// page: it parks the run if the sync is paused, refuses a task the run no
// longer names, counts the attempt and hands out the attempt's fencing
// token (Begin.Fence). See rdb.PageStart for the outcomes.
func (r *Runs) BeginPage(ctx context.Context, ref Ref, task string) (rdb.Begin, error) {
	return r.rdb.BeginPage(ctx, ref.Sync, ref.Run, ref.Page, task)
}

// CheckFence returns an error wrapping rdb.ErrStale when the attempt
// holding f may no longer write for ref: a page asks before its Notion
// writes, so an attempt that stalled through Execute writes nothing over
// newer work.
func (r *Runs) CheckFence(ctx context.Context, ref Ref, f *rdb.Fence) error {
	return r.rdb.CheckFence(ctx, ref.Sync, ref.Run, ref.Page, f)
}

// Commit commits a page and moves the run on in the same step (the
// engine calls it through its commit hook); Continue then enqueues the
// next task. c.Fence is the attempt's token: a stale attempt's commit is
// refused (rdb.ErrStale) and changes nothing. o names the queue the next
// task goes to.
func (r *Runs) Commit(ctx context.Context, c rdb.Commit, done rdb.PageDone, o TaskOptions) (rdb.CommitResult, error) {
	if done.LogCap == 0 {
		done.LogCap = r.cfg.LogCap
	}
	c.Lifecycle = &done
	c.Queue = queue.ForWorker(o.Worker)
	return r.rdb.CommitPage(ctx, c)
}

// Continue acts on a commit: it enqueues the next page's task when the
// commit recorded one.
func (r *Runs) Continue(ctx context.Context, ref Ref, res rdb.CommitResult, o TaskOptions) error {
	if res.Next != rdb.NextEnqueue {
		return nil
	}
	return r.cfg.Queue.EnqueuePage(ctx, o.task(ref.Sync, ref.Run, ref.Page+1, res.Task, 0))
}

// Reconcile makes sure a run whose page ref was committed before (a
// redelivered task, or a crash between commit and enqueue) has its next
// task queued.
func (r *Runs) Reconcile(ctx context.Context, ref Ref, o TaskOptions) error {
	run, ok, err := r.rdb.GetRun(ctx, ref.Sync, ref.Run)
	if err != nil || !ok {
		return err
	}
	if run.Status != rdb.RunRunning || run.Task == "" || run.TaskPage <= ref.Page {
		return nil
	}
	t := o.task(ref.Sync, ref.Run, run.TaskPage, run.Task, 0)
	if run.Queue != "" {
		// Task ids are unique per queue: the task goes where the run says.
		t.Queue = run.Queue
	}
	return r.cfg.Queue.EnqueuePage(ctx, t)
}

// BeginSweep is asked before the final page of a replace cycle trashes
// rows: it reports false when the run is no longer running (a cancelled
// run never sweeps), and from then on the run cannot be cancelled. A
// stale attempt (f) gets an error wrapping rdb.ErrStale.
func (r *Runs) BeginSweep(ctx context.Context, ref Ref, f *rdb.Fence) (bool, error) {
	return r.rdb.BeginSweep(ctx, ref.Sync, ref.Run, ref.Page, f)
}

// PageAttemptFailed records the error of an attempt that will be retried.
func (r *Runs) PageAttemptFailed(ctx context.Context, ref Ref, err error) error {
	return r.rdb.PageAttemptFailed(ctx, ref.Sync, ref.Run, err.Error())
}

// Fail ends a run as failed. It reports false when the failure did not
// apply (the run had ended, or moved on from f.ExpectTask).
func (r *Runs) Fail(ctx context.Context, f rdb.Fail) (bool, error) {
	if f.LogCap == 0 {
		f.LogCap = r.cfg.LogCap
	}
	return r.rdb.FailRun(ctx, f)
}

// Handover gives a page task the executor cannot run (its build does not
// declare the sync, during a rolling deploy) to the others: the run
// records a new task id and the task is enqueued again after delay. It
// reports false when the run moved on meanwhile.
//
// The same step enqueues a page again whose task can no longer run: a
// task on a queue no live worker reads (the reaper moves it to the queue
// of the worker that declares the sync now), or one whose lease was lost
// to a Redis outage (the executor enqueues it again instead of letting
// asynq count the attempt as failed). The old task's holder is fenced.
func (r *Runs) Handover(ctx context.Context, ref Ref, current string, o TaskOptions, delay time.Duration) (bool, error) {
	q := queue.ForWorker(o.Worker)
	id, err := r.rdb.Handover(ctx, ref.Sync, ref.Run, current, q)
	if err != nil || id == "" {
		return false, err
	}
	return true, r.cfg.Queue.EnqueuePage(ctx, o.task(ref.Sync, ref.Run, ref.Page, id, delay))
}

// requeueRetry is how often Requeue tries an enqueue again.
const requeueRetry = 500 * time.Millisecond

// Requeue is Handover at once for a task that can no longer run where it
// is (its lease was lost to a Redis outage; it sits on a queue no live
// worker reads). Once the run names the new task, the enqueue is tried
// again until it succeeds or ctx ends: the run must not be left naming a
// task that does not exist.
func (r *Runs) Requeue(ctx context.Context, ref Ref, current string, o TaskOptions) (bool, error) {
	id, err := r.rdb.Handover(ctx, ref.Sync, ref.Run, current, queue.ForWorker(o.Worker))
	if err != nil || id == "" {
		return false, err
	}
	for {
		err := r.cfg.Queue.EnqueuePage(ctx, o.task(ref.Sync, ref.Run, ref.Page, id, 0))
		if err == nil {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("run %s names task %s, which could not be enqueued: %w", ref.Run, id, err)
		case <-time.After(requeueRetry):
		}
	}
}

// Pause stops scheduling a sync; an active run parks at its next page
// boundary.
func (r *Runs) Pause(ctx context.Context, sync string) error {
	return r.rdb.SetPaused(ctx, sync, true)
}

// Resume unpauses a sync and continues its parked run, if any, under a new
// task id. It returns the run resumed ("" when none was parked).
func (r *Runs) Resume(ctx context.Context, sync string, o TaskOptions) (string, error) {
	st, err := r.rdb.GetSyncStatus(ctx, sync)
	if err != nil {
		return "", err
	}
	task, page, err := r.rdb.Resume(ctx, sync, st.ActiveRun, queue.ForWorker(o.Worker))
	if err != nil || task == "" {
		return "", err
	}
	if err := r.cfg.Queue.EnqueuePage(ctx, o.task(sync, st.ActiveRun, page, task, 0)); err != nil {
		// The run is running now, with a task that does not exist: a
		// second resume finds nothing parked and does nothing. The reaper
		// fails the run once its task stays missing; say what helps.
		return st.ActiveRun, fmt.Errorf("resumed run %s but could not enqueue its page %d: %w. The run is running without a task: cancel it with `ctl cancel %s` and start a new one with `ctl trigger %s` (it continues from the last committed page); left alone, the reaper fails it within about a minute and the sync is free to run again",
			st.ActiveRun, page, err, st.ActiveRun, sync)
	}
	return st.ActiveRun, nil
}

// Cancel ends an active run. The page in flight finishes its writes; no
// further page runs and the run never sweeps.
func (r *Runs) Cancel(ctx context.Context, sync, run, by string) error {
	line := rdb.LogLine{Time: time.Now(), Level: "INFO", Source: "platform", Message: "run cancelled by " + by}
	before, _, err := r.rdb.GetRun(ctx, sync, run)
	if err != nil {
		return err
	}
	ok, status, err := r.rdb.CancelRun(ctx, sync, run, "cancelled by "+by, r.cfg.LogCap, line)
	if err != nil {
		return err
	}
	switch {
	case ok:
		// Tidy the queue: a pending next page would only find the run
		// ended. An active one finishes its page and stops.
		if r.cfg.Inspector != nil && before.Task != "" {
			if err := r.cfg.Inspector.DeleteTask(before.Queue, before.Task); err != nil {
				r.log.Debug("could not delete a cancelled run's task", "run", run, "err", err)
			}
		}
		return nil
	case status == "sweeping":
		return fmt.Errorf("run %s is trashing the rows its replace cycle did not see; it ends in a moment and can no longer be cancelled: %w", run, ErrSweeping)
	case status == "missing":
		return fmt.Errorf("run %s not found: %w", run, ErrNotActive)
	}
	return fmt.Errorf("run %s already ended (%s): %w", run, status, ErrNotActive)
}
