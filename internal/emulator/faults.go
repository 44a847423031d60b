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
	// Seed makes the draws repeatable; 0 seeds from the clock.
	Seed uint64
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"500": f.Rate500, "503": f.Rate503, "stall": f.RateStall, "applied503": f.RateAppliedThen503} {
		if r < 0 || r > 1 {
			return fmt.Errorf("fault rate %s=%v: want a fraction between 0 and 1", name, r)
		}
	}
	if f.StallFor < 0 {
		return fmt.Errorf("fault stall_for=%v: want a positive duration", f.StallFor)
	}
	return nil
}

// ParseFaults reads the --faults syntax: comma-separated name=value with
// names 500, 503, stall, applied503 (fractions), stall_for (a duration)
// and seed, e.g. "500=0.05,stall=0.01,stall_for=20s". "" means none.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return Faults{}, fmt.Errorf("fault %q: want name=value (names: 500, 503, stall, applied503, stall_for, seed)", part)
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
		case "stall_for":
			f.StallFor, err = time.ParseDuration(val)
		case "seed":
			f.Seed, err = strconv.ParseUint(val, 10, 64)
		default:
			return Faults{}, fmt.Errorf("fault %q: unknown name %q (names: 500, 503, stall, applied503, stall_for, seed)", part, name)
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
)

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
	if f.Rate500 == 0 && f.Rate503 == 0 && f.RateStall == 0 && f.RateAppliedThen503 == 0 {
		return faultNone, 0
	}
	x := fi.rng.Float64()
	switch {
	case x < f.Rate500:
		return fault500, 0
	case x < f.Rate500+f.Rate503:
		return fault503, 0
	case x < f.Rate500+f.Rate503+f.RateStall:
		d := f.StallFor
		if d == 0 {
			d = 30 * time.Second
		}
		return faultStall, d
	case write && x < f.Rate500+f.Rate503+f.RateStall+f.RateAppliedThen503:
		return faultApplied503, 0
	}
	return faultNone, 0
}
