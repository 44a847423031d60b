package queue_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

type waitErr struct{ d time.Duration }

func (e waitErr) Error() string                     { return "wait" }
func (e waitErr) RetryAfterDuration() time.Duration { return e.d }

func TestPageTaskIsEnqueuedOnce(t *testing.T) {
	srv := redistest.Start(t)
	client := queue.NewClient(srv.Client())
	in := queue.NewInspector(srv.Client())
	ctx := context.Background()

	pt := queue.PageTask{Payload: queue.Payload{Sync: "ticketsBackfill", Run: "r1", Page: 3}, ID: "r1:3",
		Queue: queue.ForWorker("helpdesk"), MaxAttempts: 5, Timeout: time.Minute}
	if err := client.EnqueuePage(ctx, pt); err != nil {
		t.Fatal(err)
	}
	info, err := in.Task(ctx, "synq:helpdesk", "r1:3")
	if err != nil || info.State != queue.TaskPending || info.MaxRetry != 4 {
		t.Fatalf("task info = %+v, %v", info, err)
	}
	// A second enqueue of the same task is a no-op, not an error.
	if err := client.EnqueuePage(ctx, pt); err != nil {
		t.Fatalf("second enqueue of the same page: %v", err)
	}
	if st, _ := in.Stats("synq:helpdesk"); st.Pending != 1 {
		t.Fatalf("pending = %d, want 1", st.Pending)
	}
	task, _ := queue.NewPageTask(pt)
	got, err := queue.ParsePayload(task.Payload())
	if err != nil || got != pt.Payload {
		t.Fatalf("payload round trip = %+v, %v", got, err)
	}
	if info, _ := in.Task(ctx, "synq:helpdesk", "nope"); info.State != queue.TaskMissing {
		t.Fatalf("a missing task reads as %+v", info)
	}
	if info, _ := in.Task(ctx, "synq:nobody", "r1:3"); info.State != queue.TaskMissing {
		t.Fatalf("a task of a queue that does not exist reads as %+v", info)
	}
	if err := in.DeleteTask("synq:helpdesk", "r1:3"); err != nil {
		t.Fatal(err)
	}
	if info, _ := in.Task(ctx, "synq:helpdesk", "r1:3"); info.State != queue.TaskMissing {
		t.Fatalf("a deleted task reads as %+v", info)
	}
}

// TestLeaseLayout pins the asynq internals the reaper reads: an active
// task's lease in "asynq:{<queue>}:lease", expiring when its executor
// stops extending it.
func TestLeaseLayout(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client()
	client := queue.NewClient(rc)
	in := queue.NewInspector(rc)
	ctx := context.Background()
	q := queue.ForWorker("w")
	if err := client.EnqueuePage(ctx, queue.PageTask{Payload: queue.Payload{Sync: "s", Run: "r", Page: 0}, ID: "r:0", Queue: q, MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	s := asynq.NewServerFromRedisClient(rc, queue.ServerConfig(1, q))
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypePage, func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		<-release
		return nil
	})
	if err := s.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	defer close(release)
	<-started
	info, err := in.Task(ctx, q, "r:0")
	if err != nil || info.State != queue.TaskActive || info.LeaseExpiredFor != 0 || !info.LastAttempt() {
		t.Fatalf("running task = %+v, %v", info, err)
	}
	n, err := rc.ZCard(ctx, "asynq:{"+q+"}:lease").Result()
	if err != nil || n != 1 {
		t.Fatalf("asynq's lease set holds %d entries (%v): its layout changed; fix Inspector.leaseExpiredFor", n, err)
	}
	// An executor that died leaves a lease in the past.
	rc.ZAdd(ctx, "asynq:{"+q+"}:lease", redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: "r:0"})
	if info, _ := in.Task(ctx, q, "r:0"); info.LeaseExpiredFor < 50*time.Second {
		t.Fatalf("expired lease read as %v", info.LeaseExpiredFor)
	}
}

func TestInvalidPayloads(t *testing.T) {
	if _, err := queue.NewPageTask(queue.PageTask{Payload: queue.Payload{Run: "r"}, ID: "r:0", Queue: "q"}); err == nil {
		t.Fatal("task without sync accepted")
	}
	for _, b := range []string{`{`, `{"sync":"s"}`, `{"sync":"s","run":"r","page":-1}`} {
		if _, err := queue.ParsePayload([]byte(b)); err == nil {
			t.Fatalf("payload %s accepted", b)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	f := queue.RetryDelay(time.Second, time.Minute)
	for n := 1; n <= 10; n++ {
		d := f(n, errors.New("x"), nil)
		want := time.Second << (n - 1)
		if want > time.Minute {
			want = time.Minute
		}
		if d < want/2 || d > want {
			t.Fatalf("retry %d: delay %v outside [%v, %v]", n, d, want/2, want)
		}
	}
	if d := f(1, waitErr{30 * time.Second}, nil); d != 30*time.Second {
		t.Fatalf("rate-limit error: delay %v, want the upstream's 30s", d)
	}
	if d := f(8, waitErr{time.Millisecond}, nil); d < 30*time.Second {
		t.Fatalf("short RetryAfter must not undercut backoff: %v", d)
	}
}

func TestServerPicksUpTasks(t *testing.T) {
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	got := make(chan queue.Payload, 1)
	s := asynq.NewServer(opt, queue.ServerConfig(2, queue.ForWorker("w")))
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypePage, func(ctx context.Context, t *asynq.Task) error {
		p, err := queue.ParsePayload(t.Payload())
		if err != nil {
			return err
		}
		got <- p
		return nil
	})
	if err := s.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	client := queue.NewClient(srv.Client())
	if err := client.EnqueuePage(context.Background(), queue.PageTask{Payload: queue.Payload{Sync: "s", Run: "r", Page: 0}, ID: "r:0", Queue: queue.ForWorker("w")}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.Sync != "s" {
			t.Fatalf("payload %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("task not processed within 10s")
	}
	// A completed task is kept minutes, not asynq's day: enough for the
	// reaper (its grace is 15 s), small in Redis.
	in := asynq.NewInspector(opt)
	defer in.Close()
	var info *asynq.TaskInfo
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if info, err = in.GetTaskInfo(queue.ForWorker("w"), "r:0"); err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not completed within 10s: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.Retention != queue.Retention || info.Retention > 10*time.Minute || info.Retention < time.Minute {
		t.Errorf("completed task kept %v, want queue.Retention (%v): minutes", info.Retention, queue.Retention)
	}
	// asynq's janitor deletes a completed task when its score (the
	// expiry, Unix seconds) passes.
	exp, err := srv.Client().ZScore(context.Background(), "asynq:{"+queue.ForWorker("w")+"}:completed", "r:0").Result()
	if left := time.Until(time.Unix(int64(exp), 0)); err != nil || left > queue.Retention+time.Minute {
		t.Errorf("completed task expires in %v (%v), want within queue.Retention", left, err)
	}
}

// An idle server checks its queue every PollInterval: its Redis traffic
// while nothing is queued follows that setting (SYNQ_POLL_INTERVAL).
func TestPollIntervalSetsIdleTraffic(t *testing.T) {
	idle := func(every time.Duration) int64 {
		t.Helper()
		srv := redistest.Start(t)
		s, err := queue.NewServer(srv.Client(), queue.ServerOptions{Queue: queue.ForWorker("w"), PollInterval: every})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(queue.Handlers{Page: func(context.Context, queue.Payload) error { return nil }}); err != nil {
			t.Fatal(err)
		}
		defer s.Shutdown()
		time.Sleep(500 * time.Millisecond) // past start-up's writes
		before := commandsProcessed(t, srv.Client())
		time.Sleep(3 * time.Second)
		return commandsProcessed(t, srv.Client()) - before
	}
	fast, slow := idle(queue.PollIntervalDefault), idle(time.Second)
	t.Logf("idle Redis commands in 3 s: %d polling every %v, %d every 1s", fast, queue.PollIntervalDefault, slow)
	if fast < 3*slow {
		t.Fatalf("polling every 1s sent %d commands in 3 s, every %v %d: the interval is not applied", slow, queue.PollIntervalDefault, fast)
	}
}

// commandsProcessed is Redis's count of the commands it has run (its own
// INFO included: one a call).
func commandsProcessed(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO stats has no total_commands_processed")
	return 0
}
