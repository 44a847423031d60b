package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/defaults"
)

// Defaults of ServerOptions (and of ServerConfig).
const (
	ConcurrencyDefault     = 1
	ShutdownTimeoutDefault = 30 * time.Second
	// RetryBaseDefault and RetryMaxDefault shape the page retry backoff:
	// from 1 s, doubling per attempt, up to 5 min.
	RetryBaseDefault = time.Second
	RetryMaxDefault  = 5 * time.Minute
	// PollIntervalDefault is how often an idle server checks its queue:
	// short, so a run's next page is picked up well under a second after
	// it is enqueued (asynq's own default is 1 s). Each check is about
	// three Redis commands.
	PollIntervalDefault = 20 * time.Millisecond
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Queue is the worker's queue (ForWorker). Required.
	Queue string
	// Concurrency is how many tasks run at once (default 1).
	Concurrency int
	// RetryBase and RetryMax shape the page retry backoff (defaults
	// RetryBaseDefault, RetryMaxDefault).
	RetryBase, RetryMax time.Duration
	// ShutdownTimeout is how long Shutdown waits for tasks in flight
	// before handing them back to the queue (default
	// ShutdownTimeoutDefault).
	ShutdownTimeout time.Duration
	// PollInterval is how often an idle server checks its queue for a
	// task (default PollIntervalDefault).
	PollInterval time.Duration
	// Logger receives asynq's own warnings and errors.
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	o.Concurrency = defaults.Positive(o.Concurrency, ConcurrencyDefault)
	o.RetryBase = defaults.Positive(o.RetryBase, RetryBaseDefault)
	o.RetryMax = defaults.Positive(o.RetryMax, RetryMaxDefault)
	o.ShutdownTimeout = defaults.Positive(o.ShutdownTimeout, ShutdownTimeoutDefault)
	o.PollInterval = defaults.Positive(o.PollInterval, PollIntervalDefault)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	return o
}

func (o ServerOptions) validate() error {
	if o.Queue == "" {
		return errors.New("queue: ServerOptions.Queue is required")
	}
	return nil
}

// Handlers run the tasks a Server receives.
type Handlers struct {
	Page    func(ctx context.Context, p Payload) error
	Preview func(ctx context.Context, p PreviewPayload) error
	// Webhook handles stored webhook deliveries (nil: none are declared).
	Webhook func(ctx context.Context, p WebhookPayload) error
}

// Server pulls a worker's tasks from its queue and runs them.
type Server struct {
	srv *asynq.Server
}

// NewServer returns a Server on rc; closing rc is the caller's job.
func NewServer(rc redis.UniversalClient, o ServerOptions) (*Server, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	cfg := ServerConfig(o.Concurrency, o.Queue)
	cfg.RetryDelayFunc = RetryDelay(o.RetryBase, o.RetryMax)
	cfg.ShutdownTimeout = o.ShutdownTimeout
	cfg.TaskCheckInterval = o.PollInterval
	cfg.Logger = asynqLogger{o.Logger}
	cfg.LogLevel = asynq.WarnLevel
	return &Server{srv: asynq.NewServerFromRedisClient(rc, cfg)}, nil
}

// Start runs tasks through h in the background until Shutdown.
func (s *Server) Start(h Handlers) error {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypePage, func(ctx context.Context, t *asynq.Task) error {
		p, err := ParsePayload(t.Payload())
		if err != nil {
			// A task that does not decode can never run: drop it loudly.
			return fmt.Errorf("dropping a malformed page task: %w: %w", err, asynq.SkipRetry)
		}
		return h.Page(ctx, p)
	})
	mux.HandleFunc(TypePreview, func(ctx context.Context, t *asynq.Task) error {
		var p PreviewPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == "" {
			return fmt.Errorf("malformed preview task: %v: %w", err, asynq.SkipRetry)
		}
		return h.Preview(ctx, p)
	})
	if h.Webhook != nil {
		mux.HandleFunc(TypeWebhook, func(ctx context.Context, t *asynq.Task) error {
			var p WebhookPayload
			if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Webhook == "" || p.ID == "" {
				return fmt.Errorf("malformed webhook task: %v: %w", err, asynq.SkipRetry)
			}
			return h.Webhook(ctx, p)
		})
	}
	if err := s.srv.Start(mux); err != nil {
		return fmt.Errorf("start task server: %w", err)
	}
	return nil
}

// Shutdown stops pulling tasks and waits for those in flight up to the
// shutdown timeout; unfinished tasks go back to the queue.
func (s *Server) Shutdown() { s.srv.Shutdown() }

// Attempt is what a task handler knows of the attempt it runs.
type Attempt struct {
	// TaskID is the task's id.
	TaskID string
	// Retried counts the earlier attempts; Last says no retry is left.
	Retried, MaxRetry int
}

// Last reports whether this is the task's last attempt.
func (a Attempt) Last() bool { return a.Retried >= a.MaxRetry }

// AttemptOf returns the attempt a handler's ctx runs.
func AttemptOf(ctx context.Context) Attempt {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return Attempt{TaskID: id, Retried: retried, MaxRetry: maxRetry}
}

// Final marks a handler's error as final: the task is not retried.
func Final(err error) error { return fmt.Errorf("%w: %w", err, asynq.SkipRetry) }

// asynqLogger routes asynq's own logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
