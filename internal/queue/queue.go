// Package queue defines synq's page tasks on top of asynq: the task type,
// its payload, deterministic task ids and the enqueue and server options.
//
// A run is a chain of page tasks. Each task id is "<run>:<page>", so asynq
// refuses a second enqueue of the same page (ErrTaskIDConflict) for as long
// as the first is queued, running or retained. Together with the atomic page
// commit in Redis, that makes delivery at-least-once and effects once.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// TypePage is the asynq task type of one execute page.
const TypePage = "synq:page"

// DefaultQueue is the asynq queue page tasks go to.
const DefaultQueue = "synq"

// Retention keeps a finished page task's id reserved, so a late duplicate
// enqueue of the same page is refused instead of run again.
const Retention = 24 * time.Hour

// Payload identifies one page of one run.
type Payload struct {
	Sync string `json:"sync"`
	Run  string `json:"run"`
	Page int    `json:"page"`
	// Due is when the task was meant to start (Unix nanoseconds), for the
	// queue-lag metric.
	Due int64 `json:"due,omitempty"`
	// Resumed is set (Unix milliseconds) on the page task that continues
	// a parked run. The parked page's own task already ran and its id
	// stays reserved for Retention, so the continuation needs another id;
	// only the one Resume that moves the run from parked to running
	// enqueues it, which keeps a page from running twice.
	Resumed int64 `json:"resumed,omitempty"`
}

// TaskID is the deterministic id of a page task.
func TaskID(run string, page int) string { return run + ":" + strconv.Itoa(page) }

func (p Payload) taskID() string {
	if p.Resumed != 0 {
		return TaskID(p.Run, p.Page) + ":resumed-" + strconv.FormatInt(p.Resumed, 10)
	}
	return TaskID(p.Run, p.Page)
}

// Options are the per-sync settings of a page task.
type Options struct {
	// MaxAttempts is how many times a page is tried before the run fails.
	MaxAttempts int
	// Timeout bounds one attempt (Execute plus the Notion writes).
	Timeout time.Duration
	// Queue overrides DefaultQueue.
	Queue string
	// ProcessIn delays the task (e.g. a continuous schedule's floor).
	ProcessIn time.Duration
}

// NewPageTask builds the asynq task for one page.
func NewPageTask(p Payload, o Options) (*asynq.Task, error) {
	if p.Sync == "" || p.Run == "" || p.Page < 0 {
		return nil, fmt.Errorf("queue: invalid page task %+v: sync and run are required and page must be ≥ 0", p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encoding payload: %w", err)
	}
	q := o.Queue
	if q == "" {
		q = DefaultQueue
	}
	attempts := o.MaxAttempts
	if attempts < 1 {
		attempts = 1
	}
	opts := []asynq.Option{
		asynq.TaskID(p.taskID()),
		asynq.Queue(q),
		asynq.MaxRetry(attempts - 1),
		asynq.Retention(Retention),
	}
	if o.Timeout > 0 {
		opts = append(opts, asynq.Timeout(o.Timeout))
	}
	if o.ProcessIn > 0 {
		opts = append(opts, asynq.ProcessIn(o.ProcessIn))
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

// IsDuplicate reports whether an enqueue failed only because the page task
// already exists — which for synq means success.
func IsDuplicate(err error) bool {
	return errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask)
}

// Backoff is the delay before retry n (1-based): exponential from base,
// capped, with full jitter in [d/2, d] so retries of many pages that
// failed together (an upstream outage) do not return in lockstep.
func Backoff(n int, base, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
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
// The task check interval is short so an idle executor picks up a new page
// well under a second after it is enqueued; asynq's default is 1 s.
func ServerConfig(concurrency int) asynq.Config {
	return asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{DefaultQueue: 1},
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		RetryDelayFunc:           RetryDelay(time.Second, 5*time.Minute),
		ShutdownTimeout:          30 * time.Second,
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
}

// NewPreviewTask builds a preview task; it is tried once.
func NewPreviewTask(p PreviewPayload, queue string, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: encoding preview payload: %w", err)
	}
	if queue == "" {
		queue = DefaultQueue
	}
	return asynq.NewTask(TypePreview, b, asynq.TaskID("preview:"+p.ID), asynq.MaxRetry(0), asynq.Queue(queue), asynq.Timeout(timeout), asynq.Retention(time.Hour)), nil
}
