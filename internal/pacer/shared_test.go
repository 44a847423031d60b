package pacer

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/testutil/redistest"
)

func newPacer(t *testing.T, srv *redistest.Server, window time.Duration) *Pacer {
	t.Helper()
	p, err := New(Config{Redis: srv.Client(), ActiveWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// checkShares fails unless each consumer got its even share of the grants
// counted, within ±15%.
func checkShares(t *testing.T, phase string, counts map[string]int, consumers ...string) {
	t.Helper()
	total := sum(counts)
	fair := float64(total) / float64(len(consumers))
	for _, c := range consumers {
		if dev := math.Abs(float64(counts[c])-fair) / fair; dev > 0.15 {
			t.Errorf("%s: consumer %s got %d of %d grants, %.0f%% off its even share %.0f (all: %v)",
				phase, c, counts[c], total, 100*dev, fair, counts)
		}
	}
}

// Three OS processes share one pacer of 100 requests per second. One
// consumer runs alone, then four with unequal concurrency (a with 4
// goroutines over two processes, b and c with 1, d with 2), then two of
// them stop.
// Throughout, the budget holds over every window, on the server's clock.
func TestSharedAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	lim := Limit{Requests: 100, Interval: time.Second} // burst 10
	const perSec = 100.0
	ms := time.Millisecond
	spec := func(cs ...consumerSpec) helperSpec {
		return helperSpec{Addr: srv.Addr(), Mode: modePacer, Pacer: "api", Limit: lim, ActiveWindow: time.Second, Consumers: cs}
	}
	outs, start := runProcesses(t, []helperSpec{
		spec(consumerSpec{Name: "a", Goroutines: 3, Until: 9000 * ms},
			consumerSpec{Name: "b", Goroutines: 1, From: 2000 * ms, Until: 9000 * ms}),
		spec(consumerSpec{Name: "a", Goroutines: 1, Until: 9000 * ms},
			consumerSpec{Name: "c", Goroutines: 1, From: 2000 * ms, Until: 5500 * ms}),
		spec(consumerSpec{Name: "d", Goroutines: 2, From: 2000 * ms, Until: 5500 * ms}),
	}, nil)
	grants := allGrants(outs)

	if ex := budgetExcess(grants, lim); ex > 0.01 {
		t.Errorf("the budget was exceeded: a window held %.2f grants more than R·w/interval + burst", ex)
	}

	// A consumer alone gets the whole budget.
	alone := countIn(grants, start, 300*ms, 1900*ms)
	four := countIn(grants, start, 2500*ms, 5500*ms)
	after := countIn(grants, start, 5700*ms, 6500*ms)
	two := countIn(grants, start, 7000*ms, 9000*ms)
	t.Logf("grants: alone %v, four %v, right after two stopped %v, two %v", alone, four, after, two)
	if got, want := float64(alone["a"]), 0.9*perSec*1.6; got < want {
		t.Errorf("alone: a got %v grants in 1.6s, want at least %v (90%% of the budget)", got, want)
	}

	// Four busy consumers split it evenly, whatever their concurrency.
	if got, want := float64(sum(four)), 0.9*perSec*3; got < want {
		t.Errorf("four consumers: %v grants in 3s, want at least %v", got, want)
	}
	checkShares(t, "four consumers", four, "a", "b", "c", "d")

	// c and d stop at 5.5s: a and b use what they leave at once
	// (borrowing), and split the budget evenly once c and d leave the
	// active window (1s).
	if got, want := float64(after["a"]+after["b"]), 0.85*perSec*0.8; got < want {
		t.Errorf("right after c and d stopped: a+b got %v grants in 0.8s, want at least %v", got, want)
	}
	if got, want := float64(sum(two)), 0.9*perSec*2; got < want {
		t.Errorf("two consumers: %v grants in 2s, want at least %v", got, want)
	}
	checkShares(t, "two consumers", two, "a", "b")

	// The counters in Redis agree with what the processes were granted. A
	// grant can land just as a consumer's context ends, unseen by it.
	p := newPacer(t, srv, time.Second)
	st, err := p.Stats(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	seen := countAll(grants)
	for c, goroutines := range map[string]int{"a": 4, "b": 1, "c": 1, "d": 2} { // a: 3+1
		if d := st.PerConsumer[c].Granted - int64(seen[c]); d < 0 || d > int64(goroutines) {
			t.Errorf("stats: %s granted %d, the process saw %d", c, st.PerConsumer[c].Granted, seen[c])
		}
	}
	if st.PerConsumer["c"].Waits == 0 || st.PerConsumer["c"].WaitTime <= 0 || st.Waits < st.PerConsumer["c"].Waits {
		t.Errorf("stats: waits not counted: %+v", st)
	}
}

// A consumer that uses less than its share leaves the rest to a busy one:
// splitting R statically (R/n each) would hold the busy one to half.
func TestBorrowsWhatOthersLeave(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, time.Second)
	lim := Limit{Requests: 100, Interval: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var busy, light atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for p.Wait(ctx, "api", lim, "busy") == nil {
			busy.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for p.Wait(ctx, "api", lim, "light") == nil {
			light.Add(1)
			if !sleep(ctx, 50*time.Millisecond) {
				return
			}
		}
	}()
	wg.Wait()
	total := busy.Load() + light.Load()
	t.Logf("busy %d, light %d", busy.Load(), light.Load())
	if total < 270 {
		t.Errorf("busy %d + light %d = %d grants in 3s, want at least 270 of the budget's 300", busy.Load(), light.Load(), total)
	}
	if light.Load() < 45 {
		t.Errorf("light got %d grants in 3s, want at least 45: it asks for about 60, below its share", light.Load())
	}
	st, err := p.Stats(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if st.PerConsumer["busy"].Borrowed == 0 || st.PerConsumer["light"].Borrowed != 0 {
		t.Errorf("borrowed: busy %d (want > 0), light %d (want 0)", st.PerConsumer["busy"].Borrowed, st.PerConsumer["light"].Borrowed)
	}
}

// Busy consumers split evenly what a light one leaves, whatever their
// concurrency: borrowing goes in turns, not to whichever process asks
// first.
func TestBorrowingIsFair(t *testing.T) {
	srv := redistest.Start(t)
	lim := Limit{Requests: 100, Interval: time.Second}
	const perSec = 100.0
	spec := func(c consumerSpec) helperSpec {
		return helperSpec{Addr: srv.Addr(), Mode: modePacer, Pacer: "api", Limit: lim, ActiveWindow: time.Second, Consumers: []consumerSpec{c}}
	}
	const until = 5 * time.Second
	outs, start := runProcesses(t, []helperSpec{
		spec(consumerSpec{Name: "a", Goroutines: 3, Until: until}),
		spec(consumerSpec{Name: "b", Goroutines: 1, Until: until}),
		spec(consumerSpec{Name: "light", Goroutines: 1, Until: until, Pause: 100 * time.Millisecond}),
	}, nil)
	grants := allGrants(outs)
	if ex := budgetExcess(grants, lim); ex > 0.01 {
		t.Errorf("the budget was exceeded: a window held %.2f grants more than R·w/interval + burst", ex)
	}
	n := countIn(grants, start, time.Second, until)
	t.Logf("grants over [1s, %v): %v", until, n)
	if got, want := float64(sum(n)), 0.9*perSec*4; got < want {
		t.Errorf("%v grants in 4s, want at least %v", got, want)
	}
	// light asks for at most 10 a second, well below its third.
	if n["light"] < 25 {
		t.Errorf("light got %d grants in 4s, want at least 25 of the about 40 it asks for", n["light"])
	}
	checkShares(t, "busy consumers", map[string]int{"a": n["a"], "b": n["b"]}, "a", "b")
}

// A cool-down started in one process holds back every process until it
// ends, on the server's clock.
func TestCooldownBlocksEveryProcess(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, time.Second)
	ctx := context.Background()
	lim := Limit{Requests: 100, Interval: time.Second}
	spec := func(c string) helperSpec {
		return helperSpec{Addr: srv.Addr(), Mode: modePacer, Pacer: "api", Limit: lim, ActiveWindow: time.Second,
			Consumers: []consumerSpec{{Name: c, Goroutines: 2, Until: 2500 * time.Millisecond}}}
	}
	var until time.Time
	outs, _ := runProcesses(t, []helperSpec{spec("x"), spec("y")}, func() {
		if err := p.Cooldown(ctx, "api", 1500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := p.Cooldown(ctx, "api", 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		left, err := p.CooldownRemaining(ctx, "api")
		if err != nil || left <= time.Second || left > 1500*time.Millisecond {
			t.Fatalf("cool-down remaining = %v, %v; want just under 1.5s", left, err)
		}
		st, err := p.Stats(ctx, "api")
		if err != nil {
			t.Fatal(err)
		}
		until = st.CooldownUntil
	})
	grants := allGrants(outs)
	if len(grants) == 0 {
		t.Fatal("no grants at all")
	}
	if first := time.Unix(0, grants[0].At); first.Before(until) {
		t.Errorf("a request was granted at %v, %v before the cool-down ended", first, until.Sub(first))
	}
	n := countAll(grants)
	if n["x"] < 20 || n["y"] < 20 {
		t.Errorf("after the cool-down: x got %d and y %d grants, want both to resume", n["x"], n["y"])
	}
	if ex := budgetExcess(grants, lim); ex > 0.01 {
		t.Errorf("the budget was exceeded after the cool-down by %.2f", ex)
	}
	st, err := p.Stats(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"x", "y"} {
		if cs := st.PerConsumer[c]; cs.Waits < 2 || cs.WaitTime < 2*time.Second {
			t.Errorf("stats of %s = %+v: want its 2 goroutines' waits of more than 1s each counted", c, cs)
		}
	}
	if left, err := p.CooldownRemaining(ctx, "api"); err != nil || left != 0 {
		t.Errorf("cool-down remaining after the end = %v, %v", left, err)
	}
}
