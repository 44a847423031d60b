package pacer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Cooldown makes every Wait on the pacer, in every process, wait d from now
// — typically after the API answered 429 with a Retry-After. The time is
// kept on the Redis server's clock; a shorter cool-down never cuts a longer
// one short.
func (p *Pacer) Cooldown(ctx context.Context, pacer string, d time.Duration) error {
	if pacer == "" {
		return errors.New("pacer: cooldown: the pacer name is empty")
	}
	if d <= 0 {
		return fmt.Errorf("pacer %q: cooldown of %v: give a positive duration (e.g. the Retry-After of a 429)", pacer, d)
	}
	until, err := p.rdb.PacerCooldown(ctx, pacer, d)
	if err != nil {
		return fmt.Errorf("pacer %q: cooldown of %v: %w", pacer, d, err)
	}
	p.log.InfoContext(ctx, "pacer cooling down", "pacer", pacer, "for", d, "until", until)
	return nil
}

// CooldownRemaining returns how long the pacer's cool-down still lasts, 0
// when there is none.
func (p *Pacer) CooldownRemaining(ctx context.Context, pacer string) (time.Duration, error) {
	if pacer == "" {
		return 0, errors.New("pacer: cooldown remaining: the pacer name is empty")
	}
	d, err := p.rdb.PacerCooldownRemaining(ctx, pacer)
	if err != nil {
		return 0, fmt.Errorf("pacer %q: %w", pacer, err)
	}
	return d, nil
}
