package pacer

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// notionClient is a client for token on the emulator, paced by b the way
// the executor wires it, that does not retry (so a test sees each 429).
func notionClient(t *testing.T, emu *emulator.Server, token string, b *NotionBudgets) *notion.Client {
	t.Helper()
	c, err := notion.New(notion.Config{
		BaseURL: emu.URL(), Token: token, MaxRetries: -1, Logger: slog.New(slog.DiscardHandler),
		Before: func(ctx context.Context, r notion.Request) error { return b.Wait(ctx, r.Route, "test") },
		OnRateLimited: func(ctx context.Context, rl notion.RateLimit) {
			if err := b.RateLimited(ctx, RateLimit{Budget: Budget(rl.Budget), RetryAfter: rl.RetryAfter, Route: rl.Route}); err != nil {
				t.Errorf("RateLimited: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func is429(err error) bool {
	var e *notion.Error
	return errors.As(err, &e) && e.Status == 429
}

// A 429 cools down the budget it names, for every token that shares it,
// and only that budget.
func TestNotionBudgetsCoolDownWhatTheReasonNames(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, 0)
	emu := notiontest.Start(t, emulator.Config{Tokens: []string{"tok-a", "tok-b", "tok-c", "tok-d"}})
	ctx := context.Background()
	budgets := func(token, ws string) *NotionBudgets {
		b, ok := p.Notion(NotionConfig{Token: token, PerMinute: 6000, Workspace: ws})
		if !ok {
			t.Fatal("Notion pacing is off")
		}
		return b
	}
	a, b, c := budgets("tok-a", "acme"), budgets("tok-b", "acme"), budgets("tok-c", "")
	ca := notionClient(t, emu, "tok-a", a)
	remaining := func(pacer string) time.Duration {
		d, err := p.CooldownRemaining(ctx, pacer)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// The workspace's budget, with a Retry-After over a minute.
	emu.SetFaults(emulator.Faults{Rate429: 1, Reason429: notion.ReasonWorkspace, RetryAfter429: 90 * time.Second})
	if _, err := ca.ListUsers(ctx, ""); !is429(err) {
		t.Fatalf("ListUsers = %v, want a 429", err)
	}
	if a.WorkspacePacer() != b.WorkspacePacer() || a.WorkspacePacer() == "" {
		t.Fatalf("tokens of one workspace have workspace pacers %q and %q", a.WorkspacePacer(), b.WorkspacePacer())
	}
	if d := remaining(b.WorkspacePacer()); d < 80*time.Second || d > 90*time.Second {
		t.Errorf("workspace cool-down = %v, want the 90s Retry-After", d)
	}
	if d := remaining(a.ConnectionPacer()); d != 0 {
		t.Errorf("a workspace 429 cooled the connection down for %v", d)
	}
	// Token b of the same workspace waits; token c of no workspace goes.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := b.Wait(short, "GET /v1/users", "test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("another token of the workspace went during its cool-down: %v", err)
	}
	if err := c.Wait(ctx, "GET /v1/users", "test"); err != nil {
		t.Errorf("a token of another workspace waited: %v", err)
	}

	// An endpoint's budget holds back that endpoint only.
	emu.SetFaults(emulator.Faults{Rate429: 1, Reason429: notion.ReasonEndpoint, RetryAfter429: 30 * time.Second})
	cc := notionClient(t, emu, "tok-c", c)
	if _, err := cc.Search(ctx, notion.SearchRequest{}); !is429(err) {
		t.Fatalf("Search = %v, want a 429", err)
	}
	if d := remaining(c.EndpointPacer("POST /v1/search")); d < 20*time.Second {
		t.Errorf("endpoint cool-down = %v, want the 30s Retry-After", d)
	}
	if d := remaining(c.ConnectionPacer()); d != 0 {
		t.Errorf("an endpoint 429 cooled the connection down for %v", d)
	}
	short2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if err := c.Wait(short2, "POST /v1/search", "test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call to the cooled endpoint went: %v", err)
	}
	if err := c.Wait(ctx, "GET /v1/users", "test"); err != nil {
		t.Errorf("a call to another endpoint waited: %v", err)
	}

	// The connection's budget: this token only.
	emu.SetFaults(emulator.Faults{Rate429: 1, RetryAfter429: 20 * time.Second})
	if _, err := cc.ListUsers(ctx, ""); !is429(err) {
		t.Fatalf("ListUsers = %v, want a 429", err)
	}
	if d := remaining(c.ConnectionPacer()); d < 10*time.Second {
		t.Errorf("connection cool-down = %v, want the 20s Retry-After", d)
	}
	if d := remaining(a.ConnectionPacer()); d != 0 {
		t.Errorf("another token's connection cooled down for %v", d)
	}

	// A workspace that blocks API requests: nothing to wait out.
	emu.SetFaults(emulator.Faults{Rate429: 1, Reason429: notion.ReasonBlocked, RetryAfter429: time.Hour})
	d := budgets("tok-d", "")
	cd := notionClient(t, emu, "tok-d", d)
	if _, err := cd.ListUsers(ctx, ""); !is429(err) {
		t.Fatalf("ListUsers = %v, want a 429", err)
	}
	if left := remaining(d.ConnectionPacer()); left != 0 {
		t.Errorf("a blocked workspace set a cool-down of %v", left)
	}

	// Operators see each token's 429s by budget, and each budget's cool-downs.
	stats := func(pacer string) Stats {
		st, err := p.Stats(ctx, pacer)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(c.ConnectionPacer()); st.RateLimited["endpoint"] != 1 || st.RateLimited["connection"] != 1 || st.Cooldowns != 1 {
		t.Errorf("token c: 429s %v and %d cool-downs, want one endpoint and one connection 429, one cool-down of its own", st.RateLimited, st.Cooldowns)
	}
	if st := stats(a.ConnectionPacer()); st.RateLimited["workspace"] != 1 || st.Cooldowns != 0 {
		t.Errorf("token a: 429s %v and %d cool-downs, want one workspace 429 and no cool-down of its own", st.RateLimited, st.Cooldowns)
	}
	if st := stats(a.WorkspacePacer()); st.Cooldowns != 1 || st.LastCooldown.IsZero() {
		t.Errorf("workspace pacer: %d cool-downs (last %v), want one", st.Cooldowns, st.LastCooldown)
	}
	if st := stats(d.ConnectionPacer()); st.RateLimited["blocked"] != 1 {
		t.Errorf("token d: 429s %v, want one blocked", st.RateLimited)
	}
}

// With a workspace budget, every token of the workspace is paced on it.
func TestNotionWorkspaceBudgetIsShared(t *testing.T) {
	srv := redistest.Start(t)
	p := newPacer(t, srv, 0)
	ctx := context.Background()
	var all []*NotionBudgets
	for _, tok := range []string{"tok-a", "tok-b"} {
		b, ok := p.Notion(NotionConfig{Token: tok, PerMinute: 600, Workspace: "acme {prod}", WorkspacePerMinute: 6000})
		if !ok {
			t.Fatal("Notion pacing is off")
		}
		all = append(all, b)
	}
	for i := range 6 {
		if err := all[i%2].Wait(ctx, "POST /v1/pages", "sync"); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := p.Stats(ctx, all[0].WorkspacePacer())
	if err != nil {
		t.Fatal(err)
	}
	if ws.Granted != 6 {
		t.Errorf("the workspace pacer %q granted %d requests of both tokens, want 6", all[0].WorkspacePacer(), ws.Granted)
	}
	for _, b := range all {
		st, err := p.Stats(ctx, b.ConnectionPacer())
		if err != nil || st.Granted != 3 {
			t.Errorf("connection pacer %q granted %d, want 3 (%v)", b.ConnectionPacer(), st.Granted, err)
		}
	}
	if _, ok := p.Notion(NotionConfig{Token: "x", PerMinute: 0}); ok {
		t.Error("PerMinute 0 must turn Notion pacing off")
	}
}
