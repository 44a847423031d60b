// Package pacer keeps every sync, in every executor process, within the
// rate limits of the APIs it calls — Notion's own included.
//
// A pacer is a budget of R requests per interval, kept in Redis and decided
// by GCRA on the Redis server's clock (redis_rate's algorithm), so processes
// never have to agree on time. The consumers (syncs) that used a pacer in
// the last ActiveWindow split it evenly: each may send R/n, n being how many
// are active. The split is work-conserving: a consumer alone gets all of R,
// and consumers over their share borrow, in turns, what the others leave
// unused (see rdb.PacerTake). One Lua script per attempt decides the
// global budget, the consumer's share, its activity and the operators'
// counters together.
//
// Waiting sleeps for the time the script says, never spins. Inside one
// process the goroutines of one consumer queue locally and one of them at a
// time asks Redis, so a sync with many goroutines costs no more round trips
// than one with a single goroutine — and gets no more than its share.
package pacer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/rdb"
)

// Waiter blocks until one request on a pacer may go. Pacer (shared, Redis)
// and Local (one process) both implement it.
type Waiter interface {
	Wait(ctx context.Context, pacer string, lim Limit, consumer string) error
}

// ErrUnavailable is wrapped by Wait's error when Redis cannot be reached:
// no request was granted, and the caller should retry its task later.
var ErrUnavailable = rdb.ErrUnavailable

// ActiveWindowDefault is how long a consumer keeps its share after its
// last request.
const ActiveWindowDefault = 3 * time.Second

// minSleep keeps a refusal whose wait rounds to nothing from turning into a
// busy loop.
const minSleep = 200 * time.Microsecond

// Config configures a Pacer.
type Config struct {
	// Redis is where pacers live; the caller owns the client.
	Redis redis.UniversalClient
	// ActiveWindow is how long after its last request a consumer still
	// counts as using a pacer (and keeps its share); after that, the
	// others split its share. Default ActiveWindowDefault. Every process
	// sharing pacers must use the same window.
	ActiveWindow time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Pacer waits on Redis-backed pacers shared by every process. It is safe
// for concurrent use.
type Pacer struct {
	rdb    *rdb.RDB
	window time.Duration
	log    *slog.Logger

	mu    sync.Mutex
	slots map[slotKey]*slot

	// Round trips to Redis made by Wait and the time they took, for the
	// benchmark's cost figures.
	calls    atomic.Int64
	callTime atomic.Int64
}

type slotKey struct{ pacer, consumer string }

// slot queues one consumer's goroutines of this process on one pacer.
type slot struct {
	turn chan struct{} // holding it = the one goroutine asking Redis
	refs int           // goroutines using the slot; under Pacer.mu
	// notBefore (unix ns) is when the consumer may be granted again after
	// its last grant (within its share, or budget to borrow): asking Redis
	// sooner would only be refused.
	notBefore atomic.Int64
}

// New returns a Pacer on cfg.Redis.
func New(cfg Config) (*Pacer, error) {
	if cfg.Redis == nil {
		return nil, errors.New("pacer: Config.Redis is nil: pass the Redis client the pacers live on")
	}
	if cfg.ActiveWindow < 0 {
		return nil, fmt.Errorf("pacer: Config.ActiveWindow is %v: use 0 for the default (%v) or a positive duration", cfg.ActiveWindow, ActiveWindowDefault)
	}
	if cfg.ActiveWindow == 0 {
		cfg.ActiveWindow = ActiveWindowDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pacer{
		rdb:    rdb.New(cfg.Redis),
		window: cfg.ActiveWindow,
		log:    cfg.Logger,
		slots:  map[slotKey]*slot{},
	}, nil
}

// Wait blocks until consumer may send one request on the pacer named
// pacer, whose whole budget is lim. It returns ctx's error (wrapped) when
// ctx ends first, and an error wrapping ErrUnavailable when Redis cannot be
// reached; in both cases no request was granted.
func (p *Pacer) Wait(ctx context.Context, pacer string, lim Limit, consumer string) error {
	_, err := p.wait(ctx, pacer, lim, consumer)
	return err
}

// wait is Wait, also returning the grant's time on the Redis server's clock
// (the clock the budget is kept on), which the tests check windows against.
func (p *Pacer) wait(ctx context.Context, pacer string, lim Limit, consumer string) (time.Time, error) {
	if err := checkNames(pacer, consumer); err != nil {
		return time.Time{}, err
	}
	if err := lim.Validate(pacer); err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	waited := false
	s := p.slot(pacer, consumer)
	defer p.release(pacer, consumer, s)
	select {
	case s.turn <- struct{}{}:
	default:
		waited = true
		select {
		case s.turn <- struct{}{}:
		case <-ctx.Done():
			return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, waited)
		}
	}
	defer func() { <-s.turn }()

	req := rdb.PacerRequest{Pacer: pacer, Consumer: consumer, Limit: lim.rate(), ActiveWindow: p.window}
	loggedCooldown := false
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, waited)
		}
		if d := time.Until(time.Unix(0, s.notBefore.Load())); d > 0 {
			waited = true
			if !sleep(ctx, d) {
				return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, waited)
			}
		}
		if waited {
			req.Waited = max(time.Since(start), time.Microsecond)
		}
		t0 := time.Now()
		res, err := p.rdb.PacerTake(ctx, req)
		p.calls.Add(1)
		p.callTime.Add(int64(time.Since(t0)))
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, waited)
			}
			if errors.Is(err, rdb.ErrUnavailable) {
				return time.Time{}, fmt.Errorf("pacer %q: Redis is unreachable, so no request was granted to consumer %q; retry the task later: %w", pacer, consumer, err)
			}
			return time.Time{}, fmt.Errorf("pacer %q: consumer %q: %w", pacer, consumer, err)
		}
		if res.Allowed > 0 {
			var nb int64
			if res.Next > 0 {
				nb = time.Now().Add(res.Next).UnixNano()
			}
			s.notBefore.Store(nb)
			if res.Delay > 0 && !sleep(ctx, res.Delay) {
				// The slot is spent and the wait already counted.
				return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, false)
			}
			return res.At, nil
		}
		waited = true
		d := max(res.RetryAfter, minSleep)
		if res.Reason == "cooldown" {
			if !loggedCooldown {
				p.log.DebugContext(ctx, "pacer cooling down", "pacer", pacer, "consumer", consumer, "remaining", d)
				loggedCooldown = true
			}
		} else {
			// Shares change when consumers come and go: look again at
			// least once per active window.
			d = min(d, p.window)
		}
		if !sleep(ctx, d) {
			return time.Time{}, p.gaveUp(ctx, pacer, consumer, start, waited)
		}
	}
}

// gaveUp returns the error of a Wait whose ctx ended, after counting the
// wait for operators (best effort: the caller is leaving anyway).
func (p *Pacer) gaveUp(ctx context.Context, pacer, consumer string, start time.Time, waited bool) error {
	if waited {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 250*time.Millisecond)
		if err := p.rdb.PacerRecordWait(rctx, pacer, consumer, time.Since(start)); err != nil {
			p.log.DebugContext(ctx, "pacer: could not count an abandoned wait", "pacer", pacer, "consumer", consumer, "err", err)
		}
		cancel()
	}
	return fmt.Errorf("pacer %q: consumer %q stopped waiting: %w", pacer, consumer, ctx.Err())
}

func (p *Pacer) slot(pacer, consumer string) *slot {
	k := slotKey{pacer, consumer}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.slots[k]
	if s == nil {
		s = &slot{turn: make(chan struct{}, 1)}
		p.slots[k] = s
	}
	s.refs++
	return s
}

// release forgets an idle slot once its notBefore has passed, so the map
// holds only consumers in use or about to be.
func (p *Pacer) release(pacer, consumer string, s *slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.refs--
	if s.refs == 0 && time.Now().UnixNano() >= s.notBefore.Load() {
		delete(p.slots, slotKey{pacer, consumer})
	}
	if len(p.slots) > 1024 {
		now := time.Now().UnixNano()
		for k, o := range p.slots {
			if o.refs == 0 && now >= o.notBefore.Load() {
				delete(p.slots, k)
			}
		}
	}
}

func checkNames(pacer, consumer string) error {
	if pacer == "" {
		return errors.New("pacer: the pacer name is empty: name the budget the request counts against")
	}
	if consumer == "" {
		return fmt.Errorf("pacer %q: the consumer is empty: pass the sync the request is for", pacer)
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
