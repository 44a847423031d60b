package emulator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Latency is how long the emulator takes to answer each API request, as
// api.notion.com does (a page write takes a few hundred milliseconds):
// Min when Max is 0 or equal to Min, else drawn uniformly in [Min, Max]
// for every request. The zero Latency answers at once.
//
// Latency is what makes the cost of writing rows one after another
// visible: at 300 ms a call, one writer sends at most 3.3 requests a
// second whatever the budget allows.
type Latency struct {
	Min, Max time.Duration
}

// ParseLatency reads the --latency syntax: a duration ("300ms"), a range
// ("200ms-400ms", uniform per request), or "" / "0" for none.
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Latency{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	first, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Latency{}, fmt.Errorf("latency %q: want a duration (300ms) or a range (200ms-400ms): %w", s, err)
	}
	l := Latency{Min: first}
	if isRange {
		if l.Max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Latency{}, fmt.Errorf("latency %q: want a duration (300ms) or a range (200ms-400ms): %w", s, err)
		}
	}
	return l, l.validate()
}

func (l Latency) validate() error {
	if l.Min < 0 || l.Max < 0 {
		return fmt.Errorf("latency %v: want durations of 0 or more", l)
	}
	if l.Max != 0 && l.Max < l.Min {
		return fmt.Errorf("latency %v: the range's upper bound is below its lower bound", l)
	}
	return nil
}

// String writes l in the --latency syntax.
func (l Latency) String() string {
	if l.Max == 0 || l.Max == l.Min {
		return l.Min.String()
	}
	return l.Min.String() + "-" + l.Max.String()
}

// latencyDrawer draws each request's latency.
type latencyDrawer struct {
	mu  sync.Mutex
	l   Latency
	rng *rand.Rand
}

func newLatencyDrawer(l Latency) *latencyDrawer {
	seed := uint64(time.Now().UnixNano())
	return &latencyDrawer{l: l, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
}

func (d *latencyDrawer) set(l Latency) {
	d.mu.Lock()
	d.l = l
	d.mu.Unlock()
}

func (d *latencyDrawer) draw() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.l
	if l.Max <= l.Min {
		return l.Min
	}
	return l.Min + time.Duration(d.rng.Int64N(int64(l.Max-l.Min)+1))
}
