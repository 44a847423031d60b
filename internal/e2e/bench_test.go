package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

// chainWorker is a worker whose sync "chain" returns no changes for pages
// pages and records when each Execute starts.
type chainWorker struct {
	mu    sync.Mutex
	pages int
	calls []time.Time
	fired chan struct{}
}

func (c *chainWorker) worker() *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "bench"})
	db := w.Database("bench", synq.DatabaseConfig{InitialTitle: "Bench", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	synq.AddSync(w, "chain", synq.SyncConfig[pageState]{Database: db, Mode: synq.Incremental, Schedule: "manual",
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			c.mu.Lock()
			c.calls = append(c.calls, time.Now())
			pages := c.pages
			c.mu.Unlock()
			select {
			case c.fired <- struct{}{}:
			default:
			}
			return synq.Result[pageState]{HasMore: s.Page+1 < pages, NextState: &pageState{Page: s.Page + 1}}, nil
		}})
	return w
}

type pageState struct {
	Page int `json:"page"`
}

// inProcess starts an executor of w in this process, through the SDK's
// constructor as a user's main would.
func inProcess(b testing.TB, s *stack, w *synq.Worker) {
	x, err := synq.NewExecutor(context.Background(), w, synq.ExecutorConfig{
		RedisURL: s.redis.URL(), NotionToken: notiontest.Token, NotionBaseURL: s.emu.URL(),
		NotionParentPageID: notiontest.ParentPageID(), NotionRateLimit: synq.Unlimited, Concurrency: 4,
		ManifestInterval: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := x.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Stop(context.Background()) })
}

func gaps(ts []time.Time) []float64 {
	out := make([]float64, 0, len(ts))
	for i := 1; i < len(ts); i++ {
		out = append(out, float64(ts[i].Sub(ts[i-1]))/float64(time.Millisecond))
	}
	slices.Sort(out)
	return out
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// BenchmarkPageOverhead measures the platform's cost per page — commit,
// enqueue of the next page, pick-up, state load — as the time between
// consecutive Execute calls of one run whose Execute does nothing and
// writes nothing, against a bare asynq chain of no-op tasks in the same run.
func BenchmarkPageOverhead(b *testing.B) {
	const pages = 300
	s := newStack(b)
	cw := &chainWorker{pages: pages, fired: make(chan struct{}, 1)}
	inProcess(b, s, cw.worker())
	for range b.N {
		cw.mu.Lock()
		cw.calls = nil
		cw.mu.Unlock()
		run, err := s.ops.Trigger(context.Background(), "chain", "manual")
		if err != nil {
			b.Fatal(err)
		}
		s.waitRun(run, 5*time.Minute)
	}
	cw.mu.Lock()
	synqGaps := gaps(cw.calls[len(cw.calls)-pages:])
	cw.mu.Unlock()

	// The same chain on bare asynq: each task enqueues the next.
	client := asynq.NewClientFromRedisClient(s.redis.Client())
	// Its own queue: the synq executor above consumes the default one and
	// would take (and fail) these tasks.
	const noopQueue = "bench-noop"
	cfg := queue.ServerConfig(4, noopQueue)
	srv := asynq.NewServerFromRedisClient(s.redis.Client(), cfg)
	var mu sync.Mutex
	var times []time.Time
	done := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(ctx context.Context, t *asynq.Task) error {
		var n int
		_ = json.Unmarshal(t.Payload(), &n)
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n+1 >= pages {
			close(done)
			return nil
		}
		b, _ := json.Marshal(n + 1)
		_, err := client.Enqueue(asynq.NewTask("bench:noop", b, asynq.Queue(noopQueue), asynq.TaskID(fmt.Sprint("noop:", n+1))))
		return err
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	if _, err := client.Enqueue(asynq.NewTask("bench:noop", []byte("0"), asynq.Queue(noopQueue))); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("bare asynq chain did not finish")
	}
	mu.Lock()
	asynqGaps := gaps(times)
	mu.Unlock()
	b.ReportMetric(pct(synqGaps, 0.5), "page_overhead_p50_ms")
	b.ReportMetric(pct(synqGaps, 0.99), "page_overhead_p99_ms")
	b.ReportMetric(pct(asynqGaps, 0.5), "asynq_noop_p50_ms")
	b.ReportMetric(pct(asynqGaps, 0.99), "asynq_noop_p99_ms")
}

// BenchmarkTriggerLatency measures the time from a manual trigger to the
// first Execute call on an idle executor.
func BenchmarkTriggerLatency(b *testing.B) {
	s := newStack(b)
	cw := &chainWorker{pages: 1, fired: make(chan struct{}, 1)}
	inProcess(b, s, cw.worker())
	var lat []float64
	for range b.N {
		time.Sleep(50 * time.Millisecond) // idle executor, as after a quiet spell
		start := time.Now()
		run, err := s.ops.Trigger(context.Background(), "chain", "manual")
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-cw.fired:
		case <-time.After(30 * time.Second):
			b.Fatal("Execute was not called")
		}
		lat = append(lat, float64(time.Since(start))/float64(time.Millisecond))
		s.waitRun(run, 30*time.Second)
	}
	slices.Sort(lat)
	b.ReportMetric(pct(lat, 0.5), "trigger_to_execute_p50_ms")
	b.ReportMetric(pct(lat, 0.99), "trigger_to_execute_p99_ms")
}

// BenchmarkExecutorScaling measures pages per second with 1, 2 and 4
// executor processes (2 pages at a time each) when Execute takes 50 ms a
// page, over 16 runs at once.
func BenchmarkExecutorScaling(b *testing.B) {
	const syncs, pages = 16, 12
	for range b.N {
		for _, n := range []int{1, 2, 4} {
			s := newStack(b, "E2E_LOAD_SYNCS=16", fmt.Sprint("E2E_PAGES=", pages), "E2E_ROWS=0", "E2E_SLEEP=50ms", "SYNQ_CONCURRENCY=2")
			for range n {
				s.executor()
			}
			start := time.Now()
			var runs []string
			for i := range syncs {
				run, err := s.ops.Trigger(context.Background(), fmt.Sprintf("load%02d", i), "manual")
				if err != nil {
					b.Fatal(err)
				}
				runs = append(runs, run)
			}
			for _, r := range runs {
				if got := s.waitRun(r, 5*time.Minute); got.Status != rdb.RunSucceeded {
					b.Fatalf("run %+v", got)
				}
			}
			b.ReportMetric(float64(syncs*pages)/time.Since(start).Seconds(), fmt.Sprintf("pages_per_s_%d", n))
		}
	}
}
