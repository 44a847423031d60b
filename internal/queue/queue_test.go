package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

type waitErr struct{ d time.Duration }

func (e waitErr) Error() string                     { return "wait" }
func (e waitErr) RetryAfterDuration() time.Duration { return e.d }

func TestPageTaskIsEnqueuedOnce(t *testing.T) {
	srv := redistest.Start(t)
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()})
	defer client.Close()

	p := queue.Payload{Sync: "ticketsBackfill", Run: "r1", Page: 3}
	task, err := queue.NewPageTask(p, queue.Options{MaxAttempts: 5, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "r1:3" || info.MaxRetry != 4 || info.Queue != queue.DefaultQueue {
		t.Fatalf("task info = id %q maxretry %d queue %q", info.ID, info.MaxRetry, info.Queue)
	}
	_, err = client.Enqueue(task)
	if !queue.IsDuplicate(err) {
		t.Fatalf("second enqueue of the same page: err = %v, want a duplicate", err)
	}
	got, err := queue.ParsePayload(task.Payload())
	if err != nil || got != p {
		t.Fatalf("payload round trip = %+v, %v", got, err)
	}
	// The continuation of a parked run is a new task for the same page,
	// itself enqueued once.
	p.Resumed = 1700000000000
	resumed, _ := queue.NewPageTask(p, queue.Options{MaxAttempts: 5})
	if info, err := client.Enqueue(resumed); err != nil || info.ID != "r1:3:resumed-1700000000000" {
		t.Fatalf("resumed page task: %v, %v", info, err)
	}
	if _, err := client.Enqueue(resumed); !queue.IsDuplicate(err) {
		t.Fatalf("second enqueue of a resumed page: err = %v, want a duplicate", err)
	}
}

func TestInvalidPayloads(t *testing.T) {
	if _, err := queue.NewPageTask(queue.Payload{Run: "r"}, queue.Options{}); err == nil {
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
	s := asynq.NewServer(opt, queue.ServerConfig(2))
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
	client := asynq.NewClient(opt)
	defer client.Close()
	task, _ := queue.NewPageTask(queue.Payload{Sync: "s", Run: "r", Page: 0}, queue.Options{})
	if _, err := client.Enqueue(task); err != nil {
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
}
