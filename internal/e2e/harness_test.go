// Package e2e runs synq as its users do: the scheduler and executors as
// separate processes on a real redis-server, writing to the Notion emulator
// over HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds the scheduler and the test worker once per test binary.
func binaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "synq-e2e-bin")
		if binErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-race", "-o", binDir+"/", "./cmd/scheduler", "./cmd/ctl", "./internal/e2e/testworker", "./internal/e2e/bookworker", "./internal/e2e/backlogworker")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// stack is one test's Redis, emulator and processes.
type stack struct {
	t     testing.TB
	redis *redistest.Server
	// sentinel is set instead of redis by newSentinelStack.
	sentinel *redistest.Sentinel
	emu      *emulator.Server
	ops      *ops.Ops
	rdb      *rdb.RDB
	mark     string
	env      []string
}

func newStack(t testing.TB, extraEnv ...string) *stack {
	t.Helper()
	r := redistest.Start(t)
	s := assemble(t, r.URL(), r.Client(), extraEnv)
	s.redis = r
	return s
}

// newSentinelStack is newStack on a Sentinel topology (a master, a replica
// and three Sentinels): REDIS_URL is its redis+sentinel:// URL.
func newSentinelStack(t testing.TB, extraEnv ...string) *stack {
	t.Helper()
	sn := redistest.StartSentinel(t, redistest.SentinelConfig{})
	s := assemble(t, sn.URL(), sn.Client(), extraEnv)
	s.sentinel = sn
	return s
}

func assemble(t testing.TB, redisURL string, client redis.UniversalClient, extraEnv []string) *stack {
	t.Helper()
	s := &stack{t: t, emu: notiontest.Start(t, emulator.Config{})}
	s.mark = filepath.Join(t.TempDir(), "marks")
	s.env = append([]string{
		"REDIS_URL=" + redisURL,
		"NOTION_API_TOKEN=" + notiontest.Token,
		"NOTION_API_BASE_URL=" + s.emu.URL(),
		"NOTION_PARENT_PAGE_ID=" + notiontest.ParentPageID(),
		"SYNQ_NOTION_RATE_LIMIT=0",
		// Tests read the processes' lines (control_addr=…) as text.
		"SYNQ_LOG_FORMAT=text",
		// Manifests expire after 4 intervals: a dropped sync is undeclared
		// within 2 s.
		"SYNQ_MANIFEST_INTERVAL=500ms",
		"E2E_MARK=" + s.mark,
	}, extraEnv...)
	var err error
	s.ops, err = ops.New(ops.Config{Redis: client, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.rdb = s.ops.RDB()
	return s
}

// proc is a running binary.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (s *stack) start(bin string, env ...string) *proc {
	s.t.Helper()
	p := &proc{name: bin, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(filepath.Join(binaries(s.t), bin))
	if bin == "scheduler" {
		p.cmd.Args = append(p.cmd.Args, "--tick=100ms", "--reap-every=1s", "--control-addr=127.0.0.1:0", "--console-addr=127.0.0.1:0")
	}
	p.cmd.Env = append(append(os.Environ(), s.env...), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	s.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
		if s.t.Failed() {
			s.t.Logf("--- %s (pid %d) output:\n%s", p.name, p.cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// executor starts a test worker and waits until it pulls tasks.
func (s *stack) executor(env ...string) *proc {
	s.t.Helper()
	return s.worker("testworker", env...)
}

// worker starts an executor binary and waits until it pulls tasks.
func (s *stack) worker(bin string, env ...string) *proc {
	s.t.Helper()
	p := s.start(bin, env...)
	s.waitFor(30*time.Second, bin+" start", func() bool { return strings.Contains(p.out.String(), "executor started") })
	return p
}

func (s *stack) waitFor(d time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRun waits for a run to end and returns it.
func (s *stack) waitRun(run string, d time.Duration) rdb.Run {
	s.t.Helper()
	var r rdb.Run
	deadline := time.Now().Add(d)
	for {
		var err error
		r, err = s.ops.Run(context.Background(), run)
		if err == nil && r.Ended() {
			return r
		}
		if time.Now().After(deadline) {
			st, _ := s.rdb.GetSyncStatus(context.Background(), r.Sync)
			s.t.Fatalf("timed out after %v waiting for run %s to end: %+v (err %v); sync status %+v", d, run, r, err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// marks returns the Execute calls recorded by test workers.
type markLine struct {
	sync string
	page int
	pid  int
	at   time.Time
}

func (s *stack) marks(sync string) []markLine {
	f, err := os.Open(s.mark)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []markLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m markLine
		var ns int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d", &m.sync, &m.page, &m.pid, &ns); err == nil && (sync == "" || m.sync == sync) {
			m.at = time.Unix(0, ns)
			out = append(out, m)
		}
	}
	return out
}

func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// exited waits for the process to exit and returns its error.
func (p *proc) exited(d time.Duration) (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	case <-time.After(d):
		return nil, false
	}
}
