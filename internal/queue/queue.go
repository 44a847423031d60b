// Package queue defines synq's page tasks on top of asynq: the task types,
// their payloads, the per-worker queues, the enqueue and server options,
// and what the runs' reaper asks asynq about a task.
//
// A run is a chain of page tasks. Each task id is chosen by the run's
// owner (internal/runs) before it is enqueued — "<run>:<page>", or a
// suffixed id for a resumed or handed-over page — so asynq refuses a
// second enqueue of the same task (ErrTaskIDConflict) for as long as the
// first is queued, running or retained. Together with the atomic page
// commit in Redis, that makes delivery at-least-once and effects once.
//
// Every worker (a deployment of one set of syncs) has its own queue, so an
// executor only ever receives tasks for syncs its worker declares.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TypePage is the asynq task type of one execute page.
const TypePage = "synq:page"

// ForWorker is the asynq queue of a worker's page and preview tasks.
func ForWorker(worker string) string { return "synq:" + worker }

// Retention is how long asynq keeps a completed page task (about 860
// bytes each: kept a day, 10,000 syncs every 5 minutes would hold GBs).
// Minutes are all it is needed for: the reaper looks at a run's current
// task only, and a completed current task is a moment's state (the page's
// commit already recorded the next task) that the reaper treats like a
// missing one after its grace (runs.ReapGraceDefault, 15 s). A late
// duplicate enqueue of a page past its retention is harmless: the page
// finds itself committed and only makes sure the run's current task
// exists.
const Retention = 5 * time.Minute

// Payload identifies one page of one run.
type Payload struct {
	Sync string `json:"sync"`
	Run  string `json:"run"`
	Page int    `json:"page"`
	// Due is when the task was meant to start (Unix nanoseconds), for the
	// queue-lag metric.
	Due int64 `json:"due,omitempty"`
}

// PageTask is one page task to enqueue.
type PageTask struct {
	Payload
	// ID is the task id the run recorded for this page.
	ID    string
	Queue string
	// MaxAttempts is how many times a page is tried before the run fails.
	MaxAttempts int
	// Timeout bounds one attempt (Execute plus the Notion writes).
	Timeout time.Duration
	// Delay holds the task back (a handed-over page, a continuous
	// schedule's floor).
	Delay time.Duration
}

// NewPageTask builds the asynq task for one page.
func NewPageTask(t PageTask) (*asynq.Task, error) {
	p := t.Payload
	if p.Sync == "" || p.Run == "" || p.Page < 0 || t.ID == "" || t.Queue == "" {
		return nil, fmt.Errorf("queue: invalid page task %+v: sync, run, id and queue are required and page must be ≥ 0", t)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encoding payload: %w", err)
	}
	opts := []asynq.Option{
		asynq.TaskID(t.ID),
		asynq.Queue(t.Queue),
		asynq.MaxRetry(max(t.MaxAttempts, 1) - 1),
		asynq.Retention(Retention),
	}
	if t.Timeout > 0 {
		opts = append(opts, asynq.Timeout(t.Timeout))
	}
	if t.Delay > 0 {
		opts = append(opts, asynq.ProcessIn(t.Delay))
	}
	return asynq.NewTask(TypePage, b, opts...), nil
}

// ParsePayload decodes a page task's payload.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("queue: decoding page task payload: %w", err)
	}
	if p.Sync == "" || p.Run == "" || p.Page < 0 {
		return p, fmt.Errorf("queue: page task payload %s lacks sync or run", b)
	}
	return p, nil
}

// IsDuplicate reports whether an enqueue failed only because the task
// already exists — which for synq means success.
func IsDuplicate(err error) bool {
	return errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask)
}

// Client enqueues synq's tasks. It shares the caller's Redis client.
type Client struct{ c *asynq.Client }

// NewClient returns a Client on rc; closing rc is the caller's job.
func NewClient(rc redis.UniversalClient) *Client {
	return &Client{c: asynq.NewClientFromRedisClient(rc)}
}

// EnqueuePage enqueues a page task. A task that already exists is not an
// error: a page task is enqueued at most once.
func (c *Client) EnqueuePage(ctx context.Context, t PageTask) error {
	task, err := NewPageTask(t)
	if err != nil {
		return err
	}
	if _, err := c.c.EnqueueContext(ctx, task); err != nil && !IsDuplicate(err) {
		return fmt.Errorf("enqueue page %d of run %s (task %s): %w", t.Page, t.Run, t.ID, err)
	}
	return nil
}

// EnqueuePreview enqueues a preview task on a worker's queue.
func (c *Client) EnqueuePreview(ctx context.Context, p PreviewPayload, queue string, timeout time.Duration) error {
	task, err := NewPreviewTask(p, queue, timeout)
	if err != nil {
		return err
	}
	if _, err := c.c.EnqueueContext(ctx, task); err != nil && !IsDuplicate(err) {
		return fmt.Errorf("enqueue preview %s: %w", p.ID, err)
	}
	return nil
}

// Backoff is the delay before retry n (1-based): exponential from base,
// capped, with full jitter in [d/2, d] so retries of many pages that
// failed together (an upstream outage) do not return in lockstep.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := BackoffCeiling(n, base, max)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// BackoffCeiling is the upper bound of Backoff(n): base·2^(n-1), capped.
func BackoffCeiling(n int, base, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// RetryAfterer is implemented by errors that carry the upstream's own
// wait (synq.RateLimitError, Notion 429s).
type RetryAfterer interface {
	RetryAfterDuration() time.Duration
}

// RetryDelay is asynq's RetryDelayFunc for page tasks: exponential backoff
// with jitter, and for rate-limit errors max(RetryAfter, backoff).
func RetryDelay(base, max time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		d := Backoff(n, base, max)
		var ra RetryAfterer
		if errors.As(err, &ra) {
			if w := ra.RetryAfterDuration(); w > d {
				d = w
			}
		}
		return d
	}
}

// ServerConfig returns the asynq server settings synq's executors use.
// The task check interval is PollIntervalDefault (see there).
func ServerConfig(concurrency int, queue string) asynq.Config {
	return asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{queue: 1},
		TaskCheckInterval:        PollIntervalDefault,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		RetryDelayFunc:           RetryDelay(RetryBaseDefault, RetryMaxDefault),
		ShutdownTimeout:          ShutdownTimeoutDefault,
	}
}

// TypePreview is the asynq task type of a preview: run Execute once and
// report, writing nothing.
const TypePreview = "synq:preview"

// PreviewPayload asks an executor for a preview.
type PreviewPayload struct {
	ID   string `json:"id"`
	Sync string `json:"sync"`
	// State is the state to run from; nil means the stored state.
	State json.RawMessage `json:"state,omitempty"`
	// Handovers counts the executors that passed the preview on because
	// their build does not declare the sync (a rolling deploy).
	Handovers int `json:"handovers,omitempty"`
}

// NewPreviewTask builds a preview task; it is tried once.
func NewPreviewTask(p PreviewPayload, queue string, timeout time.Duration) (*asynq.Task, error) {
	if p.ID == "" || queue == "" {
		return nil, fmt.Errorf("queue: invalid preview task %+v on queue %q", p, queue)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encoding preview payload: %w", err)
	}
	id := "preview:" + p.ID
	if p.Handovers > 0 {
		id = fmt.Sprintf("%s:h%d", id, p.Handovers)
	}
	opts := []asynq.Option{asynq.TaskID(id), asynq.MaxRetry(0), asynq.Queue(queue), asynq.Timeout(timeout), asynq.Retention(time.Hour)}
	if p.Handovers > 0 {
		opts = append(opts, asynq.ProcessIn(time.Second))
	}
	return asynq.NewTask(TypePreview, b, opts...), nil
}
