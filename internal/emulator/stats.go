package emulator

import (
	"maps"
	"sync"
)

// Stats counts requests. Routes are named by method and pattern, as in
// "POST /v1/pages" or "PATCH /v1/pages/{id}"; unmatched paths count under
// "unknown". Writes counts requests that changed data.
type Stats struct {
	Requests int64
	Writes   int64
	ByRoute  map[string]int64
	ByStatus map[int]int64
	// Faults counts the injected faults by name (500, 503, stall,
	// applied503, applied500, 429).
	Faults map[string]int64
	// InFlight is the number of requests being served now, MaxInFlight
	// the most served at once: how much concurrency a client keeps up
	// against the latency.
	InFlight, MaxInFlight int64
}

type statsRecorder struct {
	mu sync.Mutex
	s  Stats
}

func newStatsRecorder() *statsRecorder {
	r := &statsRecorder{}
	r.reset()
	return r
}

// begin counts a request as it arrives, so a stalled one is counted
// while it is still in flight.
func (r *statsRecorder) begin(route string) {
	r.mu.Lock()
	r.s.Requests++
	r.s.ByRoute[route]++
	r.s.InFlight++
	r.s.MaxInFlight = max(r.s.MaxInFlight, r.s.InFlight)
	r.mu.Unlock()
}

func (r *statsRecorder) end(status int, wrote bool) {
	r.mu.Lock()
	if wrote {
		r.s.Writes++
	}
	r.s.ByStatus[status]++
	r.s.InFlight = max(r.s.InFlight-1, 0)
	r.mu.Unlock()
}

func (r *statsRecorder) fault(f fault) {
	r.mu.Lock()
	r.s.Faults[f.String()]++
	r.mu.Unlock()
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	s.ByRoute = maps.Clone(r.s.ByRoute)
	s.ByStatus = maps.Clone(r.s.ByStatus)
	s.Faults = maps.Clone(r.s.Faults)
	return s
}

func (r *statsRecorder) reset() {
	r.mu.Lock()
	// Requests in flight are still in flight after a reset.
	inFlight := r.s.InFlight
	r.s = Stats{ByRoute: map[string]int64{}, ByStatus: map[int]int64{}, Faults: map[string]int64{}, InFlight: inFlight, MaxInFlight: inFlight}
	r.mu.Unlock()
}
