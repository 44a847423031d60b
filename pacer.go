package synq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/synqhq/synq/internal/spec"
)

// PacerConfig is a rate budget: AllowedRequests per Interval.
type PacerConfig struct {
	AllowedRequests int
	Interval        time.Duration
}

// Pacer is a rate budget shared by the syncs that use it, across every
// executor process. Inside an executor, Wait goes through the Redis-backed
// shared pacer with the running sync as consumer: the syncs using the pacer
// at the same time split the budget evenly, and a sync alone gets all of it.
// Outside an executor (a test calling Execute directly), Wait paces locally.
type Pacer struct {
	key string
	cfg PacerConfig

	once  sync.Once
	local *rate.Limiter
}

// Pacer declares a pacer under key. Call Wait before each request to the
// API the pacer guards.
func (w *Worker) Pacer(key string, cfg PacerConfig) *Pacer {
	_, taken := w.pacers[key]
	w.checkKey("pacer", key, taken)
	if taken {
		return w.pacers[key]
	}
	p := &Pacer{key: key, cfg: cfg}
	w.pacers[key] = p
	w.pacerOrder = append(w.pacerOrder, key)
	return p
}

// Key returns the pacer's key.
func (p *Pacer) Key() string { return p.key }

func (p *Pacer) validate() error {
	var errs []error
	if p.cfg.AllowedRequests <= 0 {
		errs = append(errs, fmt.Errorf("pacer %q: AllowedRequests is %d: allow at least 1 request per interval", p.key, p.cfg.AllowedRequests))
	}
	if p.cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("pacer %q: Interval is %v: set a positive interval, e.g. time.Second", p.key, p.cfg.Interval))
	}
	return errors.Join(errs...)
}

// Wait blocks until one request may go, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.validate(); err != nil {
		return err
	}
	if e := spec.ExecFrom(ctx); e != nil && e.Pacers != nil {
		sp := spec.Pacer{Key: p.key, AllowedRequests: p.cfg.AllowedRequests, Interval: p.cfg.Interval}
		if err := e.Pacers.WaitPacer(ctx, sp, e.Sync); err != nil {
			return fmt.Errorf("pacer %q: %w", p.key, err)
		}
		return nil
	}
	p.once.Do(func() {
		every := p.cfg.Interval / time.Duration(p.cfg.AllowedRequests)
		p.local = rate.NewLimiter(rate.Every(every), 1)
	})
	if err := p.local.Wait(ctx); err != nil {
		return fmt.Errorf("pacer %q: %w", p.key, err)
	}
	return nil
}
