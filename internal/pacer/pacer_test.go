package pacer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/testutil/redistest"
)

func TestWaitReturnsWhenContextEnds(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, 0)
	lim := Limit{Requests: 1, Interval: time.Minute}
	if err := p.Wait(context.Background(), "slow", lim, "a"); err != nil {
		t.Fatal(err)
	}

	// The next request is a minute away: the deadline comes first.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := p.Wait(ctx, "slow", lim, "a")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("Wait past its deadline: %v, want DeadlineExceeded naming the pacer", err)
	}
	if el := time.Since(t0); el > 10*time.Second {
		t.Fatalf("Wait returned %v after its context ended: it slept the limiter's wait", el)
	}

	// Goroutines of one consumer queue locally; cancelling releases the
	// one asking Redis and those queued behind it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- p.Wait(ctx2, "slow", lim, "a") }()
	}
	time.Sleep(50 * time.Millisecond)
	cancel2()
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Wait: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a cancelled Wait did not return")
		}
	}

	// A cancelled context is refused before anything is asked.
	calls := p.calls.Load()
	if err := p.Wait(ctx2, "slow", lim, "a"); !errors.Is(err, context.Canceled) || p.calls.Load() != calls {
		t.Fatalf("Wait with a cancelled context: %v after %d round trips", err, p.calls.Load()-calls)
	}

	st, err := p.Stats(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	if cs := st.PerConsumer["a"]; cs.Granted != 1 || cs.Waits < 4 || cs.WaitTime < 100*time.Millisecond {
		t.Fatalf("stats after abandoned waits: %+v, want 1 grant and the 4 abandoned waits counted", cs)
	}
}

func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, 0)
	lim := Limit{Requests: 100, Interval: time.Second}
	ctx := context.Background()
	if err := p.Wait(ctx, "api", lim, "a"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	calls := p.calls.Load()
	err := p.Wait(ctx, "api", lim, "a")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `pacer "api"`) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Wait with Redis down: %v, want an error naming the pacer and saying Redis is unreachable", err)
	}
	if n := p.calls.Load() - calls; n != 1 {
		t.Fatalf("Wait with Redis down made %d attempts, want 1: the caller retries the task", n)
	}
	if _, err := p.Stats(ctx, "api"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Stats with Redis down: %v", err)
	}
	if err := p.Cooldown(ctx, "api", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Cooldown with Redis down: %v", err)
	}

	// A fresh server (scripts and state lost) works again.
	srv.Restart()
	if err := p.Wait(ctx, "api", lim, "a"); err != nil {
		t.Fatalf("Wait after Redis came back: %v", err)
	}
}

func TestStats(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, time.Minute)
	ctx := context.Background()
	lim := Limit{Requests: 10, Interval: 5 * time.Second} // one request per 500 ms, burst 1
	if err := p.Wait(ctx, "api", lim, "a"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := p.Wait(ctx, "api", lim, "b"); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(t0)
	st, err := p.Stats(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if st.Granted != 2 || st.Waits != 1 || strings.Join(st.Active, ",") != "a,b" || len(st.Waiting) != 0 || !st.CooldownUntil.IsZero() {
		t.Fatalf("stats = %+v", st)
	}
	if a, b := st.PerConsumer["a"], st.PerConsumer["b"]; a.Granted != 1 || a.Waits != 0 || b.Granted != 1 || b.Waits != 1 ||
		b.WaitTime < 300*time.Millisecond || b.WaitTime > waited {
		t.Fatalf("per consumer: a %+v, b %+v (b waited %v)", a, b, waited)
	}
	empty, err := p.Stats(ctx, "unused")
	if err != nil || empty.Granted != 0 || len(empty.Active) != 0 || len(empty.PerConsumer) != 0 {
		t.Fatalf("stats of an unused pacer = %+v, %v", empty, err)
	}
}

func TestBadInput(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Redis") {
		t.Fatalf("New without Redis: %v", err)
	}
	if _, err := New(Config{Redis: srv.Client(), ActiveWindow: -time.Second}); err == nil {
		t.Fatal("New with a negative window: no error")
	}
	p := newPacer(t, srv, 0)
	ctx := context.Background()
	bad := map[string]Limit{
		"Requests": {Requests: 0, Interval: time.Second},
		"Interval": {Requests: 10},
		"Burst":    {Requests: 10, Interval: time.Second, Burst: -1},
		"fastest":  {Requests: 2_000_000, Interval: time.Second},
	}
	for _, w := range []Waiter{p, NewLocal()} {
		for field, lim := range bad {
			err := w.Wait(ctx, "api", lim, "a")
			if err == nil || !strings.Contains(err.Error(), `pacer "api"`) || !strings.Contains(err.Error(), field) {
				t.Errorf("%T.Wait with %+v: %v, want an error naming the pacer and %s", w, lim, err, field)
			}
		}
		ok := Limit{Requests: 10, Interval: time.Second}
		if err := w.Wait(ctx, "", ok, "a"); err == nil {
			t.Errorf("%T.Wait without a pacer name: no error", w)
		}
		if err := w.Wait(ctx, "api", ok, ""); err == nil || !strings.Contains(err.Error(), `pacer "api"`) {
			t.Errorf("%T.Wait without a consumer: %v", w, err)
		}
	}
	if err := p.Cooldown(ctx, "api", 0); err == nil || !strings.Contains(err.Error(), `"api"`) {
		t.Errorf("Cooldown of 0: %v", err)
	}
	if err := p.Cooldown(ctx, "", time.Second); err == nil {
		t.Error("Cooldown without a pacer name: no error")
	}
	// Refused input touches nothing.
	if n := srv.Client().DBSize(ctx).Val(); n != 0 {
		t.Errorf("bad input wrote %d keys to Redis", n)
	}
}

func TestLocal(t *testing.T) {
	l := NewLocal()
	lim := Limit{Requests: 50, Interval: time.Second, Burst: 5}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for _, c := range []string{"a", "b", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.Wait(ctx, "api", lim, c) == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// 1 s at 50/s plus the burst of 5, shared by every consumer.
	if n > 56 || n < 40 {
		t.Errorf("Local granted %d requests in 1s, want about 55 (50/s + burst 5)", n)
	}

	slow := Limit{Requests: 1, Interval: time.Minute}
	if err := l.Wait(context.Background(), "slow", slow, "a"); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := l.Wait(ctx2, "slow", slow, "a"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("Local.Wait past its deadline: %v", err)
	}
}

func TestDefaultsAndNotion(t *testing.T) {
	for _, c := range []struct {
		lim  Limit
		want int
	}{
		{Limit{Requests: 200, Interval: time.Second}, 20},
		{Limit{Requests: 100, Interval: time.Second}, 10},
		{Limit{Requests: 180, Interval: time.Minute}, 1},
		{Limit{Requests: 5, Interval: 10 * time.Millisecond}, 5},
		{Limit{Requests: 3, Interval: time.Hour}, 1},
	} {
		if got := c.lim.DefaultBurst(); got != c.want {
			t.Errorf("%+v: default burst %d, want %d", c.lim, got, c.want)
		}
	}

	lim, ok := NotionLimit(NotionPerMinuteDefault)
	if !ok || lim != (Limit{Requests: 180, Interval: time.Minute, Burst: 3}) || lim.Validate("notion") != nil {
		t.Errorf("NotionLimit(180) = %+v, %v", lim, ok)
	}
	if lim, ok := NotionLimit(30); !ok || lim.Burst != 1 {
		t.Errorf("NotionLimit(30) = %+v, %v", lim, ok)
	}
	if _, ok := NotionLimit(0); ok {
		t.Error("NotionLimit(0) paces: 0 means unlimited")
	}

	token := "ntn_4242secret"
	name := NotionPacerName(token)
	if name != NotionPacerName(token) || name == NotionPacerName(token+"x") {
		t.Errorf("NotionPacerName is not a stable, distinct name: %q", name)
	}
	if !strings.HasPrefix(name, "notion:") || strings.Contains(name, "secret") || strings.Contains(name, "4242") {
		t.Errorf("NotionPacerName(%q) = %q: must not reveal the token", token, name)
	}
}
