package synqtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/synqhq/synq"
)

// iterTB is a TB whose cleanups run at the end of one benchmark iteration,
// so iterations do not pile up redis-servers.
type iterTB struct {
	b        *testing.B
	cleanups []func()
}

func (t *iterTB) Helper()                           {}
func (t *iterTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *iterTB) Fatalf(format string, args ...any) { t.b.Fatalf(format, args...) }
func (t *iterTB) Logf(string, ...any)               {}
func (t *iterTB) done() {
	for i, f := range slices.Backward(t.cleanups) {
		s := time.Now()
		f()
		if d := time.Since(s); d > time.Second {
			// A stop that waits (the emulator's graceful shutdown on a
			// connection never used) is a cost every test would pay.
			t.b.Errorf("cleanup %d took %v", i, d)
		}
	}
	t.cleanups = nil
}

// BenchmarkNewEnv is what a test pays for a Redis, an emulator and its
// databases created: env_ms per NewEnv.
func BenchmarkNewEnv(b *testing.B) {
	w := (&fixture{}).worker()
	tb := &iterTB{b: b}
	var total time.Duration
	for range b.N {
		start := time.Now()
		NewEnv(tb, w)
		total += time.Since(start)
		tb.done()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "env_ms")
}

// BenchmarkRun is a replace run of 100 rows with a Markdown body each,
// read back: run_ms for the first run (100 creates), rerun_ms for a run
// that finds every row unchanged (both include reading the 100 rows and
// their bodies back).
func BenchmarkRun(b *testing.B) {
	f := &fixture{tasks: func(int) ([]synq.Change, bool, error) {
		var out []synq.Change
		for i := range 100 {
			out = append(out, task(fmt.Sprintf("t%03d", i), "task", "", float64(i)).Content("# Task\n\n- one\n  - nested\n- two\n\n```go\nx := 1\n```"))
		}
		return out, false, nil
	}}
	w := f.worker()
	tb := &iterTB{b: b}
	var first, again time.Duration
	for range b.N {
		env := NewEnv(tb, w)
		start := time.Now()
		if res := env.Run("tasksSync"); res.Counts.Created != 100 {
			b.Fatalf("counts %+v", res.Counts)
		}
		first += time.Since(start)
		start = time.Now()
		if res := env.Run("tasksSync"); res.Counts.Unchanged != 100 {
			b.Fatalf("counts %+v", res.Counts)
		}
		again += time.Since(start)
		tb.done()
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "run_ms")
	b.ReportMetric(float64(again.Milliseconds())/float64(b.N), "rerun_ms")
}
