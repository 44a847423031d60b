package pacer

// Several OS processes sharing a pacer: the test binary re-executes itself
// as TestHelperProcess, configured by an environment variable. Each helper
// connects, says READY, waits for the common start time on stdin, runs its
// consumers, and writes what it was granted to a file.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

const helperEnv = "SYNQ_PACER_HELPER"

// Helper modes: the pacer under test, and the two naive designs the
// benchmark compares it with.
const (
	modePacer     = "pacer"      // Pacer.Wait
	modeSharedKey = "shared-key" // one redis_rate key for everyone
	modeLocal     = "local"      // an x/time/rate limiter at R in each process
)

type helperSpec struct {
	Addr         string
	Mode         string
	Pacer        string
	Limit        Limit
	ActiveWindow time.Duration
	Consumers    []consumerSpec
	Out          string
}

// consumerSpec is one consumer (sync) in one process.
type consumerSpec struct {
	Name       string
	Goroutines int
	// From and Until are offsets from the common start.
	From, Until time.Duration
	// Pause between a grant and the next Wait: 0 is a consumer that always
	// has a request ready.
	Pause time.Duration
}

type grant struct {
	C  string // consumer
	At int64  // unix ns: the Redis server's clock in modePacer, the helper's otherwise
}

type helperOut struct {
	Grants   []grant
	Calls    int64         // Redis round trips made by Wait
	CallTime time.Duration // time spent in them
	Errors   []string
}

// TestHelperProcess is not a test: it is the body of the helper processes
// and returns at once when not started as one.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		return
	}
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatalf("helper spec: %v", err)
	}
	client := redis.NewClient(&redis.Options{Addr: spec.Addr, PoolSize: 32})
	defer client.Close()
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("helper: ping %s: %v", spec.Addr, err)
	}
	fmt.Println("READY")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: reading the start time: %v", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		t.Fatalf("helper: start time %q: %v", line, err)
	}
	out := runHelper(spec, client, time.Unix(0, ns))
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec.Out, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runHelper(spec helperSpec, client *redis.Client, start time.Time) helperOut {
	var (
		mu  sync.Mutex
		out helperOut
		wg  sync.WaitGroup
	)
	record := func(c string, at time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			out.Errors = append(out.Errors, err.Error())
			return
		}
		out.Grants = append(out.Grants, grant{C: c, At: at.UnixNano()})
	}

	var wait func(ctx context.Context, consumer string) (time.Time, error)
	var p *Pacer
	switch spec.Mode {
	case modePacer:
		var err error
		p, err = New(Config{Redis: client, ActiveWindow: spec.ActiveWindow})
		if err != nil {
			return helperOut{Errors: []string{err.Error()}}
		}
		wait = func(ctx context.Context, consumer string) (time.Time, error) {
			return p.wait(ctx, spec.Pacer, spec.Limit, consumer)
		}
	case modeSharedKey:
		lim := redis_rate.NewLimiter(client)
		rl := spec.Limit.rate()
		wait = func(ctx context.Context, consumer string) (time.Time, error) {
			for {
				res, err := lim.Allow(ctx, spec.Pacer, rl)
				if err != nil {
					return time.Time{}, err
				}
				if res.Allowed > 0 {
					return time.Now(), nil
				}
				if !sleep(ctx, res.RetryAfter) {
					return time.Time{}, ctx.Err()
				}
			}
		}
	case modeLocal:
		l := spec.Limit.withDefaults()
		rl := rate.NewLimiter(rate.Limit(float64(l.Requests)/l.Interval.Seconds()), l.Burst)
		wait = func(ctx context.Context, consumer string) (time.Time, error) {
			if err := rl.Wait(ctx); err != nil {
				// Refused because the deadline is too close: the end.
				<-ctx.Done()
				return time.Time{}, ctx.Err()
			}
			return time.Now(), nil
		}
	default:
		return helperOut{Errors: []string{"unknown mode " + spec.Mode}}
	}

	for _, c := range spec.Consumers {
		for range c.Goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Until(start.Add(c.From)))
				ctx, cancel := context.WithDeadline(context.Background(), start.Add(c.Until))
				defer cancel()
				for ctx.Err() == nil {
					at, err := wait(ctx, c.Name)
					if ctx.Err() != nil {
						return
					}
					record(c.Name, at, err)
					if err != nil {
						return
					}
					if c.Pause > 0 && !sleep(ctx, c.Pause) {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if p != nil {
		out.Calls = p.calls.Load()
		out.CallTime = time.Duration(p.callTime.Load())
	}
	return out
}

// runProcesses runs one helper process per spec, all starting at the same
// instant, and returns their outputs. beforeStart runs once every helper
// is ready, just before the start time is chosen. The start time is
// returned too.
func runProcesses(tb testing.TB, specs []helperSpec, beforeStart func()) ([]helperOut, time.Time) {
	tb.Helper()
	dir := tb.TempDir()
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr *strings.Builder
	}
	procs := make([]*proc, len(specs))
	for i := range specs {
		specs[i].Out = filepath.Join(dir, fmt.Sprintf("out%d.json", i))
		raw, err := json.Marshal(specs[i])
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
		pr := &proc{cmd: cmd, stderr: &strings.Builder{}}
		cmd.Stderr = pr.stderr
		if pr.stdin, err = cmd.StdinPipe(); err != nil {
			tb.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		pr.stdout = bufio.NewReader(out)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("starting helper process: %v", err)
		}
		tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		procs[i] = pr
	}
	for i, pr := range procs {
		for {
			line, err := pr.stdout.ReadString('\n')
			if err != nil {
				tb.Fatalf("helper %d exited before it was ready: %v\n%s", i, err, pr.stderr)
			}
			if strings.TrimSpace(line) == "READY" {
				break
			}
		}
	}
	if beforeStart != nil {
		beforeStart()
	}
	start := time.Now().Add(200 * time.Millisecond)
	for _, pr := range procs {
		if _, err := fmt.Fprintf(pr.stdin, "%d\n", start.UnixNano()); err != nil {
			tb.Fatalf("sending the start time: %v", err)
		}
	}
	outs := make([]helperOut, len(procs))
	for i, pr := range procs {
		go func() { _, _ = io.Copy(io.Discard, pr.stdout) }()
		if err := pr.cmd.Wait(); err != nil {
			tb.Fatalf("helper %d: %v\n%s", i, err, pr.stderr)
		}
		raw, err := os.ReadFile(specs[i].Out)
		if err != nil {
			tb.Fatalf("helper %d wrote no output: %v\n%s", i, err, pr.stderr)
		}
		if err := json.Unmarshal(raw, &outs[i]); err != nil {
			tb.Fatalf("helper %d output: %v", i, err)
		}
		if len(outs[i].Errors) > 0 {
			tb.Fatalf("helper %d: %d errors, first: %s", i, len(outs[i].Errors), outs[i].Errors[0])
		}
	}
	return outs, start
}

// allGrants merges the helpers' grants, sorted by time.
func allGrants(outs []helperOut) []grant {
	var all []grant
	for _, o := range outs {
		all = append(all, o.Grants...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].At < all[j].At })
	return all
}

// countIn counts each consumer's grants in [from, to) after start.
func countIn(grants []grant, start time.Time, from, to time.Duration) map[string]int {
	n := map[string]int{}
	lo, hi := start.Add(from).UnixNano(), start.Add(to).UnixNano()
	for _, g := range grants {
		if g.At >= lo && g.At < hi {
			n[g.C]++
		}
	}
	return n
}

func countAll(grants []grant) map[string]int {
	n := map[string]int{}
	for _, g := range grants {
		n[g.C]++
	}
	return n
}

// budgetExcess is the largest number of grants over the bound of any
// window: a window [t_i, t_j] holding k grants may hold at most
// (t_j-t_i)·R/interval + burst. ≤ 0 means the budget was never exceeded.
// Grants must be sorted. With k = j-i+1, the bound reads
// (j - t_j/T) - (i - t_i/T) ≤ burst - 1, so one pass finds the worst window.
func budgetExcess(grants []grant, lim Limit) float64 {
	lim = lim.withDefaults()
	T := float64(lim.Interval) / float64(lim.Requests)
	worst := -float64(lim.Burst)
	minF := 0.0
	for j, g := range grants {
		f := float64(j) - float64(g.At-grants[0].At)/T
		if j == 0 || f < minF {
			minF = f
		}
		// The window from the grant with the smallest f to this one.
		if ex := f - minF + 1 - float64(lim.Burst); ex > worst {
			worst = ex
		}
	}
	return worst
}

// jain is Jain's fairness index of xs: 1 when all are equal, 1/n when one
// takes everything.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
