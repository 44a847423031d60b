package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures a Monitor.
type Config struct {
	// Client is the client to watch; the Monitor pings through it, so a
	// Sentinel client is "up" once it reaches the current master.
	Client redis.UniversalClient
	// Where names Redis in the log lines (Target.Where); default: the
	// client's address.
	Where  string
	Logger *slog.Logger
	// Interval is how often Redis is pinged while it is up (default 5s);
	// ReportError makes the next ping happen at once.
	Interval time.Duration
	// RetryInterval is how often Redis is pinged while it is down (default
	// 250ms): how soon after Redis is back WaitUp returns.
	RetryInterval time.Duration
	// Timeout bounds one ping (default 1s). A Redis that accepts
	// connections but does not answer (a hung or frozen server) is down
	// after this long.
	Timeout time.Duration
	// Settle is how long after an outage ends Handler still takes lines
	// about Redis being unreachable for its tail and logs them at debug
	// (default 5s). Behind Sentinel the new master answers before every
	// Sentinel agrees on it, so for a moment a new connection may still be
	// dialled to the dead master.
	Settle time.Duration
	// WatchCommands adds a go-redis hook to Client that reports every
	// failed command and dial to the Monitor, so that an outage is noticed
	// by the first command that meets it (asynq's included) rather than by
	// the next ping. The hook stays on the client after Stop (go-redis
	// cannot remove hooks) and then does nothing.
	WatchCommands bool
}

// ErrStopped is returned by WaitUp once the Monitor is stopped.
var ErrStopped = errors.New("redisconn: monitor stopped")

// Monitor watches a Redis client for outages: it logs one warning when
// Redis becomes unreachable and one line when it is back, and lets callers
// wait for it. A command that fails because Redis is unreachable should be
// handed to ReportError, then retried after WaitUp returns:
//
//	for {
//		err := commit(ctx)
//		if !mon.ReportError(err) {
//			return err // nil, or an error retrying cannot fix
//		}
//		if err := mon.WaitUp(ctx); err != nil {
//			return err
//		}
//	}
type Monitor struct {
	cfg  Config
	kick chan struct{}

	mu       sync.Mutex
	up       bool
	checking bool          // a failure was reported and no ping has settled it
	upCh     chan struct{} // closed while up && !checking
	settled  chan struct{} // closed when the ping that settles a reported failure returns
	reports  uint64        // failures reported so far
	since    time.Time     // start of the current outage
	backAt   time.Time     // end of the last outage
	outages  int
	started  bool
	stopped  bool
	stopCh   chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	inflight chan error // the ping still running after its timeout, if any
}

// NewMonitor returns a Monitor; Start starts it.
func NewMonitor(cfg Config) (*Monitor, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisconn: Config.Client is required")
	}
	if cfg.Where == "" {
		if c, ok := cfg.Client.(*redis.Client); ok && c.Options().Addr != "FailoverClient" {
			cfg.Where = c.Options().Addr
		} else {
			cfg.Where = "REDIS_URL"
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 250 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 5 * time.Second
	}
	upCh := make(chan struct{})
	close(upCh)
	m := &Monitor{cfg: cfg, kick: make(chan struct{}, 1), up: true, upCh: upCh, stopCh: make(chan struct{})}
	if cfg.WatchCommands {
		cfg.Client.AddHook(hook{m})
	}
	return m, nil
}

// Start starts pinging. Redis is assumed up (Open has just checked it);
// the first ping is immediate.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("redisconn: monitor already started")
	}
	m.started = true
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel, m.done = cancel, make(chan struct{})
	go m.run(bg)
	return nil
}

// Stop stops pinging and makes WaitUp return ErrStopped.
func (m *Monitor) Stop(ctx context.Context) error {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil
	}
	m.stopped = true
	close(m.stopCh)
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redisconn: stop monitor: %w", ctx.Err())
	}
}

// Up reports whether the last ping succeeded.
func (m *Monitor) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up
}

// DownSince reports whether Redis was unreachable at any time since t: an
// outage under way, or one that ended after t. An executor asks it when
// asynq ended a page's context (a lost task lease): an outage is not a
// crash. The reaper asks it before judging lost leases.
func (m *Monitor) DownSince(t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.up || m.backAt.After(t)
}

// Outages is how many outages the Monitor has seen.
func (m *Monitor) Outages() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.outages
}

// WaitUp returns once Redis answers: at once when it is up and no failure
// was reported since the last ping, else after the next successful ping.
// It returns ctx's error, or ErrStopped when the Monitor stops first.
func (m *Monitor) WaitUp(ctx context.Context) error {
	m.mu.Lock()
	ch, stopped := m.upCh, m.stopped
	m.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopCh:
		return ErrStopped
	}
}

// ReportError tells the Monitor about an error a command met and reports
// whether it is an outage (IsUnreachable): then the Monitor pings at once,
// and WaitUp waits for a ping that succeeds. Other errors (nil, redis.Nil,
// a script error, the caller's cancelled or expired context) are ignored
// and give false. Before Start, a reported outage makes WaitUp wait until
// the Monitor starts and a ping succeeds.
func (m *Monitor) ReportError(err error) bool {
	if !IsUnreachable(err) {
		return false
	}
	m.suspect()
	return true
}

// ReportLog is ReportError for a library's log line (asynq logs its Redis
// errors as text): it reports whether the line is about Redis being
// unreachable, so that the caller can drop it; the Monitor logs the outage
// once.
func (m *Monitor) ReportLog(line string) bool {
	if !MentionsUnreachable(line) {
		return false
	}
	m.suspect()
	return true
}

func (m *Monitor) suspect() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.suspectLocked()
}

func (m *Monitor) suspectLocked() {
	if m.stopped || !m.up {
		// Down already: the retry pings are running.
		return
	}
	m.reports++
	if !m.checking {
		m.checking = true
		m.upCh = make(chan struct{})
		m.settled = make(chan struct{})
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.kick:
		}
		m.mu.Lock()
		seq := m.reports
		m.mu.Unlock()
		err := m.ping(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-m.kick: // settle decides whether to ping again at once
		default:
		}
		next := m.settle(err, seq)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// ping pings with a deadline the driver cannot overrun: go-redis only
// honours a context's deadline on the socket when ContextTimeoutEnabled is
// set, and a frozen server would hold the ping for the read timeout. A ping
// still running after its timeout is waited for by the next one instead of
// starting another.
func (m *Monitor) ping(ctx context.Context) error {
	if m.inflight == nil {
		ch := make(chan error, 1)
		pctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
		go func() {
			defer cancel()
			ch <- m.cfg.Client.Ping(pctx).Err()
		}()
		m.inflight = ch
	}
	t := time.NewTimer(m.cfg.Timeout)
	defer t.Stop()
	select {
	case err := <-m.inflight:
		m.inflight = nil
		return err
	case <-t.C:
		return fmt.Errorf("no answer within %v: %w", m.cfg.Timeout, errTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

// settle records the outcome of a ping that began after seq failures were
// reported, logs the edges of an outage, and returns when to ping next.
func (m *Monitor) settle(err error, seq uint64) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	wasUp := m.up
	if err == nil && m.checking && m.reports > seq {
		// A failure reported while this ping ran is not disproved by it:
		// ping again, soon.
		return 20 * time.Millisecond
	}
	if m.checking {
		m.checking = false
		close(m.settled)
	}
	if err == nil {
		m.up = true
		// Log before waking the waiters: what they log next follows it.
		if !wasUp {
			m.backAt = time.Now()
			down := m.backAt.Sub(m.since)
			m.cfg.Logger.Info(fmt.Sprintf("Redis is back after %.1fs", down.Seconds()), "redis", m.cfg.Where, "downtime", down.Round(time.Millisecond), ownAttr)
		}
		select {
		case <-m.upCh:
		default:
			close(m.upCh)
		}
		return m.cfg.Interval
	}
	if m.upCh == nil || isClosed(m.upCh) {
		m.upCh = make(chan struct{})
	}
	m.up = false
	if wasUp {
		m.since = time.Now()
		m.outages++
		m.cfg.Logger.Warn(fmt.Sprintf("Redis unreachable at %s; retrying; executors and schedulers keep running", m.cfg.Where), "err", cause(err), ownAttr)
	}
	return m.cfg.RetryInterval
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// hook reports the client's failed commands and dials to the Monitor.
type hook struct{ m *Monitor }

func (h hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.m.ReportError(err)
		}
		return c, err
	}
}

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil {
			h.m.ReportError(err)
		}
		return err
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil {
			h.m.ReportError(err)
		}
		return err
	}
}

// ownAttr marks the Monitor's own lines, which Handler never drops.
var ownAttr = slog.String("component", "redisconn")

// Handler wraps a log handler so that the process logs an outage once:
// a warning or error whose message or attributes say Redis is unreachable
// (asynq's "Dequeue error: … connection refused", a scheduler tick that
// failed on a refused connection, …) is reported to the Monitor and
// dropped if Redis is down; the Monitor's own warning stands for all of
// them. A line that arrives while Redis is thought up waits for the ping
// it triggers (at most about Config.Timeout) and is kept if Redis
// answers: the refused connection was someone else's (Notion's, say) —
// unless the outage ended less than Config.Settle ago, when the line is
// the outage's tail and is logged at debug.
func (m *Monitor) Handler(next slog.Handler) slog.Handler {
	return &filter{m: m, next: next}
}

type filter struct {
	m    *Monitor
	next slog.Handler
}

func (f *filter) Enabled(ctx context.Context, l slog.Level) bool { return f.next.Enabled(ctx, l) }

func (f *filter) WithAttrs(as []slog.Attr) slog.Handler {
	return &filter{m: f.m, next: f.next.WithAttrs(as)}
}

func (f *filter) WithGroup(name string) slog.Handler {
	return &filter{m: f.m, next: f.next.WithGroup(name)}
}

func (f *filter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || !aboutOutage(r) {
		return f.next.Handle(ctx, r)
	}
	down, settling := f.m.downAfterCheck()
	switch {
	case down:
		return nil
	case settling:
		if !f.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return f.next.Handle(ctx, r)
}

func aboutOutage(r slog.Record) bool {
	if MentionsUnreachable(r.Message) {
		return true
	}
	found, own := false, false
	r.Attrs(func(a slog.Attr) bool {
		if a.Equal(ownAttr) {
			own = true
			return false
		}
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindString:
			found = found || MentionsUnreachable(v.String())
		case slog.KindAny:
			if err, ok := v.Any().(error); ok {
				found = found || IsUnreachable(err)
			}
		}
		return true
	})
	return found && !own
}

// downAfterCheck reports whether Redis is down, first pinging it when it
// was thought up, and whether an outage ended less than Config.Settle ago.
func (m *Monitor) downAfterCheck() (down, settling bool) {
	m.mu.Lock()
	if m.stopped || !m.started {
		m.mu.Unlock()
		return false, false
	}
	if !m.up {
		m.mu.Unlock()
		return true, false
	}
	m.suspectLocked()
	settled := m.settled
	m.mu.Unlock()
	t := time.NewTimer(2*m.cfg.Timeout + 100*time.Millisecond)
	defer t.Stop()
	select {
	case <-settled:
	case <-t.C:
	case <-m.stopCh:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.up, m.up && !m.backAt.IsZero() && time.Since(m.backAt) < m.cfg.Settle
}
