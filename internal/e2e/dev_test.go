package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/executor"
	"github.com/synqhq/synq/internal/notion"
)

var (
	devOnce sync.Once
	devDir  string
	devErr  error
)

// devBinaries builds dev and the binaries it starts, once per test binary,
// as `make build` does (no race detector: these are the user's binaries).
func devBinaries(t *testing.T) string {
	t.Helper()
	devOnce.Do(func() {
		devDir, devErr = os.MkdirTemp("", "synq-e2e-dev")
		if devErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", devDir+"/", "./cmd/dev", "./cmd/scheduler", "./cmd/executor", "./cmd/ctl")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			devErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if devErr != nil {
		t.Fatal(devErr)
	}
	return devDir
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// userEnv is the environment of a user who has set nothing synq reads.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "NOTION_") && !strings.HasPrefix(kv, "SYNQ_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p devPorts) flags(dir string) []string {
	return []string{"--dir", dir, "--notion-addr", p.notion, "--helpdesk-addr", p.helpdesk, "--control-addr", p.control,
		"--console-addr", p.console, "--redis-port", strconv.Itoa(p.redisPort), "--metrics-port", strconv.Itoa(p.metricsPort), "--webhook-port", strconv.Itoa(p.webhookPort), "--tickets", "40", "--change-rate", "0"}
}

// stackProcs lists the live processes of one stack: its redis-server
// (which retitles itself "redis-server 127.0.0.1:PORT"), and every process
// whose REDIS_URL is the stack's Redis (scheduler, executors, workers).
func stackProcs(dir string, redisPort int) []string {
	marker := []byte(fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d/", redisPort))
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// A zombie is dead: it only waits to be reaped.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		redis := strings.Contains(args, "redis-server") && (strings.Contains(args, filepath.Join(dir, "redis")) || strings.Contains(args, fmt.Sprintf(":%d", redisPort)))
		if redis || bytes.Contains(environ, marker) {
			out = append(out, fmt.Sprintf("%d %s", pid, args))
		}
	}
	return out
}

func waitNoProcs(t *testing.T, dir string, redisPort int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := stackProcs(dir, redisPort)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			t.Fatalf("%v after dev ended, its children still run:\n%s", d, strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dev stops every child on every way it can end: Ctrl-C, SIGTERM, SIGHUP,
// the reader of its output going away (`make dev | tee log` interrupted:
// SIGPIPE), and being killed outright (the children's parent-death signal).
func TestDevStopsEveryChild(t *testing.T) {
	bin := devBinaries(t)
	for _, how := range []string{"reader exits", "SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			ports := freePorts(t)
			dir := t.TempDir()
			dev := exec.Command(filepath.Join(bin, "dev"), ports.flags(dir)...)
			dev.Env = userEnv()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			// Like `dev 2>&1 | reader`: both outputs into the pipe.
			dev.Stdout, dev.Stderr = w, w
			if err := dev.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			exited := make(chan error, 1)
			go func() { exited <- dev.Wait() }()
			t.Cleanup(func() {
				_ = dev.Process.Kill()
				r.Close()
			})
			var seen bytes.Buffer
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			started := false
			deadline := time.AfterFunc(90*time.Second, func() { r.Close() })
			for sc.Scan() {
				seen.WriteString(sc.Text() + "\n")
				// The stack is up once the executor runs.
				if strings.Contains(sc.Text(), "executor started") {
					started = true
					break
				}
			}
			deadline.Stop()
			if !started {
				t.Fatalf("dev did not start the stack:\n%s", seen.String())
			}
			if len(stackProcs(dir, ports.redisPort)) < 3 {
				t.Fatalf("the stack has fewer than 3 processes (redis, scheduler, executor): %v", stackProcs(dir, ports.redisPort))
			}
			switch how {
			case "reader exits":
				r.Close()
			case "SIGKILL":
				_ = dev.Process.Signal(syscall.SIGKILL)
			default:
				sig := map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "SIGHUP": syscall.SIGHUP}[how]
				_ = dev.Process.Signal(sig)
				// The reader stays: the rest of the output must come.
				go func() { _, _ = io.Copy(io.Discard, r) }()
			}
			select {
			case err := <-exited:
				if how != "SIGKILL" && err != nil {
					t.Errorf("dev ended with %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("dev still runs 60s after %s", how)
			}
			waitNoProcs(t, dir, ports.redisPort, 30*time.Second)
		})
	}
}

// --bin must hold what dev starts; it is not silently ignored.
func TestDevBinMustHoldTheBinaries(t *testing.T) {
	bin := devBinaries(t)
	empty := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "dev"), "--bin", empty, "--dir", t.TempDir())
	cmd.Env = userEnv()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--bin "+empty+" lacks scheduler, executor, ctl") {
		t.Fatalf("dev --bin EMPTY: %v\n%s", err, out)
	}
}

// A second `make dev` start keeps the rows and their index: no "Redis lost
// synq's data" rebuild, and a backfill over every row writes nothing. The
// neighbour: without redis-server (the embedded Redis keeps nothing) the
// emulator starts empty too, so the rows are created once, not duplicated.
func TestDevRestartKeepsTheIndex(t *testing.T) {
	bin := devBinaries(t)
	ports := freePorts(t)
	dir := t.TempDir()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	ctlEnv := append(userEnv(), "SYNQ_ADDR="+ports.control)
	ctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "ctl"), args...)
		cmd.Env = ctlEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// start runs dev until the stack is up and every scheduled demo sync
	// has a succeeded run; stop ends it as Ctrl-C does, kill as kill -9.
	var kill func()
	start := func(path string) (out *syncBuffer, stop func()) {
		t.Helper()
		dev := exec.Command(filepath.Join(bin, "dev"), ports.flags(dir)...)
		dev.Env = append(userEnv(), "PATH="+path)
		out = &syncBuffer{}
		dev.Stdout, dev.Stderr = out, out
		if err := dev.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- dev.Wait() }()
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			_ = dev.Process.Signal(syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				_ = dev.Process.Kill()
				t.Errorf("dev still runs 60s after Ctrl-C")
			}
			waitNoProcs(t, dir, ports.redisPort, 30*time.Second)
		}
		kill = func() {
			stopped = true
			_ = dev.Process.Kill()
			<-exited
			waitNoProcs(t, dir, ports.redisPort, 30*time.Second)
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("--- dev output:\n%s", out.String())
			}
		})
		deadline := time.Now().Add(3 * time.Minute)
		for {
			if strings.Contains(out.String(), "synq is running") && strings.Contains(out.String(), "executor started") {
				var st struct {
					Syncs []struct {
						Key, Schedule string
						LastRun       *struct{ Status string } `json:"last_run"`
					}
				}
				if err := json.Unmarshal([]byte(ctl("status", "-o", "json")), &st); err == nil && len(st.Syncs) > 0 {
					done := true
					for _, s := range st.Syncs {
						if s.Schedule != "manual" && (s.LastRun == nil || s.LastRun.Status != "succeeded") {
							done = false
						}
					}
					if done {
						return out, stop
					}
				}
			}
			select {
			case err := <-exited:
				t.Fatalf("dev ended (%v) before its syncs ran:\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the demo syncs did not all succeed within 3 minutes")
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	// backfill runs ticketsBackfill (every ticket, replace) to its end
	// and returns its counters.
	backfill := func() map[string]int64 {
		t.Helper()
		ctl("trigger", "ticketsBackfill", "--follow")
		var runs struct {
			Runs []struct {
				Status   string
				Counters map[string]int64
			}
		}
		if err := json.Unmarshal([]byte(ctl("runs", "list", "ticketsBackfill", "-o", "json")), &runs); err != nil || len(runs.Runs) == 0 {
			t.Fatalf("ctl runs list ticketsBackfill: %v %+v", err, runs)
		}
		if runs.Runs[0].Status != "succeeded" {
			t.Fatalf("ticketsBackfill: %+v", runs.Runs[0])
		}
		return runs.Runs[0].Counters
	}
	path := os.Getenv("PATH")

	_, stop := start(path)
	first := backfill()
	stop()
	if first["created"]+first["unchanged"] != 40 {
		t.Fatalf("first start's backfill: %v, want the 40 tickets", first)
	}

	out, stop := start(path)
	if strings.Contains(out.String(), "Redis lost synq's data") {
		t.Errorf("the second start rebuilt the index:\n%s", out.String())
	}
	second := backfill()
	if second["created"] != 0 || second["updated"] != 0 || second["trashed"] != 0 || second["unchanged"] != 40 {
		t.Errorf("second start's backfill wrote: %v, want 40 unchanged and no write", second)
	}

	// The neighbour of a stop: dev killed outright (its children die with
	// it, Redis and the emulator included, mid-whatever). The next start
	// goes on from what each kept: every ticket once in the emulator.
	kill()
	out, stop = start(path)
	afterKill := backfill()
	if afterKill["created"]+afterKill["updated"]+afterKill["unchanged"] != 40 || afterKill["trashed"] != 0 {
		t.Errorf("backfill after kill -9: %v, want the 40 tickets", afterKill)
	}
	if keys, dups := devTickets(t, ports.notion); keys != 40 || len(dups) > 0 {
		t.Errorf("after kill -9 and a restart the emulator holds %d ticket keys, duplicated: %v; want 40 once", keys, dups)
	}
	stop()

	// Without redis-server on PATH: the embedded Redis, and the emulator's
	// data set aside with it.
	noRedis := t.TempDir()
	for _, name := range []string{"go"} {
		if p, err := exec.LookPath(name); err == nil {
			_ = os.Symlink(p, filepath.Join(noRedis, name))
		}
	}
	out, stop = start(noRedis)
	if !strings.Contains(out.String(), "embedded") {
		t.Fatalf("dev did not use the embedded Redis without redis-server on PATH")
	}
	if strings.Contains(out.String(), "Redis lost synq's data") {
		t.Errorf("the embedded start found an emulator with rows and no index:\n%s", out.String())
	}
	third := backfill()
	if third["created"]+third["unchanged"] != 40 || third["updated"]+third["trashed"] != 0 {
		t.Errorf("embedded start's backfill: %v, want the 40 tickets once in an emptied emulator", third)
	}
	stop()
}

// devTickets counts the ticket rows of a dev stack's emulator by key, and
// returns the keys that have more than one row.
func devTickets(t *testing.T, notionAddr string) (keys int, dups []string) {
	t.Helper()
	nc, err := notion.New(notion.Config{BaseURL: "http://" + notionAddr, Token: executor.LocalEmulatorToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rows := map[string]int{}
	err = nc.SearchDataSources(ctx, "Tickets", func(ds *notion.DataSource) error {
		if ds.InTrash || notion.PlainText(ds.Title) != "Tickets" {
			return nil
		}
		return nc.QueryAll(ctx, ds.ID, notion.QueryRequest{}, func(p *notion.Page) error {
			if !p.InTrash {
				rows[p.Properties["Ticket ID"].Text()]++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("reading the emulator's tickets: %v", err)
	}
	for k, n := range rows {
		if n > 1 {
			dups = append(dups, k)
		}
	}
	return len(rows), dups
}
