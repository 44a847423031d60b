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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by one test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

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

// Start launches a fresh redis-server on a free loopback port and registers
// its shutdown with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	var lastErr error
	// A free port can be taken between our probe and redis binding it; retry.
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
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
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"),
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
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
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

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL for the server, as REDIS_URL would hold it.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a new go-redis client for the server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server. Safe to call more than once; used to simulate a
// Redis outage and by cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port after Stop, with an
// empty dataset (persistence is off), as after losing a Redis node.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.tb.Fatalf("redistest: restarting redis-server: %v", err)
	}
}
