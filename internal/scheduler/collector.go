package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/spec"
)

// FleetCollector exports what Prometheus rules alert on and nothing else
// in synq counts: each sync's health, last success and schedule, and each
// worker's live executors. Only the leader exports them, so a rule sees
// one series per sync however many schedulers run. Reading every sync's
// status costs a round trip per sync: a scrape reuses a reading younger
// than MaxAge.
type FleetCollector struct {
	ops    *ops.Ops
	leader func() bool
	maxAge time.Duration

	mu     sync.Mutex
	at     time.Time
	cached []prometheus.Metric
}

// FleetMaxAgeDefault is how old a reading a scrape may get.
const FleetMaxAgeDefault = 15 * time.Second

var (
	syncHealthDesc = prometheus.NewDesc("synq_sync_health",
		"1 for a sync's current health (INITIALIZING, HEALTHY, WARNING, ERROR, DISABLED), one series per health; exported by the leader scheduler.",
		[]string{"sync", "worker", "health"}, nil)
	syncFailuresDesc = prometheus.NewDesc("synq_sync_consecutive_failures",
		"Runs in a row that failed or ended with a warning.", []string{"sync", "worker"}, nil)
	syncLastSuccessDesc = prometheus.NewDesc("synq_sync_last_success_timestamp_seconds",
		"When the sync's last successful run ended (Unix seconds; absent before the first).", []string{"sync", "worker"}, nil)
	syncIntervalDesc = prometheus.NewDesc("synq_sync_schedule_interval_seconds",
		"The sync's schedule interval (absent for manual and continuous syncs).", []string{"sync", "worker"}, nil)
	syncDeclaredDesc = prometheus.NewDesc("synq_sync_declared",
		"1 when a live executor declares the sync.", []string{"sync", "worker"}, nil)
	workerExecutorsDesc = prometheus.NewDesc("synq_worker_executors",
		"Live executors of a worker that declares syncs.", []string{"worker"}, nil)
)

// NewFleetCollector returns a collector that exports while leader says
// so.
func NewFleetCollector(o *ops.Ops, leader func() bool) *FleetCollector {
	return &FleetCollector{ops: o, leader: leader, maxAge: FleetMaxAgeDefault}
}

// Describe implements prometheus.Collector.
func (c *FleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{syncHealthDesc, syncFailuresDesc, syncLastSuccessDesc, syncIntervalDesc, syncDeclaredDesc, workerExecutorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *FleetCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.leader() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ms, err := c.read(ctx)
		cancel()
		if err == nil {
			c.cached, c.at = ms, time.Now()
		}
	}
	for _, m := range c.cached {
		ch <- m
	}
}

var healths = []ops.Health{ops.Initializing, ops.Healthy, ops.Warning, ops.Error, ops.Disabled}

func (c *FleetCollector) read(ctx context.Context) ([]prometheus.Metric, error) {
	// Statuses only (pipelined): a scrape at thousands of syncs reads no
	// run records.
	views, _, err := c.ops.Match(ctx, ops.Filter{})
	if err != nil {
		return nil, err
	}
	xs, err := c.ops.Executors(ctx)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	workers := map[string]int{}
	for _, v := range views {
		workers[v.Worker] += 0
		for _, h := range healths {
			val := 0.0
			if v.Health == h {
				val = 1
			}
			gauge(syncHealthDesc, val, v.Key, v.Worker, string(h))
		}
		gauge(syncFailuresDesc, float64(v.Status.ConsecutiveFailures), v.Key, v.Worker)
		if !v.Status.LastSuccess.IsZero() {
			gauge(syncLastSuccessDesc, float64(v.Status.LastSuccess.UnixMilli())/1000, v.Key, v.Worker)
		}
		if v.Schedule.Kind == spec.Every {
			gauge(syncIntervalDesc, v.Schedule.Interval.Seconds(), v.Key, v.Worker)
		}
		declared := 0.0
		if v.Declared {
			declared = 1
		}
		gauge(syncDeclaredDesc, declared, v.Key, v.Worker)
	}
	for _, x := range xs {
		if _, ok := workers[x.Worker]; ok {
			workers[x.Worker]++
		}
	}
	for w, n := range workers {
		gauge(workerExecutorsDesc, float64(n), w)
	}
	return out, nil
}
