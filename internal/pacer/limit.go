package pacer

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Limit is a pacer's whole budget: Requests per Interval, for every
// consumer in every process together.
type Limit struct {
	Requests int
	Interval time.Duration
	// Burst is how many requests may go at once after a quiet spell, on
	// top of the steady rate: over any window of length w at most
	// Requests·w/Interval + Burst requests pass. 0 means DefaultBurst.
	Burst int
}

// burstSpan is how much of the steady rate the default burst covers: enough
// that a waiter waking a little late (timer slack, a Redis round trip) does
// not lose its turn at high rates, and 1 — no burst at all — at the slow
// rates of most APIs, where a burst would only invite a 429.
const burstSpan = 100 * time.Millisecond

// maxRate is the fastest pacer: the server's clock counts microseconds.
const maxRate = 1_000_000 // requests per second

// DefaultBurst is the burst of a Limit that leaves Burst at 0: the requests
// of 100 ms at the steady rate, at least 1 and at most Requests. For
// example 20 for 200 per second, 1 for Notion's 180 per minute.
func (l Limit) DefaultBurst() int {
	if l.Requests <= 0 || l.Interval <= 0 {
		return 1
	}
	b := int((int64(l.Requests)*int64(burstSpan) + int64(l.Interval) - 1) / int64(l.Interval))
	return max(1, min(b, l.Requests))
}

// withDefaults fills in the default burst.
func (l Limit) withDefaults() Limit {
	if l.Burst == 0 {
		l.Burst = l.DefaultBurst()
	}
	return l
}

func (l Limit) String() string {
	return fmt.Sprintf("%d requests per %v (burst %d)", l.Requests, l.Interval, l.withDefaults().Burst)
}

// Validate says what is wrong with a Limit, for the pacer named pacer.
func (l Limit) Validate(pacer string) error {
	var errs []error
	if l.Requests <= 0 {
		errs = append(errs, fmt.Errorf("Requests is %d: allow at least 1 request per interval", l.Requests))
	}
	if l.Interval <= 0 {
		errs = append(errs, fmt.Errorf("Interval is %v: set a positive interval, e.g. time.Second", l.Interval))
	}
	if l.Burst < 0 {
		errs = append(errs, fmt.Errorf("Burst is %d: use 0 for the default or a positive number", l.Burst))
	}
	if l.Requests > 0 && l.Interval > 0 && float64(l.Requests)/l.Interval.Seconds() > maxRate {
		errs = append(errs, fmt.Errorf("%d requests per %v is over %d per second, the fastest a pacer can go", l.Requests, l.Interval, maxRate))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pacer %q: invalid limit: %w", pacer, err)
	}
	return nil
}

// rate is the Limit in redis_rate's terms (defaults applied).
func (l Limit) rate() redis_rate.Limit {
	l = l.withDefaults()
	return redis_rate.Limit{Rate: l.Requests, Period: l.Interval, Burst: l.Burst}
}
