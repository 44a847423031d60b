package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/spec"
)

// handlePage runs one page task: it begins the page (or parks or drops it:
// paused sync, cancelled run), runs Execute and the Notion writes through
// the engine, and commits the page with the run's next step — the
// transitions of docs/state_machine.md.
func (x *Executor) handlePage(ctx context.Context, p queue.Payload) error {
	return x.runPage(ctx, p, queue.AttemptOf(ctx))
}

// runPage is handlePage for the task attempt at (tests call it with one of
// their own).
func (x *Executor) runPage(ctx context.Context, p queue.Payload, at queue.Attempt) error {
	x.inFlight.Add(1)
	defer x.inFlight.Add(-1)
	entered := time.Now()
	ref := runs.Ref{Sync: p.Sync, Run: p.Run, Page: p.Page}
	s, ok := x.cfg.Set.Syncs[p.Sync]
	if !ok {
		return x.notDeclared(ctx, ref, at.TaskID)
	}
	platform, buf := newRunLogger(x.log.Handler(), p.Page)
	platform = platform.With("sync", p.Sync, "run", p.Run, "page", p.Page)
	// Lines not stored with the commit (a failure, a park) are flushed
	// when the task ends.
	defer x.flushLog(ctx, ref, buf)

	var begin rdb.Begin
	err := x.whileRedisDown(ctx, func() error {
		var err error
		begin, err = x.runs.BeginPage(ctx, ref, at.TaskID)
		return err
	})
	if err != nil {
		return x.leaseLost(ctx, ref, s, platform, err, at, entered)
	}
	switch begin.Action {
	case rdb.PageMissing, rdb.PageStop:
		// Cancelled, failed, finished or dropped: nothing to do.
		return nil
	case rdb.PageSuperseded:
		platform.Info("task superseded: the run continues under task "+begin.Task+"; this one does nothing", "task", at.TaskID)
		return nil
	case rdb.PageParked:
		platform.Info("sync is paused: run parked before this page; `ctl resume` continues it")
		return nil
	case rdb.PageCommitted:
		return x.runs.Reconcile(ctx, ref, x.options(s))
	}

	retried, maxRetry := at.Retried, at.MaxRetry
	start := time.Now()
	m := x.cfg.Metrics
	if m != nil && p.Due > 0 && retried == 0 {
		m.QueueLag.Observe(max(0, start.Sub(time.Unix(0, p.Due)).Seconds()))
	}
	req := engine.PageRequest{
		Sync: p.Sync, Run: p.Run, Page: p.Page, Logger: platform, Pacers: x.cfg.Pacers, AllowTrash: begin.AllowTrash,
		Attempt: at.TaskID + ":" + strconv.Itoa(retried),
		BeginSweep: func(ctx context.Context) (ok bool, err error) {
			err = x.whileRedisDown(ctx, func() error {
				ok, err = x.runs.BeginSweep(ctx, ref, begin.Fence)
				return err
			})
			return ok, err
		},
		Fence: func(ctx context.Context) error {
			return x.whileRedisDown(ctx, func() error { return x.runs.CheckFence(ctx, ref, begin.Fence) })
		},
		// A commit that meets a Redis outage waits for Redis and is sent
		// again (it is atomic and idempotent): the page's writes are not
		// redone.
		Commit: func(ctx context.Context, c rdb.Commit, end engine.RunEnd) (res rdb.CommitResult, err error) {
			platform.Info("page committed", "has_more", c.HasMore, "counters", countersValue(c.Counters), "took_ms", time.Since(start).Milliseconds())
			done := rdb.PageDone{Lines: buf.take(), Outcome: end.Status, Message: end.Message}
			done.FinishLines = []rdb.LogLine{finishLine(p, end)}
			c.Fence = begin.Fence
			err = x.whileRedisDown(ctx, func() error {
				res, err = x.runs.Commit(ctx, c, done, x.options(s))
				return err
			})
			if err != nil {
				// The lines go back to the buffer for the next attempt or
				// the final flush.
				buf.put(done.Lines)
			}
			return res, err
		},
	}
	var res engine.PageResult
	err = x.whileRedisDown(ctx, func() error {
		var err error
		res, err = x.cfg.Engine.RunPage(ctx, req)
		return err
	})
	if m != nil {
		m.PageDuration.WithLabelValues(p.Sync).Observe(time.Since(start).Seconds())
	}
	var stale *rdb.StaleError
	if errors.As(err, &stale) {
		// Fenced: newer work owns the run (or the sync's state). Retrying
		// would be refused the same way, and failing would end a run this
		// attempt no longer speaks for: discard, say why once.
		platform.Warn("page attempt discarded: "+stale.Reason(), "attempt", begin.Attempt, "task", at.TaskID)
		if m != nil {
			m.Pages.WithLabelValues(p.Sync, "stale").Inc()
		}
		return nil
	}
	if err != nil {
		if lerr := x.leaseLost(ctx, ref, s, platform, err, at, entered); lerr != err {
			return lerr
		}
		return x.pageFailed(ctx, ref, s, platform, err, retried, maxRetry)
	}
	if res.AlreadyCommitted {
		if m != nil {
			m.Pages.WithLabelValues(p.Sync, "duplicate").Inc()
		}
		return x.runs.Reconcile(ctx, ref, x.options(s))
	}
	if m != nil {
		m.Pages.WithLabelValues(p.Sync, "committed").Inc()
		for k, v := range res.Counters {
			m.Rows.WithLabelValues(p.Sync, k).Add(float64(v))
		}
	}
	switch res.Commit.Next {
	case rdb.NextEnqueue:
		return x.whileRedisDown(ctx, func() error { return x.runs.Continue(ctx, ref, res.Commit, x.options(s)) })
	case rdb.NextParked:
		platform.Info("sync is paused: run parked after this page; `ctl resume` continues it")
	case rdb.NextStopped:
		platform.Info("the run ended while this page ran (" + res.Commit.Status + "): its writes are committed, no further page runs")
	case rdb.NextFinished:
		if m != nil {
			m.Runs.WithLabelValues(p.Sync, res.Commit.Status).Inc()
		}
	}
	return nil
}

func finishLine(p queue.Payload, end engine.RunEnd) rdb.LogLine {
	l := rdb.LogLine{Time: time.Now(), Level: "INFO", Source: "platform", Page: p.Page, Message: "run succeeded",
		Attrs: map[string]any{"pages": p.Page + 1}}
	if end.Status == rdb.RunWarning {
		l.Level, l.Message = "WARN", "run ended with a warning: "+end.Message
	}
	return l
}

// pageFailed decides between a retry and the end of the run.
func (x *Executor) pageFailed(ctx context.Context, ref runs.Ref, s *spec.Sync, log *slog.Logger, err error, retried, maxRetry int) error {
	permanent := engine.IsValidation(err) || isPermanent(err)
	last := retried >= maxRetry
	deadline := errors.Is(ctx.Err(), context.DeadlineExceeded)
	if ctx.Err() != nil && !deadline && !permanent {
		// Shutdown: asynq hands the page back to the queue.
		log.Warn("page interrupted by shutdown; it will run again", "err", err)
		return err
	}
	if !permanent && !last {
		log.Warn("page failed; it will be retried", "attempt", retried+1, "max_attempts", maxRetry+1, "err", err)
		if rerr := x.runs.PageAttemptFailed(context.WithoutCancel(ctx), ref, err); rerr != nil {
			x.log.Debug("could not record the page error", "err", rerr)
		}
		if m := x.cfg.Metrics; m != nil {
			m.Pages.WithLabelValues(ref.Sync, "retried").Inc()
		}
		return err
	}
	why := "page failed after its last attempt"
	switch {
	case permanent:
		why = runs.WhyPermanent
	case deadline:
		why = fmt.Sprintf("page hit its task deadline on its last attempt: raise the sync's Timeout (%v) or make Execute return sooner", s.Timeout)
	}
	msg := fmt.Sprintf("%s: %v", why, err)
	log.Error(why+"; the run fails and the state stays at the last committed page", "attempt", retried+1, "err", err)
	fctx := context.WithoutCancel(ctx)
	if _, ferr := x.runs.Fail(fctx, rdb.Fail{Sync: ref.Sync, Run: ref.Run, Message: msg, Page: ref.Page}); ferr != nil {
		return errors.Join(err, ferr)
	}
	if m := x.cfg.Metrics; m != nil {
		m.Pages.WithLabelValues(ref.Sync, "failed").Inc()
		m.Runs.WithLabelValues(ref.Sync, "failed").Inc()
	}
	return queue.Final(err)
}

// notDeclared handles a page task for a sync this build does not declare.
// During a rolling deploy the worker's newest build may declare it: the
// page is handed to that build's executors. Otherwise a deploy removed the
// sync, and the run fails at once with that cause.
func (x *Executor) notDeclared(ctx context.Context, ref runs.Ref, task string) error {
	opts, newest, declares, err := x.newestDeclares(ctx, ref.Sync)
	if err != nil {
		return err
	}
	if declares {
		ok, err := x.runs.Handover(ctx, ref, task, opts, time.Second)
		if err != nil {
			return err
		}
		if ok {
			x.log.Info("handed a page to the worker's newest build, which declares its sync", "sync", ref.Sync, "run", ref.Run, "page", ref.Page, "build", newest)
		}
		return nil
	}
	which := fmt.Sprintf("its newest build %s", newest)
	if newest != x.manifest.Build {
		which = fmt.Sprintf("build %s nor its newest build %s", x.manifest.Build, newest)
	}
	msg := fmt.Sprintf("sync %q is not declared by worker %q (%s): a deploy removed it. Deploy an executor that declares it and trigger it again, or remove its records with `ctl forget %s`",
		ref.Sync, x.cfg.Set.Worker, which, ref.Sync)
	x.log.Error("page task for a sync this worker does not declare; its run fails", "sync", ref.Sync, "run", ref.Run)
	line := rdb.LogLine{Time: time.Now(), Level: "ERROR", Source: "platform", Page: ref.Page, Message: "run failed: " + msg}
	if _, err := x.runs.Fail(ctx, rdb.Fail{Sync: ref.Sync, Run: ref.Run, Message: msg, ExpectTask: task, Page: ref.Page, Lines: []rdb.LogLine{line}}); err != nil {
		return err
	}
	return queue.Final(errors.New(msg))
}

// leaseLostWaitMax bounds how long a page whose lease was lost to an outage
// waits for Redis to enqueue itself again.
const leaseLostWaitMax = 10 * time.Minute

// leaseLost handles a page attempt cut short (err) because asynq ended its
// context while Redis was unreachable: asynq lost the task's lease in the
// outage, and its recoverer would count the attempt as failed — on the
// last attempt, failing a run whose executor was healthy throughout. An
// outage is not a crash: the page is enqueued again under a new task id
// (runs.Handover, which fences this attempt) as soon as Redis is back. It
// returns err unchanged when that is not what happened.
func (x *Executor) leaseLost(ctx context.Context, ref runs.Ref, s *spec.Sync, log *slog.Logger, err error, at queue.Attempt, entered time.Time) error {
	mon := x.cfg.Monitor
	if mon == nil || at.TaskID == "" || !errors.Is(ctx.Err(), context.Canceled) || x.stopping.Load() || !mon.DownSince(entered) {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseLostWaitMax)
	defer cancel()
	var moved bool
	herr := x.whileRedisDown(wctx, func() error {
		if err := mon.WaitUp(wctx); err != nil {
			return err
		}
		var err error
		moved, err = x.runs.Requeue(wctx, ref, at.TaskID, x.options(s))
		if err == nil && !moved {
			// The run moved on: this page's commit may have landed with
			// its reply lost. Make sure the next task exists.
			err = x.runs.Reconcile(wctx, ref, x.options(s))
		}
		return err
	})
	switch {
	case herr != nil:
		log.Error("page lost its task lease in a Redis outage and could not be enqueued again; the reaper decides", "task", at.TaskID, "err", herr)
	case moved:
		log.Warn("page lost its task lease in a Redis outage: enqueued again under a new task, the attempt is not counted", "task", at.TaskID, "err", err)
	default:
		log.Info("page lost its task lease in a Redis outage; the run had moved on meanwhile", "task", at.TaskID)
	}
	return fmt.Errorf("lease lost in a Redis outage: %w", err)
}

// whileRedisDown runs fn and, while it fails because Redis is unreachable,
// waits for Redis and runs it again, for as long as the task lives. A page
// that met an outage goes on as soon as Redis is back instead of waiting
// for asynq to recover its task, which takes minutes after an outage
// (asynq retries moving a failed task with a context that has already
// ended, so the task sits active until its lease expires and the
// recoverer's next pass). fn must be safe to run again: the engine's page
// is (a committed page is not applied twice), and so are the run
// transitions.
func (x *Executor) whileRedisDown(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !errors.Is(err, rdb.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		if werr := x.waitRedis(ctx, err); werr != nil {
			return err
		}
	}
}

// waitRedis blocks until Redis answers again or ctx ends. The Monitor logs
// the outage once for the whole process.
func (x *Executor) waitRedis(ctx context.Context, cause error) error {
	if mon := x.cfg.Monitor; mon != nil {
		mon.ReportError(cause)
		return mon.WaitUp(ctx)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := x.cfg.Redis.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (x *Executor) flushLog(ctx context.Context, ref runs.Ref, buf *lineBuffer) {
	if lines := buf.take(); len(lines) > 0 {
		if err := x.rdb.AppendLog(context.WithoutCancel(ctx), ref.Sync, ref.Run, x.cfg.LogCap, lines...); err != nil {
			x.log.Warn("could not store run log lines", "run", ref.Run, "err", err)
		}
	}
}
