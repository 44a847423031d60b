package runs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
)

// Reaper defaults.
const (
	// ReapGraceDefault is how long a run's task may be missing (or
	// completed without the run moving on) before the run fails: an
	// enqueue in flight takes milliseconds.
	ReapGraceDefault = 15 * time.Second
	// LeaseGraceDefault is how long after an active task's lease ran out
	// its executor counts as lost. asynq's own recoverer waits 30 s too.
	LeaseGraceDefault = 30 * time.Second
	// OutageHoldDefault is how long after a Redis outage the reaper does
	// not judge lost leases: asynq's leases run out during an outage
	// whatever the executors do, and an executor whose page lost its lease
	// that way enqueues the page again once Redis is back.
	OutageHoldDefault = time.Minute
)

// Watched is a sync the reaper looks after.
type Watched struct {
	Key string
	// Declared is false when no live executor declares the sync; Why then
	// says since when and what to do.
	Declared bool
	Why      string
	// Options are the page-task options of the worker that declares the
	// sync now: a run whose task waits on a queue no live worker reads
	// (the worker was renamed, or the sync moved to another worker) is
	// moved to this worker's queue.
	Options TaskOptions
}

// RedisWatch is what the reaper asks the process's Redis monitor
// (redisconn.Monitor): whether Redis was unreachable at any time since t.
type RedisWatch interface {
	DownSince(t time.Time) bool
}

// Reaper fails the runs nobody will move on. Only the leader scheduler
// runs it; it remembers what it saw between passes to give in-flight
// enqueues a grace period.
type Reaper struct {
	r          *Runs
	grace      time.Duration
	leaseGrace time.Duration
	outageHold time.Duration
	redis      RedisWatch

	mu   sync.Mutex
	seen map[string]time.Time // task id → first seen missing or completed
}

// ReaperConfig configures a Reaper.
type ReaperConfig struct {
	// Grace defaults to ReapGraceDefault, LeaseGrace to LeaseGraceDefault,
	// OutageHold to OutageHoldDefault.
	Grace      time.Duration
	LeaseGrace time.Duration
	OutageHold time.Duration
	// Redis, when set, says when Redis was unreachable: a lease lost in an
	// outage is not judged until OutageHold after it (an outage is not a
	// crash).
	Redis RedisWatch
}

func (c ReaperConfig) withDefaults() ReaperConfig {
	c.Grace = defaults.Positive(c.Grace, ReapGraceDefault)
	c.LeaseGrace = defaults.Positive(c.LeaseGrace, LeaseGraceDefault)
	c.OutageHold = defaults.Positive(c.OutageHold, OutageHoldDefault)
	return c
}

// NewReaper returns a Reaper over r (which needs an Inspector).
func (r *Runs) NewReaper(cfg ReaperConfig) (*Reaper, error) {
	if r.cfg.Inspector == nil {
		return nil, errors.New("runs: the reaper needs Config.Inspector")
	}
	cfg = cfg.withDefaults()
	return &Reaper{r: r, grace: cfg.Grace, leaseGrace: cfg.LeaseGrace, outageHold: cfg.OutageHold, redis: cfg.Redis, seen: map[string]time.Time{}}, nil
}

// Reap checks the active run of every watched sync and fails those that
// cannot end otherwise. It returns the runs it failed.
func (p *Reaper) Reap(ctx context.Context, syncs []Watched) ([]string, error) {
	var failed []string
	var errs []error
	live := map[string]bool{}
	pass := &pass{}
	for _, w := range syncs {
		run, reason, task, err := p.check(ctx, w, live, pass)
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %q: %w", w.Key, err))
			continue
		}
		if reason == moveTask {
			p.move(ctx, w, run, task)
			continue
		}
		if reason == "" {
			continue
		}
		ok, err := p.r.Fail(ctx, rdb.Fail{
			Sync: w.Key, Run: run.ID, Message: reason, ExpectTask: task, AllowParked: !w.Declared || run.Status == "", Page: pageOf(run),
			Lines: []rdb.LogLine{{Time: time.Now(), Level: "ERROR", Source: "platform", Page: max(run.TaskPage, 0), Message: "run failed: " + reason}},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %q: fail run %s: %w", w.Key, run.ID, err))
			continue
		}
		if ok {
			p.r.log.Warn("reaped a run that could not end otherwise", "sync", w.Key, "run", run.ID, "reason", reason)
			failed = append(failed, run.ID)
		}
	}
	p.forget(live)
	return failed, errors.Join(errs...)
}

func pageOf(run rdb.Run) int {
	if run.Status == rdb.RunRunning && run.Task != "" {
		return run.TaskPage
	}
	return -1
}

// moveTask is check's verdict for a task waiting on a queue no live
// worker reads: move it, not fail the run.
const moveTask = "\x00move"

// pass is what one Reap pass reads at most once.
type pass struct {
	queues map[string]bool // the queues live workers read
}

// liveQueue reports whether a live worker reads q.
func (p *Reaper) liveQueue(ctx context.Context, ps *pass, q string) (bool, error) {
	if ps.queues == nil {
		live, err := p.r.rdb.LiveBuilds(ctx)
		if err != nil {
			return false, err
		}
		ps.queues = map[string]bool{}
		for w := range live {
			ps.queues[queue.ForWorker(w)] = true
		}
	}
	return ps.queues[q], nil
}

// move hands a run's waiting task over to the queue of the worker that
// declares its sync now, and deletes it from the queue nobody reads.
func (p *Reaper) move(ctx context.Context, w Watched, run rdb.Run, task string) {
	to := queue.ForWorker(w.Options.Worker)
	ok, err := p.r.Requeue(ctx, Ref{Sync: w.Key, Run: run.ID, Page: run.TaskPage}, task, w.Options)
	if err != nil {
		p.r.log.Warn("could not move a run's task to the queue of the worker that declares its sync", "sync", w.Key, "run", run.ID, "task", task, "from", run.Queue, "to", to, "err", err)
		return
	}
	if !ok {
		return // the run moved on meanwhile
	}
	if err := p.r.cfg.Inspector.DeleteTask(run.Queue, task); err != nil {
		p.r.log.Debug("could not delete a moved task", "queue", run.Queue, "task", task, "err", err)
	}
	p.r.log.Info("moved a run's task to the queue of the worker that declares its sync now", "sync", w.Key, "run", run.ID, "task", task, "from", run.Queue, "to", to)
}

// leaseHeld reports whether a verdict about a lost lease must wait: Redis
// was unreachable lately, which loses leases by itself.
func (p *Reaper) leaseHeld() bool {
	return p.redis != nil && p.redis.DownSince(time.Now().Add(-p.outageHold))
}

// check returns why the sync's active run must fail ("" when it need not;
// moveTask when its task must move to another queue) and the task the
// verdict is about.
func (p *Reaper) check(ctx context.Context, w Watched, live map[string]bool, ps *pass) (rdb.Run, string, string, error) {
	st, err := p.r.rdb.GetSyncStatus(ctx, w.Key)
	if err != nil || st.ActiveRun == "" {
		return rdb.Run{}, "", "", err
	}
	run, ok, err := p.r.rdb.GetRun(ctx, w.Key, st.ActiveRun)
	if err != nil {
		return rdb.Run{}, "", "", err
	}
	if !ok {
		// The sync names a run whose record is gone: free the sync.
		live["gone:"+st.ActiveRun] = true
		if !p.overdue("gone:" + st.ActiveRun) {
			return rdb.Run{}, "", "", nil
		}
		return rdb.Run{ID: st.ActiveRun, TaskPage: -1}, "the run's record is gone (dropped by retention, or Redis lost it)", "", nil
	}
	if !w.Declared {
		// Manifests expire while Redis is away (executors cannot refresh
		// them): the executors republish within one interval of its
		// return, so judge only a sync that stays undeclared.
		live["undeclared:"+run.ID] = true
		if !p.overdue("undeclared:" + run.ID) {
			return run, "", "", nil
		}
		return run, w.Why, "", nil
	}
	if run.Status != rdb.RunRunning {
		return run, "", "", nil
	}
	q, task := run.Queue, run.Task
	if task == "" {
		// A run started before runs recorded their task: the page after
		// the last committed one, on the old shared queue.
		sy, err := p.r.rdb.GetSync(ctx, w.Key)
		if err != nil {
			return run, "", "", err
		}
		page := 0
		if sy.Run == run.ID {
			page = sy.RunPages
		}
		task, q, run.TaskPage = TaskID(run.ID, page), "synq", page
	}
	info, err := p.r.cfg.Inspector.Task(ctx, q, task)
	if err != nil {
		return run, "", "", err
	}
	page := run.TaskPage
	switch info.State {
	case queue.TaskPending, queue.TaskScheduled, queue.TaskRetry:
		if w.Options.Worker == "" || q == queue.ForWorker(w.Options.Worker) {
			return run, "", "", nil
		}
		// Waiting on another worker's queue: fine while a live worker
		// reads it, moved to the declaring worker's otherwise.
		ok, err := p.liveQueue(ctx, ps, q)
		if err != nil || ok {
			return run, "", "", err
		}
		return run, moveTask, task, nil
	case queue.TaskActive:
		if info.LeaseExpiredFor > p.leaseGrace && info.LastAttempt() && !p.leaseHeld() {
			return run, fmt.Sprintf("the executor running page %d was lost on its last attempt (%d of %d): it was killed, ran out of memory or lost Redis. Raise the sync's MaxAttempts, or make Execute faster than its Timeout, then trigger the sync again",
				page, info.Retried+1, info.MaxRetry+1), task, nil
		}
		return run, "", "", nil
	case queue.TaskArchived:
		if strings.Contains(info.LastErr, queue.LeaseExpired.Error()) && p.leaseHeld() {
			return run, "", "", nil
		}
		return run, archivedReason(page, info), task, nil
	case queue.TaskMissing, queue.TaskCompleted:
		live[task] = true
		if !p.overdue(task) {
			return run, "", "", nil
		}
		if info.State == queue.TaskCompleted {
			return run, fmt.Sprintf("the task of page %d (%s) completed but the run did not continue: trigger the sync again (the next run resumes from the last committed page)", page, task), task, nil
		}
		return run, fmt.Sprintf("the task of page %d (%s) is gone from queue %s: it was deleted, or never enqueued (Redis lost it, or the process enqueueing it died). Trigger the sync again: the next run resumes from the last committed page", page, task, q), task, nil
	}
	return run, "", "", nil
}

func archivedReason(page int, info queue.TaskInfo) string {
	switch {
	case strings.Contains(info.LastErr, queue.LeaseExpired.Error()):
		return fmt.Sprintf("the executor running page %d was lost on its last attempt (%d of %d): it was killed, ran out of memory or lost Redis. Raise the sync's MaxAttempts, or make Execute faster than its Timeout, then trigger the sync again",
			page, info.Retried+1, info.MaxRetry+1)
	case strings.Contains(info.LastErr, context.DeadlineExceeded.Error()):
		return fmt.Sprintf("page %d hit its task deadline on its last attempt (%d of %d): raise the sync's Timeout or make Execute return sooner, then trigger the sync again",
			page, info.Retried+1, info.MaxRetry+1)
	case info.LastErr != "":
		return fmt.Sprintf("page %d failed on its last attempt (%d of %d): %s", page, info.Retried+1, info.MaxRetry+1, info.LastErr)
	}
	return fmt.Sprintf("the task of page %d was archived without finishing the run: trigger the sync again", page)
}

// overdue reports whether a suspicion (a task missing or completed
// without the run moving on, a sync undeclared) has lasted longer than the
// grace period.
func (p *Reaper) overdue(task string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	first, ok := p.seen[task]
	if !ok {
		p.seen[task] = time.Now()
		return false
	}
	return time.Since(first) >= p.grace
}

// forget drops observations of tasks that are no longer suspicious.
func (p *Reaper) forget(live map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.seen {
		if !live[t] {
			delete(p.seen, t)
		}
	}
}
