package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
	"github.com/synqhq/synq/schema"
)

// BenchmarkManySyncs runs a real scheduler process (built without -race,
// default tick and reaper) and an in-process executor (default manifest
// interval, 15 s) declaring N syncs every 5 minutes, and reports what the
// scheduler costs at scale: the time for all first runs, the leader's CPU
// and Redis's commands per second while nothing is due, one ListSyncs
// page, the whole list as `ctl status -o json` gets it, Redis bytes per
// sync, and the delay between each sync's second due time and its run's
// start (p50, p99; the benchmark waits for the second runs, five minutes
// after the first). Run it with -benchtime=1x; MANY_N (default
// "1000,10000") and MANY_IDLE (default 60s) tune it, MANY_QUICK=1 skips
// the second runs, MANY_SCHEDULER_LOG keeps the scheduler's output there.
func BenchmarkManySyncs(b *testing.B) {
	ns := []int{1000, 10000}
	if v := os.Getenv("MANY_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			ns = append(ns, n)
		}
	}
	idle := time.Minute
	if d, err := time.ParseDuration(os.Getenv("MANY_IDLE")); err == nil {
		idle = d
	}
	quick := os.Getenv("MANY_QUICK") != ""
	bin := schedulerBinary(b)
	for _, n := range ns {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for range b.N {
				manySyncs(b, bin, n, idle, quick)
			}
		})
	}
}

// schedulerBinary builds cmd/scheduler without -race: its CPU is measured.
func schedulerBinary(b *testing.B) string {
	dir := b.TempDir()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/scheduler")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "scheduler")
}

func manyWorker(n int, schedule string) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "many"})
	db := w.Database("many", synq.DatabaseConfig{InitialTitle: "Many", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	for i := range n {
		synq.AddSync(w, fmt.Sprintf("s%05d", i), synq.SyncConfig[pageState]{Database: db, Mode: synq.Incremental, Schedule: schedule,
			Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
				return synq.Result[pageState]{}, nil
			}})
	}
	return w
}

// redisInfo reads one field of INFO section.
func redisInfo(b *testing.B, r *redistest.Server, section, field string) int64 {
	s, err := r.Client().Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// cpuTime is a process's user and system CPU time so far (/proc).
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// After the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func manySyncs(b *testing.B, bin string, n int, idle time.Duration, quick bool) {
	ctx := context.Background()
	r := redistest.Start(b)
	emu := notiontest.Start(b, emulator.Config{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	o, err := ops.New(ops.Config{Redis: r.Client(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	rd := o.RDB()

	logPath := filepath.Join(b.TempDir(), "scheduler.log")
	if v := os.Getenv("MANY_SCHEDULER_LOG"); v != "" {
		logPath = v // kept, to read after the benchmark
	}
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	sched := exec.Command(bin, "--control-addr=127.0.0.1:0", "--console-addr=off", "--log-level=warn")
	sched.Env = append(os.Environ(), "REDIS_URL="+r.URL())
	sched.Stdout, sched.Stderr = logf, logf
	if err := sched.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sched.Process.Kill(); _ = sched.Wait() })
	time.Sleep(2 * time.Second)
	memBase := redisInfo(b, r, "memory", "used_memory")

	start := time.Now()
	x, err := synq.NewExecutor(ctx, manyWorker(n, "5m"), synq.ExecutorConfig{
		RedisURL: r.URL(), NotionToken: notiontest.Token, NotionBaseURL: emu.URL(),
		NotionParentPageID: notiontest.ParentPageID(), NotionRateLimit: synq.Unlimited, Concurrency: 16, Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := x.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Stop(context.Background()) })

	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("s%05d", i)
	}
	// All first runs.
	var sts []rdb.SyncStatus
	for {
		sts, err = rd.SyncStatuses(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, st := range sts {
			if !st.LastSuccess.IsZero() {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("%d of %d first runs done after 15 minutes", done, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	firstRuns := time.Since(start)
	first := make([]string, n)
	dues := make([]time.Time, n)
	for i, st := range sts {
		first[i], dues[i] = st.LastRun, st.NextRun
	}
	memPerSync := float64(redisInfo(b, r, "memory", "used_memory")-memBase) / float64(n)
	// What one run kept adds (its record, log and page records), and the
	// sync's own hash, sampled.
	var runBytes, syncBytes int64
	const sample = 20
	for i := range sample {
		k := keys[i*n/sample]
		for _, key := range []string{rdb.RunKey(k, first[i*n/sample]), rdb.RunLogKey(k, first[i*n/sample]), rdb.RunPagesKey(k, first[i*n/sample])} {
			runBytes += r.Client().MemoryUsage(ctx, key).Val()
		}
		syncBytes += r.Client().MemoryUsage(ctx, rdb.SyncKey(k)).Val() + r.Client().MemoryUsage(ctx, rdb.RunsKey(k)).Val()
	}
	b.Logf("sampled: a sync's hash and run index %d B, one run's record, log and pages %d B", syncBytes/sample, runBytes/sample)

	// Nothing is due now: the idle cost, once the alert detector's fleet
	// pass (every 30 s) has read the catalog the executor published.
	time.Sleep(35 * time.Second)
	stats0 := commandStats(b, r)
	cmds0, cpu0, t0 := redisInfo(b, r, "stats", "total_commands_processed"), cpuTime(b, sched.Process.Pid), time.Now()
	time.Sleep(idle)
	cmds1, cpu1, wall := redisInfo(b, r, "stats", "total_commands_processed"), cpuTime(b, sched.Process.Pid), time.Since(t0)
	idleCPU := float64(cpu1-cpu0) / float64(wall)
	stats1 := commandStats(b, r)
	var top []string
	for k, v := range stats1 {
		if d := v - stats0[k]; d > 0 {
			top = append(top, fmt.Sprintf("%s %.1f/s", k, float64(d)/wall.Seconds()))
		}
	}
	slices.Sort(top)
	// Each asynq dequeue attempt of the idle executor is an EVALSHA, an
	// EXISTS and an RPOPLPUSH (its TaskCheckInterval is 20 ms, for page
	// latency): flat in N, and not the scheduler's.
	polling := float64(3*(stats1["rpoplpush"]-stats0["rpoplpush"])) / wall.Seconds()
	b.Logf("idle commands by kind: %s", strings.Join(top, ", "))
	idleCmds := float64(cmds1-cmds0-2) / wall.Seconds() // less the two INFO calls

	// The control API: one page, and everything (ctl status -o json).
	svc, err := control.New(control.Config{Ops: o, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	var pageTimes []float64
	for range 6 {
		t := time.Now()
		if _, err := svc.ListSyncs(ctx, &synqv1.ListSyncsRequest{PageSize: 50}); err != nil {
			b.Fatal(err)
		}
		pageTimes = append(pageTimes, float64(time.Since(t))/float64(time.Millisecond))
	}
	slices.Sort(pageTimes[1:]) // the first reads the catalog
	t := time.Now()
	all, err := svc.ListSyncs(ctx, &synqv1.ListSyncsRequest{})
	if err != nil {
		b.Fatal(err)
	}
	allJSON, _ := protojson.Marshal(all)
	allTime := time.Since(t)

	// The second runs: due → start delay.
	var delays []float64
	left := map[int]bool{}
	for i := range n {
		left[i] = true
	}
	if quick {
		left = nil
		delays = []float64{0}
	}
	deadline := time.Now().Add(time.Until(slices.MaxFunc(dues, func(a, b time.Time) int { return a.Compare(b) })) + 5*time.Minute)
	for len(left) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d second runs did not start", len(left), n)
		}
		time.Sleep(time.Second)
		sts, err := rd.SyncStatuses(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		for i := range left {
			run := sts[i].ActiveRun
			if run == "" && sts[i].LastRun != first[i] {
				run = sts[i].LastRun
			}
			if run == "" || run == first[i] {
				continue
			}
			rr, ok, err := rd.GetRun(ctx, keys[i], run)
			if err != nil || !ok {
				b.Fatalf("run %s: %v %v", run, ok, err)
			}
			delays = append(delays, float64(rr.Started.Sub(dues[i]))/float64(time.Millisecond))
			delete(left, i)
		}
	}
	slices.Sort(delays)

	b.ReportMetric(firstRuns.Seconds(), "first-runs-s")
	b.ReportMetric(idleCPU*100, "idle-cpu-%")
	b.ReportMetric(idleCmds, "idle-cmds/s")
	b.ReportMetric(idleCmds-polling, "idle-cmds-not-polling/s")
	b.ReportMetric(pct(pageTimes[1:], 0.5), "list-page-ms")
	b.ReportMetric(float64(allTime)/float64(time.Millisecond), "list-all-ms")
	b.ReportMetric(float64(len(allJSON))/1024, "list-all-KB")
	b.ReportMetric(memPerSync, "redis-B/sync")
	b.ReportMetric(pct(delays, 0.5), "delay-p50-ms")
	b.ReportMetric(pct(delays, 0.99), "delay-p99-ms")
	b.Logf("N=%d: first runs %v; idle %v: scheduler CPU %v (%.2f%% of a core), %.1f Redis commands/s; ListSyncs page %.1f ms, all %v (%d KB JSON); Redis %.0f B/sync; due→start p50 %.0f ms p99 %.0f ms max %.0f ms",
		n, firstRuns.Round(time.Millisecond), wall.Round(time.Millisecond), cpu1-cpu0, idleCPU*100, idleCmds, pct(pageTimes[1:], 0.5), allTime.Round(time.Millisecond), len(allJSON)/1024, memPerSync,
		pct(delays, 0.5), pct(delays, 0.99), delays[len(delays)-1])
}

// commandStats reads INFO commandstats: calls per command.
func commandStats(b *testing.B, r *redistest.Server) map[string]int64 {
	s, err := r.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		out[name] = n
	}
	return out
}
