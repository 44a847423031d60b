package notion_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

// attempts counts HTTP attempts by status through the After hook.
type attempts struct {
	mu       sync.Mutex
	byStatus map[int]int
}

func (a *attempts) hook(cfg *notion.Config) {
	a.byStatus = map[int]int{}
	cfg.After = func(r notion.Request, status int, d time.Duration, err error) {
		a.mu.Lock()
		a.byStatus[status]++
		a.mu.Unlock()
	}
}

func (a *attempts) get(status int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byStatus[status]
}

func TestRateLimitHonoured(t *testing.T) {
	var limited atomic.Int64
	var maxWait atomic.Int64
	var at attempts
	s, c := start(t, emulator.Config{}, at.hook, func(cfg *notion.Config) {
		cfg.MaxRetries = 5
		cfg.OnRateLimited = func(ctx context.Context, rl notion.RateLimit) {
			d := rl.RetryAfter
			limited.Add(1)
			if int64(d) > maxWait.Load() {
				maxWait.Store(int64(d))
			}
		}
	})
	_, dsID := createDB(t, c, "Limited", nil)
	s.SetRateLimit(60) // one request a second
	s.ResetStats()

	start := time.Now()
	const calls = 6
	for i := range calls {
		if _, err := c.GetDataSource(ctxT(t), dsID); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if limited.Load() == 0 || at.get(429) == 0 {
		t.Fatalf("no 429 seen (OnRateLimited %d, 429s %d): raise calls or lower the limit", limited.Load(), at.get(429))
	}
	if int(limited.Load()) != at.get(429) {
		t.Errorf("OnRateLimited called %d times for %d 429s", limited.Load(), at.get(429))
	}
	if maxWait.Load() <= 0 {
		t.Errorf("429 without a Retry-After")
	}
	// Waiting Retry-After each time means at least one wait was served.
	if el := time.Since(start); el < time.Duration(maxWait.Load()) {
		t.Errorf("%d calls done in %v, under the %v Retry-After", calls, el, time.Duration(maxWait.Load()))
	}
	if got := s.Stats().ByStatus[429]; got != int64(at.get(429)) {
		t.Errorf("emulator counted %d 429s, client saw %d", got, at.get(429))
	}

	// A write rate limited is retried too: 429 means not applied.
	if _, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled("after the limit")}); err != nil {
		t.Fatalf("create under rate limit: %v", err)
	}
	s.SetRateLimit(0)
	if n := countRows(t, c, dsID, nil); n != 1 {
		t.Errorf("%d rows after one create under rate limiting", n)
	}
}

func TestFault500OnReadsRetried(t *testing.T) {
	var at attempts
	s, c := start(t, emulator.Config{}, at.hook, func(cfg *notion.Config) { cfg.MaxRetries = 10 })
	_, dsID := createDB(t, c, "Flaky", nil)
	p, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled("x")})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFaults(emulator.Faults{Rate500: 0.4, Seed: 7})
	for i := range 15 {
		if _, err := c.GetPage(ctxT(t), p.ID); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if _, err := c.QueryDataSource(ctxT(t), dsID, notion.QueryRequest{}); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	if at.get(500) == 0 {
		t.Error("no 500 injected")
	}
	// A write hit by a 500 is not retried and is ambiguous.
	s.SetFaults(emulator.Faults{Rate500: 1, Seed: 7})
	s.ResetStats()
	_, err = c.UpdatePage(ctxT(t), p.ID, notion.UpdatePageRequest{Properties: titled("y")})
	if !errors.Is(err, notion.ErrAmbiguousWrite) || s.Stats().Requests != 1 {
		t.Errorf("write on 500: %v after %d requests", err, s.Stats().Requests)
	}
}

func TestFault503OnWriteNotRetried(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, dsID := createDB(t, c, "Unavailable", nil)
	s.SetFaults(emulator.Faults{Rate503: 1, Seed: 1})
	s.ResetStats()
	_, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled("maybe")})
	var e *notion.Error
	if !errors.Is(err, notion.ErrAmbiguousWrite) || !errors.As(err, &e) || e.Status != 503 {
		t.Fatalf("create on 503: %v", err)
	}
	if _, ok := notion.CommittedResourceID(err); ok {
		t.Error("a plain 503 names a committed resource")
	}
	if st := s.Stats(); st.Requests != 1 {
		t.Errorf("write sent %d times, want once (not retried)", st.Requests)
	}
	if retry, _ := notion.IsRetryable(err, true); retry {
		t.Error("IsRetryable says retry an ambiguous write")
	}
}

func TestFaultStall(t *testing.T) {
	var at attempts
	s, c := start(t, emulator.Config{}, at.hook, func(cfg *notion.Config) {
		cfg.Timeout = 150 * time.Millisecond
		cfg.MaxRetries = 10
	})
	_, dsID := createDB(t, c, "Stalling", nil)
	p, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled("x")})
	if err != nil {
		t.Fatal(err)
	}

	s.SetFaults(emulator.Faults{RateStall: 1, StallFor: 5 * time.Second, Seed: 3})
	s.ResetStats()
	began := time.Now()
	_, err = c.UpdatePage(ctxT(t), p.ID, notion.UpdatePageRequest{Properties: titled("y")})
	if !errors.Is(err, notion.ErrAmbiguousWrite) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled write: %v", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Errorf("stalled write returned after %v, Timeout is 150ms", el)
	}
	if n := s.Stats().Requests; n != 1 {
		t.Errorf("stalled write sent %d times", n)
	}

	s.SetFaults(emulator.Faults{RateStall: 0.4, StallFor: 5 * time.Second, Seed: 3})
	for i := range 10 {
		if _, err := c.GetPage(ctxT(t), p.ID); err != nil {
			t.Fatalf("read %d under stalls: %v", i, err)
		}
	}
	if at.get(0) < 2 {
		t.Errorf("only %d attempts cut by the timeout", at.get(0))
	}
	s.SetFaults(emulator.Faults{})
}

func TestFaultAppliedThen503(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, dsID := createDB(t, c, "Committed", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}})
	s.SetFaults(emulator.Faults{RateAppliedThen503: 1, Seed: 5})
	s.ResetStats()
	const n = 5
	ids := map[string]bool{}
	for i := range n {
		p, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: dsID, Properties: titled(fmt.Sprintf("c-%d", i))})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if p.ID == "" || p.Properties["Name"].Text() != fmt.Sprintf("c-%d", i) {
			t.Fatalf("create %d returned %+v", i, p)
		}
		ids[p.ID] = true
	}
	st := s.Stats()
	if st.ByStatus[503] != n {
		t.Errorf("emulator answered %d 503s, want %d", st.ByStatus[503], n)
	}
	var some string
	for id := range ids {
		some = id
	}
	upd, err := c.UpdatePage(ctxT(t), some, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"N": notion.NumberValue(f64(42))}})
	if err != nil || upd.Properties["N"].Number == nil || *upd.Properties["N"].Number != 42 {
		t.Fatalf("update on applied-then-503: %+v, %v", upd, err)
	}
	s.SetFaults(emulator.Faults{})
	if got := countRows(t, c, dsID, nil); got != n {
		t.Errorf("%d rows after %d creates answered 503-but-applied: duplicates or losses", got, n)
	}
	for i := range n {
		if got := countRows(t, c, dsID, notion.TextEquals("Name", notion.TypeTitle, fmt.Sprintf("c-%d", i))); got != 1 {
			t.Errorf("c-%d exists %d times", i, got)
		}
	}
}
