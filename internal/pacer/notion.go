package pacer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Budget is one of Notion's request budgets a 429 can name. The values
// are notion.Budget's; the pacer keeps its own type so that processes
// that only read pacers (schedulers) do not link the Notion client.
type Budget string

// Notion's budgets.
const (
	BudgetConnection Budget = "connection"
	BudgetWorkspace  Budget = "workspace"
	BudgetEndpoint   Budget = "endpoint"
	BudgetBlocked    Budget = "blocked"
)

// RateLimit is a 429 as the pacer needs it.
type RateLimit struct {
	Budget     Budget
	RetryAfter time.Duration
	// Route is the endpoint's route, for an endpoint's budget.
	Route string
}

// NotionPerMinuteDefault is Notion's documented average: 3 requests per
// second per integration.
const NotionPerMinuteDefault = 180

// NotionLimit is the pacer limit for Notion's API at perMinute requests per
// minute per integration token (SYNQ_NOTION_RATE_LIMIT). ok is false when
// perMinute is 0 or less: no pacing. The burst is one second's worth
// (3 at the default): Notion tolerates short bursts over its average, and
// a burst keeps a consumer that wakes up late from losing its turn.
func NotionLimit(perMinute int) (lim Limit, ok bool) {
	if perMinute <= 0 {
		return Limit{}, false
	}
	return Limit{Requests: perMinute, Interval: time.Minute, Burst: max(1, perMinute/60)}, true
}

// NotionPacerName is the name of the pacer shared by every process that
// calls Notion with token: one budget per integration, as Notion counts.
// It is derived from a hash of the token, so the token itself never
// reaches Redis keys, logs or the operator's views.
func NotionPacerName(token string) string {
	sum := sha256.Sum256([]byte("synq notion pacer\x00" + token))
	return "notion:" + hex.EncodeToString(sum[:8])
}

// NotionConfig says how one token's Notion calls are paced.
type NotionConfig struct {
	// Token is the integration token (its hash names the connection's
	// pacer).
	Token string
	// PerMinute is the connection's budget (SYNQ_NOTION_RATE_LIMIT).
	PerMinute int
	// Workspace names the Notion workspace the token belongs to
	// (SYNQ_NOTION_WORKSPACE). Every token given the same name shares the
	// workspace's cool-downs, and its budget when WorkspacePerMinute is
	// set. "" means the token is alone: a workspace 429 cools down this
	// token only.
	Workspace string
	// WorkspacePerMinute is the budget every token of Workspace shares
	// (SYNQ_NOTION_WORKSPACE_RATE_LIMIT); 0 paces only each connection,
	// and the workspace's 429s still cool every token of it down.
	WorkspacePerMinute int
}

// NotionBudgets paces Notion calls the way Notion counts them: a budget
// per connection (token), one per workspace shared by its connections,
// and endpoint limits. A 429 names the budget that ran out
// (additional_data.rate_limit_reason) and cools down that one only, for
// every executor: a workspace 429 holds back every token of the
// workspace, an endpoint 429 only the calls to that endpoint.
type NotionBudgets struct {
	p          *Pacer
	connection string
	connLimit  Limit
	workspace  string // "" when no workspace is declared
	wsLimit    Limit
	wsPaced    bool
	warnedWS   atomic.Bool
}

// Notion returns the budgets of cfg's token; ok is false when
// cfg.PerMinute turns pacing off.
func (p *Pacer) Notion(cfg NotionConfig) (b *NotionBudgets, ok bool) {
	lim, ok := NotionLimit(cfg.PerMinute)
	if !ok {
		return nil, false
	}
	b = &NotionBudgets{p: p, connection: NotionPacerName(cfg.Token), connLimit: lim}
	if ws := strings.TrimSpace(cfg.Workspace); ws != "" {
		b.workspace = NotionWorkspacePacerName(ws)
		b.wsLimit, b.wsPaced = NotionLimit(cfg.WorkspacePerMinute)
	}
	return b, true
}

// NotionWorkspacePacerName is the pacer of a workspace named by operators
// (SYNQ_NOTION_WORKSPACE): the name is kept readable, without the braces
// that would break Redis hash tags.
func NotionWorkspacePacerName(workspace string) string {
	return "notion-workspace:" + pacerSafe(workspace)
}

// ConnectionPacer is the name of the connection's pacer.
func (b *NotionBudgets) ConnectionPacer() string { return b.connection }

// WorkspacePacer is the name of the workspace's pacer, "" when none.
func (b *NotionBudgets) WorkspacePacer() string { return b.workspace }

// EndpointPacer is the name of the cool-down of one endpoint (a route
// such as "PATCH /v1/pages/{id}") on this connection.
func (b *NotionBudgets) EndpointPacer(route string) string {
	return b.connection + ":endpoint:" + pacerSafe(route)
}

// Wait blocks until consumer may send one request to route: the
// connection's budget (and its cool-down), the workspace's budget or
// cool-down, and the endpoint's cool-down.
func (b *NotionBudgets) Wait(ctx context.Context, route, consumer string) error {
	if err := b.p.Wait(ctx, b.connection, b.connLimit, consumer); err != nil {
		return err
	}
	if b.workspace != "" {
		if b.wsPaced {
			if err := b.p.Wait(ctx, b.workspace, b.wsLimit, consumer); err != nil {
				return err
			}
		} else if err := b.waitCooldown(ctx, b.workspace); err != nil {
			return err
		}
	}
	if route == "" {
		return nil
	}
	return b.waitCooldown(ctx, b.EndpointPacer(route))
}

// waitCooldown sleeps out a pacer's cool-down, however often another
// process extends it meanwhile.
func (b *NotionBudgets) waitCooldown(ctx context.Context, pacer string) error {
	for {
		d, err := b.p.CooldownRemaining(ctx, pacer)
		if err != nil || d <= 0 {
			return err
		}
		if !sleep(ctx, d) {
			return fmt.Errorf("pacer %q: stopped waiting out the cool-down: %w", pacer, ctx.Err())
		}
	}
}

// defaultNotionCooldown is the cool-down of a 429 without Retry-After.
const defaultNotionCooldown = time.Second

// RateLimited cools down the budget a 429 named, for every process, for
// its Retry-After (which may exceed a minute for the workspace's budget).
// A workspace that blocks API requests has nothing to wait out.
func (b *NotionBudgets) RateLimited(ctx context.Context, rl RateLimit) error {
	d := rl.RetryAfter
	if d <= 0 {
		d = defaultNotionCooldown
	}
	// Operators see the token's 429s by budget (the console's pacers).
	if err := b.p.rdb.PacerNote429(ctx, b.connection, budgetName(rl.Budget)); err != nil {
		b.p.log.DebugContext(ctx, "could not count a 429", "err", err)
	}
	switch rl.Budget {
	case BudgetBlocked:
		return nil
	case BudgetWorkspace:
		if b.workspace != "" {
			return b.p.Cooldown(ctx, b.workspace, d)
		}
		if b.warnedWS.CompareAndSwap(false, true) {
			b.p.log.WarnContext(ctx, "Notion rate-limited the workspace's budget, shared by all its connections; only this token cools down: set SYNQ_NOTION_WORKSPACE to the same name on every executor of the workspace's tokens so they all wait", "retry_after", d)
		}
		return b.p.Cooldown(ctx, b.connection, d)
	case BudgetEndpoint:
		if rl.Route != "" {
			return b.p.Cooldown(ctx, b.EndpointPacer(rl.Route), d)
		}
	}
	return b.p.Cooldown(ctx, b.connection, d)
}

// pacerSafe keeps a name usable inside a Redis hash tag.
func pacerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '{', '}':
			return -1
		case ' ':
			return '_'
		}
		return r
	}, s)
}

// budgetName names a 429's budget in the pacer's counters.
func budgetName(b Budget) string {
	if b == "" {
		return string(BudgetConnection)
	}
	return pacerSafe(string(b))
}
