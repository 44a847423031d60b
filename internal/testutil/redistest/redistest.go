// Package redistest starts a real redis-server for a test.
//
// synq's tests never mock Redis: the behaviour we depend on (Lua scripts,
// MULTI/EXEC, server-side clocks for GCRA, asynq's own scripts) is exactly the
// part a mock would get wrong. A test that needs Redis calls Start and gets a
// private server on a free loopback port that is stopped when the test ends.
//
// When redis-server is not installed the test fails with a message that says
// how to install it. It never skips: a skipped Redis test is a test that
// silently stopped protecting us.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by one test.
type Server struct {
	tb       testing.TB
	bin      string
	dir      string
	port     int
	password string
	// args come after the defaults: a Sentinel's config file, --replicaof…
	args     []string
	sentinel bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// Binary returns the path of redis-server, honouring REDIS_SERVER_BIN.
func Binary() (string, error) {
	if p := os.Getenv("REDIS_SERVER_BIN"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH: install it (Debian: apt-get install redis-server) or set REDIS_SERVER_BIN: %w", err)
	}
	return p, nil
}

// Config are a server's settings beyond the defaults (a private,
// loopback-only server without persistence).
type Config struct {
	// Password is required from clients (requirepass) and used by URL and
	// Client.
	Password string
	// Args are more redis-server options, e.g. "--replicaof", "127.0.0.1", "6379".
	Args []string
}

// Start launches a fresh redis-server on a free loopback port and registers
// its shutdown with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartConfig(tb, Config{})
}

// StartConfig is Start with settings.
func StartConfig(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	args := slices.Clone(cfg.Args)
	if cfg.Password != "" {
		args = append(args, "--requirepass", cfg.Password, "--masterauth", cfg.Password)
	}
	return start(tb, &Server{password: cfg.Password, args: args}, nil)
}

// start launches s on a free port; conf, when set, writes the config file
// for that port first (a Sentinel's).
func start(tb testing.TB, s *Server, conf func(port int) error) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s.tb, s.bin, s.dir = tb, bin, tb.TempDir()
	var lastErr error
	// A free port can be taken between our probe and redis binding it; retry.
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
		}
		if conf != nil {
			if err := conf(s.port); err != nil {
				tb.Fatalf("redistest: %v", err)
			}
		}
		if lastErr = s.launch(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("redistest: starting %s: %v", bin, lastErr)
	}
	tb.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) launch() error {
	var args []string
	if s.sentinel {
		// A Sentinel takes its config file first and rewrites it.
		args = append(slices.Clone(s.args), "--sentinel")
	} else {
		args = append([]string{
			"--port", strconv.Itoa(s.port),
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--protected-mode", "no",
			"--loglevel", "warning",
			"--logfile", filepath.Join(s.dir, "redis.log"),
			// Replicas sync at once (any node may be a replica one day).
			"--repl-diskless-sync-delay", "0",
		}, s.args...)
	}
	cmd := exec.Command(s.bin, args...)
	stderr := &bytes.Buffer{}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.stderr, s.done = cmd, stderr, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password, MaxRetries: -1})
	defer c.Close()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(s.logPath())
			return fmt.Errorf("redis-server exited at start: %s %s", stderr.String(), log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server did not answer PING on %s within 10s", s.Addr())
}

func (s *Server) logPath() string {
	if s.sentinel {
		return filepath.Join(s.dir, "sentinel.log")
	}
	return filepath.Join(s.dir, "redis.log")
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is a redis:// URL for the server, as REDIS_URL would hold it.
func (s *Server) URL() string {
	if s.password != "" {
		return "redis://:" + url.PathEscape(s.password) + "@" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// Client returns a new go-redis client for the server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// The outages a test can cause, and what each simulates:
//
//   - Stop: the process is killed (kill -9) and its data is gone, as when
//     a Redis node is lost. Clients get "connection refused" until
//     Restart, which comes back empty.
//   - StopSaving then Relaunch: Redis shuts down cleanly after saving its
//     dataset and comes back with it, as a restart with persistence (or a
//     short network outage). Clients get "connection refused" meanwhile.
//   - Freeze then Thaw (or Pause): the process is suspended (SIGSTOP) and
//     resumed with its data and its connections, as a hung server or a
//     network partition. Open connections stay open but nothing answers:
//     commands time out rather than fail fast, and new connections are
//     accepted by the kernel but never greeted.

// Stop kills the server (kill -9) and discards anything StopSaving saved:
// the next Relaunch or Restart starts empty. Safe to call more than once;
// used by cleanup.
func (s *Server) Stop() {
	s.Crash()
	if !s.sentinel {
		_ = os.Remove(filepath.Join(s.dir, "dump.rdb"))
	}
}

// Crash kills the server (kill -9) and keeps its files: Relaunch then
// loads the last snapshot saved (SAVE), losing the writes made since, as a
// Redis restarted from an RDB snapshot does.
func (s *Server) Crash() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again on the same port after Stop, with an
// empty dataset (persistence is off), as after losing a Redis node.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.Relaunch()
}

// StopSaving saves the dataset to disk and stops the server (SHUTDOWN
// SAVE); Relaunch brings it back with its data.
func (s *Server) StopSaving() {
	s.tb.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password, MaxRetries: -1})
	defer c.Close()
	// SHUTDOWN never answers when it succeeds: the connection just closes.
	_ = c.Do(context.Background(), "SHUTDOWN", "SAVE").Err()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		s.tb.Fatalf("redistest: redis-server on %s did not shut down within 10s", s.Addr())
	}
}

// Relaunch starts the server again on the same port: with the data
// StopSaving saved, or empty after Stop.
func (s *Server) Relaunch() {
	s.tb.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		s.tb.Fatalf("redistest: Relaunch of %s while it runs: Stop or StopSaving it first", s.Addr())
	}
	if err := s.launch(); err != nil {
		s.tb.Fatalf("redistest: relaunching redis-server: %v", err)
	}
}

// Freeze suspends the server (SIGSTOP) until Thaw: it keeps its data and
// connections but answers nothing.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

// Pause freezes the server for d and returns at once; it thaws by itself.
func (s *Server) Pause(d time.Duration) {
	s.Freeze()
	time.AfterFunc(d, s.Thaw)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}
