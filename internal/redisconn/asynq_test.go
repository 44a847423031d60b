package redisconn_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

type quietAsynq struct{}

func (quietAsynq) Debug(...any) {}
func (quietAsynq) Info(...any)  {}
func (quietAsynq) Warn(...any)  {}
func (quietAsynq) Error(...any) {}
func (quietAsynq) Fatal(...any) {}

// asynq runs on the client Open returns for a Sentinel URL, and keeps
// running across a failover: a task enqueued after the master died is
// processed on the new one.
func TestAsynqThroughSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelConfig{})
	c, err := redisconn.Open(context.Background(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	done := map[string]bool{}
	srv := asynq.NewServerFromRedisClient(c, asynq.Config{Concurrency: 2, Queues: map[string]int{"q": 1}, Logger: quietAsynq{}, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", func(_ context.Context, task *asynq.Task) error {
		mu.Lock()
		done[string(task.Payload())] = true
		mu.Unlock()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(c)
	processed := func(id string, d time.Duration) {
		t.Helper()
		waitFor(t, d, "task "+id, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return done[id]
		})
	}
	if _, err := client.Enqueue(asynq.NewTask("t", []byte("before")), asynq.Queue("q")); err != nil {
		t.Fatal(err)
	}
	processed("before", 10*time.Second)
	s.WaitReplicated(2 * time.Second)
	old := s.KillMaster()
	next := s.WaitFailover(old, 30*time.Second)
	// The client's connections to the dead master fail once; go-redis
	// asks the Sentinels again and retries.
	attempts := 0
	waitFor(t, 10*time.Second, "an enqueue on the new master", func() bool {
		attempts++
		_, err := client.Enqueue(asynq.NewTask("t", []byte("after")), asynq.Queue("q"), asynq.TaskID("after"), asynq.Retention(time.Hour))
		return err == nil || err == asynq.ErrTaskIDConflict
	})
	t.Logf("enqueued after the failover in %d attempt(s)", attempts)
	processed("after", 20*time.Second)
	// The task went through the new master (kept there as completed).
	if n := next.Client().Exists(context.Background(), "asynq:{q}:t:after").Val(); n != 1 {
		t.Fatalf("task \"after\" is not on the new master %s", next.Addr())
	}
}
