// Package metrics defines synq's Prometheus metrics and serves them.
//
// Executors count pages, rows by outcome, runs by result, Notion calls and
// their latency by route and status, pacer waits and queue lag; schedulers
// count started and skipped runs and leadership. Each process registers
// only its role's metrics (NewExecutor, NewScheduler): a scrape never
// shows an executor's "leader 0" or a scheduler's empty queue lag. Every
// metric is prefixed synq_.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every synq metric on its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	Runs          *prometheus.CounterVec   // sync, result
	Pages         *prometheus.CounterVec   // sync, result (committed|duplicate|failed|retried|stale)
	Rows          *prometheus.CounterVec   // sync, outcome
	PageDuration  *prometheus.HistogramVec // sync
	NotionCalls   *prometheus.CounterVec   // route, status
	NotionLatency *prometheus.HistogramVec // route
	PacerWait     *prometheus.HistogramVec // pacer
	QueueLag      prometheus.Histogram
	NotionBudget  *prometheus.GaugeVec   // pacer
	RunsStarted   *prometheus.CounterVec // sync, trigger
	SkippedTicks  *prometheus.CounterVec // sync
	RunsReaped    prometheus.Counter
	Leader        prometheus.Gauge

	WebhookReceived *prometheus.CounterVec   // webhook
	WebhookRejected *prometheus.CounterVec   // webhook, reason
	WebhookHandled  *prometheus.CounterVec   // webhook
	WebhookFailed   *prometheus.CounterVec   // webhook
	WebhookLatency  *prometheus.HistogramVec // webhook
	// Alerts counts notifications recorded by kind and severity;
	// AlertDeliveries delivery attempts by format and outcome (delivered,
	// retried, failed).
	Alerts          *prometheus.CounterVec
	AlertDeliveries *prometheus.CounterVec
}

// Role says which metrics a process registers.
type Role int

// Roles.
const (
	Executor Role = 1 << iota
	Scheduler
)

// NewExecutor returns an executor's metrics: runs, pages, rows, Notion
// calls, pacer waits and queue lag.
func NewExecutor() *Metrics { return newFor(Executor) }

// NewScheduler returns a scheduler's metrics: runs started, skipped ticks,
// reaped runs and leadership.
func NewScheduler() *Metrics { return newFor(Scheduler) }

// New returns the metrics of both roles, for a process that is both (a
// test). Processes use NewExecutor or NewScheduler.
func New() *Metrics { return newFor(Executor | Scheduler) }

// newFor builds every metric (so callers never check for nil fields) and
// registers the role's, with the Go and process collectors.
func newFor(role Role) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_runs_finished_total",
			Help: "Runs finished, by sync and result (succeeded, failed)."}, []string{"sync", "result"}),
		Pages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_pages_total",
			Help: "Page attempts, by sync and result (committed, duplicate, retried, failed)."}, []string{"sync", "result"}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_rows_total",
			Help: "Rows applied, by sync and outcome (created, updated, unchanged, trashed, skipped)."}, []string{"sync", "outcome"}),
		PageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "synq_page_duration_seconds",
			Help: "Time to run one page: Execute, validation, Notion writes and commit.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"sync"}),
		NotionCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_notion_requests_total",
			Help: "Notion API requests, by route and HTTP status (0: no response)."}, []string{"route", "status"}),
		NotionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "synq_notion_request_duration_seconds",
			Help: "Notion API request latency, by route.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"route"}),
		PacerWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "synq_pacer_wait_seconds",
			Help: "Time spent waiting for a pacer, by pacer.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"pacer"}),
		QueueLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "synq_queue_lag_seconds",
			Help: "Time from a page task being due to an executor starting it.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)}),
		NotionBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synq_notion_budget_requests_per_minute",
			Help: "The Notion budget this executor paces its token at, by pacer (0: unpaced)."}, []string{"pacer"}),
		RunsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_runs_started_total",
			Help: "Runs started, by sync and trigger (schedule, manual)."}, []string{"sync", "trigger"}),
		SkippedTicks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_skipped_ticks_total",
			Help: "Schedule ticks skipped because a run was active, by sync."}, []string{"sync"}),
		RunsReaped: prometheus.NewCounter(prometheus.CounterOpts{Name: "synq_runs_reaped_total",
			Help: "Runs the leader scheduler failed because nothing would move them on (task lost, executor lost on the last attempt, sync no longer declared)."}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "synq_scheduler_leader",
			Help: "1 when this scheduler holds the leader lease."}),
		WebhookReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_webhook_deliveries_received_total",
			Help: "Webhook deliveries verified and stored (answered 202), by webhook; duplicates of a stored delivery are not counted."}, []string{"webhook"}),
		WebhookRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_webhook_deliveries_rejected_total",
			Help: "Webhook requests refused, by webhook and reason (verify, token, disabled, too_large, unavailable, misconfigured)."}, []string{"webhook", "reason"}),
		WebhookHandled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_webhook_deliveries_handled_total",
			Help: "Webhook deliveries handled (changes written, syncs requested), by webhook."}, []string{"webhook"}),
		WebhookFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_webhook_deliveries_failed_total",
			Help: "Webhook deliveries that failed for good (after their retries, or with an error retrying cannot fix), by webhook."}, []string{"webhook"}),
		WebhookLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "synq_webhook_receive_to_handled_seconds",
			Help: "Time from a webhook delivery's 202 to its changes being written, by webhook.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"webhook"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_alerts_total",
			Help: "Notifications the leader recorded, by kind and severity."}, []string{"kind", "severity"}),
		AlertDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synq_alert_deliveries_total",
			Help: "Notification delivery attempts, by format (slack, json) and outcome (delivered, retried, failed)."}, []string{"format", "outcome"}),
	}
	if role&Executor != 0 {
		r.MustRegister(m.Runs, m.Pages, m.Rows, m.PageDuration, m.NotionCalls, m.NotionLatency, m.PacerWait, m.QueueLag,
			m.NotionBudget, m.WebhookReceived, m.WebhookRejected, m.WebhookHandled, m.WebhookFailed, m.WebhookLatency)
	}
	if role&Scheduler != 0 {
		r.MustRegister(m.RunsStarted, m.SkippedTicks, m.RunsReaped, m.Leader, m.Alerts, m.AlertDeliveries)
	}
	return m
}

// WatchRedis exports synq_redis_up from up (the process's Redis monitor):
// 1 while Redis answers. Call it once.
func (m *Metrics) WatchRedis(up func() bool) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "synq_redis_up",
		Help: "1 while this process reaches Redis, 0 during an outage."}, func() float64 {
		if up() {
			return 1
		}
		return 0
	}))
}

// ObserveNotion records one Notion request.
func (m *Metrics) ObserveNotion(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.NotionCalls.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.NotionLatency.WithLabelValues(route).Observe(d.Seconds())
}

// Server serves /metrics and /healthz.
type Server struct {
	srv    *http.Server
	lis    net.Listener
	log    *slog.Logger
	health atomic.Pointer[func() error]
}

// Listen opens addr (SYNQ_METRICS_ADDR) for /metrics and /healthz.
func (m *Metrics) Listen(addr string, log *slog.Logger) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s (SYNQ_METRICS_ADDR): %w", addr, err)
	}
	s := &Server{lis: lis, log: log}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if f := s.health.Load(); f != nil {
			if err := (*f)(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// SetHealth makes /healthz answer 503 with f's error while f fails (an
// executor still provisioning its databases, say); without it /healthz
// answers 200 while the process serves.
func (s *Server) SetHealth(f func() error) { s.health.Store(&f) }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Start serves in the background.
func (s *Server) Start(context.Context) error {
	go func() {
		if err := s.srv.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// Stop shuts the server down.
func (s *Server) Stop(ctx context.Context) error { return s.srv.Shutdown(ctx) }
