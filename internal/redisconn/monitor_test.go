package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// logs records a Monitor's log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	return nil
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *logs) count(prefix string) int {
	n := 0
	for _, s := range l.all() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func startMonitor(t *testing.T, cfg redisconn.Config) (*redisconn.Monitor, *logs) {
	t.Helper()
	l := &logs{}
	cfg.Logger = slog.New(l)
	m, err := redisconn.NewMonitor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m, l
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var backLine = regexp.MustCompile(`^INFO Redis is back after \d+\.\ds$`)

// A Redis restart with its data: one warning when it goes, one line when
// it is back, however many commands fail in between; WaitUp blocks for
// the outage.
func TestMonitorLogsOnceAnOutageAndItsEnd(t *testing.T) {
	r := redistest.Start(t)
	c := r.Client()
	m, l := startMonitor(t, redisconn.Config{Client: c, Interval: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond})
	ctx := context.Background()
	if err := m.WaitUp(ctx); err != nil || !m.Up() {
		t.Fatalf("WaitUp = %v, Up = %v with Redis running", err, m.Up())
	}
	c.Set(ctx, "k", "v", 0)
	r.StopSaving()
	waitFor(t, 5*time.Second, "the outage to be noticed", func() bool { return !m.Up() })
	for range 5 {
		err := c.Get(ctx, "k").Err()
		if !m.ReportError(err) {
			t.Fatalf("ReportError(%v) = false during an outage", err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- m.WaitUp(ctx) }()
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-waited:
		t.Fatalf("WaitUp returned %v while Redis is down", err)
	default:
	}
	r.Relaunch()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitUp still waits 5s after Redis is back")
	}
	if !m.Up() || c.Get(ctx, "k").Val() != "v" {
		t.Fatalf("after the outage: Up %v, data %q", m.Up(), c.Get(ctx, "k").Val())
	}
	got := l.all()
	want := fmt.Sprintf("WARN Redis unreachable at %s; retrying; executors and schedulers keep running", r.Addr())
	if len(got) != 2 || got[0] != want || !backLine.MatchString(got[1]) {
		t.Fatalf("log lines = %q, want exactly\n%q\nand \"INFO Redis is back after N.Ns\"", got, want)
	}
	if m.Outages() != 1 {
		t.Fatalf("Outages() = %d", m.Outages())
	}
}

// A frozen Redis keeps its connections but answers nothing: the ping
// timeout finds it.
func TestMonitorNoticesAFrozenRedis(t *testing.T) {
	r := redistest.Start(t)
	m, l := startMonitor(t, redisconn.Config{Client: r.Client(), Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond})
	r.Freeze()
	waitFor(t, 5*time.Second, "the frozen Redis to be noticed", func() bool { return !m.Up() })
	time.Sleep(time.Second) // several pings time out meanwhile
	r.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	if l.count("WARN") != 1 || l.count("INFO Redis is back") != 1 {
		t.Fatalf("log lines = %q", l.all())
	}
}

// With pings far apart, a reported failure is what finds the outage, and
// WaitUp after it waits for Redis rather than trusting the last ping.
func TestReportErrorFindsAnOutageAtOnce(t *testing.T) {
	r := redistest.Start(t)
	c := r.Client()
	m, l := startMonitor(t, redisconn.Config{Client: c, Interval: time.Hour, RetryInterval: 50 * time.Millisecond})
	time.Sleep(100 * time.Millisecond) // the first ping
	r.StopSaving()
	err := c.Ping(context.Background()).Err()
	began := time.Now()
	if !m.ReportError(err) {
		t.Fatalf("ReportError(%v) = false", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := m.WaitUp(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitUp right after a reported outage = %v, want it to wait", err)
	}
	cancel()
	waitFor(t, 3*time.Second, "the warning", func() bool { return l.count("WARN") == 1 })
	t.Logf("outage found %v after the report", time.Since(began))
	r.Relaunch()
	if err := m.WaitUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Errors that are not outages are not reported, and a failure that the
// next ping disproves costs no log line.
func TestReportErrorIgnoresOtherErrors(t *testing.T) {
	r := redistest.Start(t)
	c := r.Client()
	m, l := startMonitor(t, redisconn.Config{Client: c, Interval: time.Hour})
	ctx := context.Background()
	for _, err := range []error{nil, c.Get(ctx, "missing").Err(), c.Do(ctx, "NOSUCHCOMMAND").Err(), context.Canceled, fmt.Errorf("commit: %w", context.DeadlineExceeded)} {
		if m.ReportError(err) {
			t.Errorf("ReportError(%v) = true", err)
		}
	}
	if !m.ReportError(errors.New("dial tcp 10.0.0.1:6379: connect: connection refused")) {
		t.Fatal("a refused connection is not an outage")
	}
	if err := m.WaitUp(ctx); err != nil || !m.Up() {
		t.Fatalf("WaitUp = %v, Up = %v", err, m.Up())
	}
	if len(l.all()) != 0 {
		t.Fatalf("log lines = %q", l.all())
	}
	for line, want := range map[string]bool{
		`Failed to write server state data: UNKNOWN: redis command error: SADD failed: dial tcp 127.0.0.1:6379: connect: connection refused`: true,
		`recoverer: could not list lease expired tasks: INTERNAL_ERROR: redis eval error: EOF`:                                               true,
		`Dequeue error: i/o timeout`:               true,
		`retry: task "x" failed: upstream says no`: false,
	} {
		if got := m.ReportLog(line); got != want {
			t.Errorf("ReportLog(%q) = %v, want %v", line, got, want)
		}
	}
}

// WatchCommands reports the client's own failures: an outage is found by
// the first command that meets it, with no ping due for an hour.
func TestWatchCommandsFindsAnOutage(t *testing.T) {
	r := redistest.Start(t)
	c := r.Client()
	m, l := startMonitor(t, redisconn.Config{Client: c, Interval: time.Hour, RetryInterval: 50 * time.Millisecond, WatchCommands: true})
	time.Sleep(100 * time.Millisecond)
	r.StopSaving()
	_ = c.Set(context.Background(), "k", "v", 0).Err()
	waitFor(t, 3*time.Second, "the outage", func() bool { return !m.Up() && l.count("WARN") == 1 })
	r.Relaunch()
	if err := m.WaitUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the line that says Redis is back", func() bool { return l.count("INFO Redis is back") == 1 })
}

func TestWaitUpAfterStop(t *testing.T) {
	r := redistest.Start(t)
	m, _ := startMonitor(t, redisconn.Config{Client: r.Client(), RetryInterval: 50 * time.Millisecond})
	r.Stop()
	m.ReportError(errors.New("connection refused"))
	waited := make(chan error, 1)
	go func() { waited <- m.WaitUp(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, redisconn.ErrStopped) {
		t.Fatalf("WaitUp when the monitor stops = %v", err)
	}
	if err := m.WaitUp(context.Background()); !errors.Is(err, redisconn.ErrStopped) {
		t.Fatalf("WaitUp after Stop = %v", err)
	}
}

// Through Sentinel, the outage is a master's death and its end the
// failover: the monitor pings the new master through the same client.
func TestMonitorFollowsAFailover(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelConfig{})
	tg, err := redisconn.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tg.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, l := startMonitor(t, redisconn.Config{Client: c, Where: tg.Where(), Interval: 100 * time.Millisecond, RetryInterval: 100 * time.Millisecond})
	old := s.KillMaster()
	waitFor(t, 5*time.Second, "the master's death to be noticed", func() bool { return !m.Up() })
	s.WaitFailover(old, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitUp(ctx); err != nil {
		t.Fatalf("WaitUp after the failover: %v", err)
	}
	if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got := l.all()
	if len(got) != 2 || !strings.Contains(got[0], `Redis unreachable at master "mymaster" via Sentinels `) || !backLine.MatchString(got[1]) {
		t.Fatalf("log lines = %q", got)
	}
	var _ redis.UniversalClient = c
}

// forward is a handler set after the logger is made.
type forward struct{ h slog.Handler }

func (f *forward) Enabled(ctx context.Context, l slog.Level) bool  { return f.h.Enabled(ctx, l) }
func (f *forward) WithAttrs(as []slog.Attr) slog.Handler           { return f.h.WithAttrs(as) }
func (f *forward) WithGroup(n string) slog.Handler                 { return f.h.WithGroup(n) }
func (f *forward) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }

// startHandled starts a Monitor of r whose logger is also the one its
// Handler filters (the process's one logger: the Monitor's own lines
// stay), with a 300ms ping timeout and the given Settle.
func startHandled(t *testing.T, r *redistest.Server, settle time.Duration) (*redisconn.Monitor, *slog.Logger, *logs) {
	t.Helper()
	l := &logs{}
	fwd := &forward{}
	log := slog.New(fwd)
	m, err := redisconn.NewMonitor(redisconn.Config{Client: r.Client(), Logger: log, Interval: time.Hour, RetryInterval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Settle: settle})
	if err != nil {
		t.Fatal(err)
	}
	fwd.h = m.Handler(l)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m, log, l
}

// Handler keeps a process's logs to one warning per outage: lines about
// the outage are dropped while Redis is down, and kept when Redis answers
// (the refused connection was another server's).
func TestHandlerDropsOutageLinesWhileDown(t *testing.T) {
	r := redistest.Start(t)
	m, log, l := startHandled(t, r, 0)
	time.Sleep(50 * time.Millisecond)

	log.Error("notion: request failed", "err", errors.New("dial tcp 10.9.9.9:443: connect: connection refused"))
	log.Info("page committed")
	if got := l.all(); len(got) != 2 || got[0] != "ERROR notion: request failed" {
		t.Fatalf("with Redis up, lines = %q; want both kept", got)
	}

	r.StopSaving()
	for range 10 {
		log.Error("Dequeue error: UNKNOWN: redis eval error: dial tcp " + r.Addr() + ": connect: connection refused")
		log.Warn("scheduler tick failed; retrying at the next tick", "err", "rdb: acquire leader lease: redis unavailable: EOF")
	}
	log.Info("still running")
	r.Relaunch()
	if err := m.WaitUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the line that says Redis is back", func() bool { return l.count("INFO Redis is back") == 1 })
	got := l.all()[2:]
	if len(got) != 3 || !strings.HasPrefix(got[0], "WARN Redis unreachable at "+r.Addr()) || got[1] != "INFO still running" || !backLine.MatchString(got[2]) {
		t.Fatalf("during the outage, lines = %q; want the Monitor's warning, the info line and the Monitor's line when it is back", got)
	}
}

// Behind Sentinel a connection may still be dialled to the dead master a
// moment after the new one answers: a line about a refused connection just
// after an outage is its tail and goes to debug; later, a line about one
// is kept, since Redis answers and the refusal was someone else's.
func TestHandlerTakesLinesJustAfterAnOutageForItsTail(t *testing.T) {
	r := redistest.Start(t)
	// The check of a line waits at most 2×Timeout+100ms for its ping, well
	// inside Settle.
	const settle = 2 * time.Second
	m, log, l := startHandled(t, r, settle)
	refused := func() {
		log.Warn("scheduler tick failed; retrying at the next tick", "err", "rdb: read status: redis unavailable: dial tcp 127.0.0.1:1: connect: connection refused")
	}

	r.StopSaving()
	refused()
	r.Relaunch()
	if err := m.WaitUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the line that says Redis is back", func() bool { return l.count("INFO Redis is back") == 1 })
	refused()
	time.Sleep(settle)
	refused()
	got := l.all()
	if len(got) != 4 || !strings.HasPrefix(got[0], "WARN Redis unreachable at ") || !backLine.MatchString(got[1]) ||
		got[2] != "DEBUG scheduler tick failed; retrying at the next tick" || got[3] != "WARN scheduler tick failed; retrying at the next tick" {
		t.Fatalf("lines = %q; want the outage's two lines, the refusal just after it at debug, the one after Settle kept as a warning", got)
	}
}
