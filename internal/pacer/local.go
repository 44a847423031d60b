package pacer

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"
)

// Local paces within one process with golang.org/x/time/rate: for code that
// runs outside an executor (tests, previews) where no shared pacer exists.
// Each pacer name has one budget for all its consumers; fairness between
// them is not attempted. It is safe for concurrent use.
type Local struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// NewLocal returns an empty Local.
func NewLocal() *Local { return &Local{limiters: map[string]*rate.Limiter{}} }

// Wait blocks until one request may go on the pacer, or ctx ends (its error
// is returned, wrapped).
func (l *Local) Wait(ctx context.Context, pacer string, lim Limit, consumer string) error {
	if err := checkNames(pacer, consumer); err != nil {
		return err
	}
	if err := lim.Validate(pacer); err != nil {
		return err
	}
	lim = lim.withDefaults()
	every := rate.Limit(float64(lim.Requests) / lim.Interval.Seconds())

	l.mu.Lock()
	rl := l.limiters[pacer]
	if rl == nil {
		rl = rate.NewLimiter(every, lim.Burst)
		l.limiters[pacer] = rl
	} else if rl.Limit() != every || rl.Burst() != lim.Burst {
		rl.SetLimit(every)
		rl.SetBurst(lim.Burst)
	}
	l.mu.Unlock()

	// Reserve and sleep rather than rl.Wait, whose error when a deadline
	// is too close does not wrap ctx's.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pacer %q: consumer %q stopped waiting: %w", pacer, consumer, err)
	}
	r := rl.Reserve()
	if !r.OK() {
		return fmt.Errorf("pacer %q: %v cannot grant a single request", pacer, lim)
	}
	if d := r.Delay(); d > 0 && !sleep(ctx, d) {
		r.Cancel()
		return fmt.Errorf("pacer %q: consumer %q stopped waiting: %w", pacer, consumer, ctx.Err())
	}
	return nil
}

var (
	_ Waiter = (*Pacer)(nil)
	_ Waiter = (*Local)(nil)
)
