package emulator

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are errors injected into a fraction of requests, each rate in
// [0, 1]. A request draws one fault at most, in the order below.
type Faults struct {
	// Rate500 answers 500 internal_server_error without doing anything.
	Rate500 float64
	// Rate503 answers 503 service_unavailable without doing anything.
	Rate503 float64
	// RateStall holds the request StallFor (or until the client gives
	// up) and then serves it normally: past a client's deadline the
	// client cannot know whether a write was applied.
	RateStall float64
	// StallFor is how long a stall lasts; 0 means 30 s.
	StallFor time.Duration
	// RateAppliedThen503 applies a write and then answers 503 with
	// additional_data.committed_resource_id, as Notion does when it
	// committed a write it could not confirm. Reads are not affected.
	RateAppliedThen503 float64
	// RateAppliedThen500 applies a write and then answers 500 without
	// naming what it committed: the client cannot know the outcome.
	// Reads are not affected.
	RateAppliedThen500 float64
	// Rate429 answers 429 rate_limited without doing anything, with
	// Reason429 as additional_data.rate_limit_reason and RetryAfter429 as
	// Retry-After.
	Rate429 float64
	// Reason429 is the budget a 429 fault names; "" means
	// "connection_rate_limit". "public_api_request_blocked" says the
	// workspace blocks API requests.
	Reason429 string
	// RetryAfter429 is a 429 fault's Retry-After; 0 means 1 s. Under a
	// second it is sent with decimals (Notion sends whole seconds).
	RetryAfter429 time.Duration
	// Seed makes the draws repeatable; 0 seeds from the clock.
	Seed uint64
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"500": f.Rate500, "503": f.Rate503, "stall": f.RateStall, "applied503": f.RateAppliedThen503, "applied500": f.RateAppliedThen500, "429": f.Rate429} {
		if r < 0 || r > 1 {
			return fmt.Errorf("fault rate %s=%v: want a fraction between 0 and 1", name, r)
		}
	}
	if sum := f.Rate500 + f.Rate503 + f.RateStall + f.RateAppliedThen503 + f.RateAppliedThen500 + f.Rate429; sum > 1 {
		return fmt.Errorf("fault rates add up to %v: a request draws one fault at most, so they must add up to 1 or less", sum)
	}
	if f.StallFor < 0 {
		return fmt.Errorf("fault stall_for=%v: want a positive duration", f.StallFor)
	}
	if f.RetryAfter429 < 0 {
		return fmt.Errorf("fault 429_retry_after=%v: want a positive duration", f.RetryAfter429)
	}
	return nil
}

// faultNames lists the names ParseFaults knows, for its errors.
const faultNames = "500, 503, stall, applied503, applied500, 429, 429_reason, 429_retry_after, stall_for, seed"

// ParseFaults reads the --faults syntax: comma-separated name=value with
// names 500, 503, stall, applied503, applied500, 429 (fractions),
// 429_reason (a rate_limit_reason), 429_retry_after and stall_for
// (durations) and seed, e.g. "500=0.05,stall=0.01,stall_for=20s,429=0.02,
// 429_reason=workspace_rate_limit,429_retry_after=90s". "" means none.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return Faults{}, fmt.Errorf("fault %q: want name=value (names: %s)", part, faultNames)
		}
		var err error
		rate := func(dst *float64) {
			*dst, err = strconv.ParseFloat(val, 64)
		}
		switch strings.TrimSpace(name) {
		case "500":
			rate(&f.Rate500)
		case "503":
			rate(&f.Rate503)
		case "stall":
			rate(&f.RateStall)
		case "applied503":
			rate(&f.RateAppliedThen503)
		case "applied500":
			rate(&f.RateAppliedThen500)
		case "429":
			rate(&f.Rate429)
		case "429_reason":
			f.Reason429 = strings.TrimSpace(val)
		case "429_retry_after":
			f.RetryAfter429, err = time.ParseDuration(val)
		case "stall_for":
			f.StallFor, err = time.ParseDuration(val)
		case "seed":
			f.Seed, err = strconv.ParseUint(val, 10, 64)
		default:
			return Faults{}, fmt.Errorf("fault %q: unknown name %q (names: %s)", part, name, faultNames)
		}
		if err != nil {
			return Faults{}, fmt.Errorf("fault %q: %w", part, err)
		}
	}
	return f, f.validate()
}

type fault int

const (
	faultNone fault = iota
	fault500
	fault503
	faultStall
	faultApplied503
	faultApplied500
	fault429
)

// String names a fault as Stats.Faults counts it.
func (f fault) String() string {
	switch f {
	case fault500:
		return "500"
	case fault503:
		return "503"
	case faultStall:
		return "stall"
	case faultApplied503:
		return "applied503"
	case faultApplied500:
		return "applied500"
	case fault429:
		return "429"
	}
	return "none"
}

type faultInjector struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func newFaultInjector(f Faults) *faultInjector {
	fi := &faultInjector{}
	fi.set(f)
	return fi
}

func (fi *faultInjector) set(f Faults) {
	seed := f.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	fi.mu.Lock()
	fi.f, fi.rng = f, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fi.mu.Unlock()
}

func (fi *faultInjector) draw(write bool) (fault, time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.f
	if f.Rate500 == 0 && f.Rate503 == 0 && f.RateStall == 0 && f.RateAppliedThen503 == 0 && f.RateAppliedThen500 == 0 && f.Rate429 == 0 {
		return faultNone, 0
	}
	// Each fault owns a slice of [0, 1), in a fixed order, so a seed
	// draws the same faults whatever rates are added later.
	x := fi.rng.Float64()
	edge := 0.0
	in := func(rate float64) bool {
		edge += rate
		return x < edge
	}
	switch {
	case in(f.Rate500):
		return fault500, 0
	case in(f.Rate503):
		return fault503, 0
	case in(f.RateStall):
		d := f.StallFor
		if d == 0 {
			d = 30 * time.Second
		}
		return faultStall, d
	case in(f.RateAppliedThen503):
		if write {
			return faultApplied503, 0
		}
	case in(f.RateAppliedThen500):
		if write {
			return faultApplied500, 0
		}
	case in(f.Rate429):
		return fault429, 0
	}
	return faultNone, 0
}

// rateLimited429 is the 429 answer of a fault: its reason and Retry-After.
func (fi *faultInjector) rateLimited429() (reason string, retryAfter time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	reason, retryAfter = fi.f.Reason429, fi.f.RetryAfter429
	if reason == "" {
		reason = reasonConnection
	}
	if retryAfter == 0 {
		retryAfter = time.Second
	}
	return reason, retryAfter
}
