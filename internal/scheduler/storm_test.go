package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// A leader failover in the middle of a tick and a storm of pauses and
// resumes, with thousands of syncs: every sync runs exactly once per due
// time — none missed (a sync paused at its due time runs when resumed),
// none doubled (two leaders overlapping never both start a slot) — and
// none drops out of the schedule. 10,000 syncs (1,000 under -race, ten
// times slower); STORM_SYNCS sets another number.
func TestFailoverAndPauseStormNeitherMissNorDouble(t *testing.T) {
	n := 10_000
	if raceEnabled {
		n = 1_000
	}
	if v, err := strconv.Atoi(os.Getenv("STORM_SYNCS")); err == nil && v > 0 {
		n = v
	}
	keys := make([]string, n)
	syncs := make([]spec.ManifestSync, n)
	for i := range n {
		keys[i] = fmt.Sprintf("s%05d", i)
		syncs[i] = every(keys[i], "5m")
	}
	f := newFixture(t, syncs...)
	ctx := context.Background()
	var clock sync.Mutex
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return f.now }
	advance := func(d time.Duration) { clock.Lock(); f.now = f.now.Add(d); clock.Unlock() }
	s1, err := New(Config{Ops: f.ops, ID: "s1", Logger: slog.New(slog.DiscardHandler), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{Ops: f.ops, ID: "s2", Logger: slog.New(slog.DiscardHandler), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tick := func(s *Scheduler) {
		t.Helper()
		if err := s.Tick(ctx); err != nil {
			t.Error(err)
		}
	}
	// runsPer counts each sync's runs; endAll ends the active ones.
	runsPer := func() map[int]int {
		t.Helper()
		hist := map[int]int{}
		for _, k := range keys {
			n, err := f.rdb.Client().ZCard(ctx, rdb.RunsKey(k)).Result()
			if err != nil {
				t.Fatal(err)
			}
			hist[int(n)]++
		}
		return hist
	}
	endAll := func() {
		t.Helper()
		sts, err := f.rdb.SyncStatuses(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range sts {
			if st.ActiveRun != "" {
				if _, err := f.rdb.CommitPage(ctx, rdb.Commit{Sync: keys[i], Run: st.ActiveRun, Page: 0, Mode: rdb.StateKeep, Lifecycle: &rdb.PageDone{}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := func(runs int, when string) {
		t.Helper()
		if h := runsPer(); h[runs] != n {
			t.Fatalf("%s: syncs by number of runs %v, want all %d with %d", when, h, n, runs)
		}
	}

	tick(s1)
	want(1, "first runs")
	endAll()

	// Due again (past every sync's spread). s1 ticks while s2 waits for the lease; the lease is
	// dropped under s1 (a leader that stalled past its TTL) while a storm
	// pauses and resumes syncs, and both tick on.
	advance(5*time.Minute + 30*time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[rng.IntN(n)]
				if err := f.ops.Pause(ctx, k); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.ops.Resume(ctx, k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var ticks sync.WaitGroup
	ticks.Add(2)
	go func() {
		defer ticks.Done()
		for range 3 {
			tick(s1)
		}
	}()
	go func() {
		defer ticks.Done()
		time.Sleep(50 * time.Millisecond)
		if err := f.rdb.ReleaseLeader(ctx, "s1"); err != nil {
			t.Error(err)
		}
		for range 3 {
			tick(s2)
		}
	}()
	ticks.Wait()
	close(stop)
	wg.Wait()
	_ = f.rdb.ReleaseLeader(ctx, "s1")
	for range 2 {
		tick(s2)
		tick(s1)
	}
	want(2, "after the failover and the storm")
	due, err := f.rdb.Client().ZCard(ctx, rdb.DueKey()).Result()
	if err != nil || due != int64(n) {
		t.Fatalf("%d syncs in the due set, want all %d (%v)", due, n, err)
	}

	// And the next due time again runs each exactly once.
	endAll()
	advance(5 * time.Minute)
	tick(s2)
	tick(s1)
	tick(s2)
	want(3, "the next due time")
}
