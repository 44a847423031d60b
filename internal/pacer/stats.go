package pacer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ConsumerStats are one consumer's counters on a pacer.
type ConsumerStats struct {
	// Granted counts requests let through; Borrowed is the part of them
	// taken from budget other consumers left unused.
	Granted  int64
	Borrowed int64
	// Waits counts Wait calls that had to wait (granted or given up), and
	// WaitTime is the time they waited in total.
	Waits    int64
	WaitTime time.Duration
}

// Stats are a pacer's counters, kept in Redis for operators.
type Stats struct {
	Granted  int64
	Borrowed int64
	Waits    int64
	WaitTime time.Duration
	// Active are the consumers that used the pacer within the active
	// window and so share it now; Waiting are those refused and waiting
	// right now. Both sorted.
	Active      []string
	Waiting     []string
	PerConsumer map[string]ConsumerStats
	// CooldownUntil is when the current cool-down ends (zero: none), on
	// the Redis server's clock.
	CooldownUntil time.Time
	// LastMinute counts the requests granted in the last minute (50 to
	// 60 s, in six-second steps).
	LastMinute int64
	// Cooldowns counts the pacer's cool-downs (one per 429 for Notion's
	// budgets); LastCooldown is when the last one began.
	Cooldowns    int64
	LastCooldown time.Time
	// RateLimited counts Notion's 429s by the budget they named
	// (connection, workspace, endpoint), on a token's connection pacer.
	RateLimited map[string]int64
}

// Stats reads a pacer's counters and consumers.
func (p *Pacer) Stats(ctx context.Context, pacer string) (Stats, error) {
	if pacer == "" {
		return Stats{}, errors.New("pacer: stats: the pacer name is empty")
	}
	raw, err := p.rdb.PacerStats(ctx, pacer, p.window)
	if err != nil {
		return Stats{}, fmt.Errorf("pacer %q: %w", pacer, err)
	}
	st := Stats{
		Granted:       raw.Granted,
		Borrowed:      raw.Borrowed,
		Waits:         raw.Waits,
		WaitTime:      raw.WaitTime,
		Active:        raw.Active,
		Waiting:       raw.Waiting,
		PerConsumer:   make(map[string]ConsumerStats, len(raw.PerConsumer)),
		CooldownUntil: raw.CooldownUntil,
		LastMinute:    raw.LastMinute,
		Cooldowns:     raw.Cooldowns,
		LastCooldown:  raw.LastCooldown,
		RateLimited:   raw.RateLimited,
	}
	for c, v := range raw.PerConsumer {
		st.PerConsumer[c] = ConsumerStats{Granted: v.Granted, Borrowed: v.Borrowed, Waits: v.Waits, WaitTime: v.WaitTime}
	}
	return st, nil
}
