package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TaskState is where a task is in asynq.
type TaskState string

// Task states. Missing means asynq has no such task: deleted, never
// enqueued, or lost with Redis's data.
const (
	TaskPending     TaskState = "pending"
	TaskScheduled   TaskState = "scheduled"
	TaskRetry       TaskState = "retry"
	TaskActive      TaskState = "active"
	TaskArchived    TaskState = "archived"
	TaskCompleted   TaskState = "completed"
	TaskAggregating TaskState = "aggregating"
	TaskMissing     TaskState = "missing"
)

// TaskInfo is what the reaper needs to know of a page task.
type TaskInfo struct {
	State TaskState
	// Retried and MaxRetry tell whether the task is on its last attempt
	// (Retried >= MaxRetry).
	Retried, MaxRetry int
	LastErr           string
	// LeaseExpiredFor is how long ago an active task's lease ran out (0
	// while the executor running it keeps it alive). A lease that ran out
	// means the executor died or was cut off.
	LeaseExpiredFor time.Duration
}

// LastAttempt reports whether no retry is left.
func (t TaskInfo) LastAttempt() bool { return t.Retried >= t.MaxRetry }

// LeaseExpired is asynq's error for a task whose executor stopped
// extending its lease (killed, or cut off from Redis).
var LeaseExpired = asynq.ErrLeaseExpired

// Inspector reads task and queue state from asynq.
type Inspector struct {
	i  *asynq.Inspector
	rc redis.UniversalClient
}

// NewInspector returns an Inspector on rc; closing rc is the caller's job.
func NewInspector(rc redis.UniversalClient) *Inspector {
	return &Inspector{i: asynq.NewInspectorFromRedisClient(rc), rc: rc}
}

// Task returns the state of one task.
func (in *Inspector) Task(ctx context.Context, queue, id string) (TaskInfo, error) {
	info, err := in.i.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return TaskInfo{State: TaskMissing}, nil
	}
	if err != nil {
		return TaskInfo{}, fmt.Errorf("read task %s of queue %s: %w", id, queue, err)
	}
	out := TaskInfo{State: stateOf(info.State), Retried: info.Retried, MaxRetry: info.MaxRetry, LastErr: info.LastErr}
	if out.State == TaskActive {
		out.LeaseExpiredFor, err = in.leaseExpiredFor(ctx, queue, id)
		if err != nil {
			return TaskInfo{}, err
		}
	}
	return out, nil
}

// leaseExpiredFor reads the task's lease from asynq's lease set (expiry in
// Unix seconds on the server clock). asynq's Inspector does not expose
// leases; the key layout is asynq's "asynq:{<queue>}:lease", pinned by
// TestLeaseLayout.
func (in *Inspector) leaseExpiredFor(ctx context.Context, queue, id string) (time.Duration, error) {
	p := in.rc.Pipeline()
	score := p.ZScore(ctx, "asynq:{"+queue+"}:lease", id)
	now := p.Time(ctx)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read the lease of task %s: %w", id, err)
	}
	if score.Err() != nil {
		// Active without a lease: asynq is between two steps.
		return 0, nil
	}
	exp := time.Unix(int64(score.Val()), 0)
	if d := now.Val().Sub(exp); d > 0 {
		return d, nil
	}
	return 0, nil
}

func stateOf(s asynq.TaskState) TaskState {
	switch s {
	case asynq.TaskStatePending:
		return TaskPending
	case asynq.TaskStateScheduled:
		return TaskScheduled
	case asynq.TaskStateRetry:
		return TaskRetry
	case asynq.TaskStateActive:
		return TaskActive
	case asynq.TaskStateArchived:
		return TaskArchived
	case asynq.TaskStateCompleted:
		return TaskCompleted
	case asynq.TaskStateAggregating:
		return TaskAggregating
	}
	return TaskMissing
}

// DeleteTask removes a queued task (a cancelled run's next page). Active
// tasks cannot be deleted; a missing one is not an error.
func (in *Inspector) DeleteTask(queue, id string) error {
	err := in.i.DeleteTask(queue, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	return fmt.Errorf("delete task %s of queue %s: %w", id, queue, err)
}

// QueueStats is one queue's depth and lag.
type QueueStats struct {
	Queue                                                  string
	Pending, Active, Scheduled, Retry, Archived, Completed int
	// Latency is how long the oldest pending task has waited.
	Latency time.Duration
}

// Stats returns a queue's figures; a queue that does not exist yet is
// empty.
func (in *Inspector) Stats(queue string) (QueueStats, error) {
	// asynq reports an unknown queue with an error that is not
	// ErrQueueNotFound: ask for the list first.
	qs, err := in.i.Queues()
	if err != nil {
		return QueueStats{}, fmt.Errorf("list queues: %w", err)
	}
	if !slices.Contains(qs, queue) {
		return QueueStats{Queue: queue}, nil
	}
	info, err := in.i.GetQueueInfo(queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return QueueStats{Queue: queue}, nil
	}
	if err != nil {
		return QueueStats{}, fmt.Errorf("read queue %s: %w", queue, err)
	}
	return QueueStats{Queue: queue, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled,
		Retry: info.Retry, Archived: info.Archived, Completed: info.Completed, Latency: info.Latency}, nil
}
