package pacer

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/testutil/redistest"
)

var benchDuration = flag.Duration("pacer.duration", 0,
	"length of BenchmarkPacerShared's shared phase (default 20s, or $SYNQ_PACER_BENCH_DURATION); the other phases take a quarter of it, at least 3s")

// BenchmarkPacerShared measures a pacer of 200 requests per second shared
// by 4 consumers of unequal concurrency (4, 1, 1 and 2 goroutines, all
// always ready to send) on 3 processes, against the naive designs. It runs
// its scenario once, whatever b.N:
//
//   - budget_ratio: total granted / (R·duration); ≥ 0.97, and at most
//     1 + burst/(R·duration).
//   - budget_excess: the most grants any window held over
//     R·w/interval + burst, on the server's clock; ≤ 0.
//   - jain: Jain's fairness index of the 4 consumers' grants; ≥ 0.98.
//   - lone_share: a consumer alone (4 goroutines), granted / budget; ≥ 0.95.
//   - redis_rtt_per_grant, redis_ms_per_grant: Redis round trips, and time
//     spent in them, per granted request.
//   - naive_shared_jain: the same consumers on one redis_rate key: the
//     consumer with the most goroutines takes the most.
//   - naive_local_budget_ratio: an x/time/rate limiter at R in each of the
//     3 processes: about 3 times the budget.
func BenchmarkPacerShared(b *testing.B) {
	d := 20 * time.Second
	if v := os.Getenv("SYNQ_PACER_BENCH_DURATION"); v != "" {
		pd, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("SYNQ_PACER_BENCH_DURATION=%q: %v", v, err)
		}
		d = pd
	}
	if *benchDuration > 0 {
		d = *benchDuration
	}
	short := max(d/4, 3*time.Second)
	const R = 200.0
	lim := Limit{Requests: int(R), Interval: time.Second} // burst 20
	srv := redistest.Start(b)

	topology := func(mode, pacer string, until time.Duration) []helperSpec {
		spec := func(cs ...consumerSpec) helperSpec {
			return helperSpec{Addr: srv.Addr(), Mode: mode, Pacer: pacer, Limit: lim, Consumers: cs}
		}
		return []helperSpec{
			spec(consumerSpec{Name: "a", Goroutines: 4, Until: until}, consumerSpec{Name: "b", Goroutines: 1, Until: until}),
			spec(consumerSpec{Name: "c", Goroutines: 1, Until: until}),
			spec(consumerSpec{Name: "d", Goroutines: 2, Until: until}),
		}
	}
	shares := func(counts map[string]int) []float64 {
		var xs []float64
		for _, c := range []string{"a", "b", "c", "d"} {
			xs = append(xs, float64(counts[c]))
		}
		return xs
	}
	b.ResetTimer()

	// The pacer, shared.
	outs, start := runProcesses(b, topology(modePacer, "shared", d), nil)
	grants := allGrants(outs)
	var calls int64
	var callTime time.Duration
	for _, o := range outs {
		calls += o.Calls
		callTime += o.CallTime
	}
	steady := countIn(grants, start, time.Second, d)
	b.Logf("shared, %v: %d grants, per consumer over [1s, %v): %v", d, len(grants), d, steady)
	b.ReportMetric(float64(len(grants))/(R*d.Seconds()), "budget_ratio")
	b.ReportMetric(budgetExcess(grants, lim), "budget_excess")
	b.ReportMetric(jain(shares(steady)), "jain")
	b.ReportMetric(float64(calls)/float64(len(grants)), "redis_rtt_per_grant")
	b.ReportMetric(callTime.Seconds()*1000/float64(len(grants)), "redis_ms_per_grant")

	// A consumer alone.
	outs, start = runProcesses(b, []helperSpec{{Addr: srv.Addr(), Mode: modePacer, Pacer: "lone", Limit: lim,
		Consumers: []consumerSpec{{Name: "a", Goroutines: 4, Until: short}}}}, nil)
	lone := countIn(allGrants(outs), start, 500*time.Millisecond, short)
	b.ReportMetric(float64(lone["a"])/(R*(short-500*time.Millisecond).Seconds()), "lone_share")

	// Naive: one redis_rate key for everyone.
	outs, start = runProcesses(b, topology(modeSharedKey, "naive", short), nil)
	naive := countIn(allGrants(outs), start, 500*time.Millisecond, short)
	b.Logf("naive shared key, %v: per consumer %v", short, naive)
	b.ReportMetric(jain(shares(naive)), "naive_shared_jain")

	// Naive: a local limiter at R in each process.
	outs, _ = runProcesses(b, topology(modeLocal, "local", short), nil)
	b.ReportMetric(float64(len(allGrants(outs)))/(R*short.Seconds()), "naive_local_budget_ratio")
	b.StopTimer()
}
