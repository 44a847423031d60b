package executor

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// A 429 from Notion, met by one executor's client, sets the token's
// cool-down in Redis so every executor waits it out.
func TestNotion429SetsTheSharedCooldown(t *testing.T) {
	r := redistest.Start(t)
	emu := notiontest.Start(t, emulator.Config{})
	p, err := pacer.New(pacer.Config{Redis: r.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// Our pacer allows far more than the emulator: the emulator answers 429.
	o := Settings{NotionBaseURL: emu.URL(), NotionToken: notiontest.Token, NotionRateLimit: 6000, Logger: slog.New(slog.DiscardHandler)}
	cfg := notionConfig(o, nil, p)
	cfg.MaxRetries = -1 // see the 429 itself
	c, err := notion.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emu.SetRateLimit(20) // one request every 3 s, burst 1
	name := pacer.NotionPacerName(notiontest.Token)
	ctx := context.Background()
	var limited bool
	for range 5 {
		_, err := c.ListUsers(ctx, "")
		var e *notion.Error
		if errors.As(err, &e) && e.Status == 429 {
			limited = true
			break
		}
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
	}
	if !limited {
		t.Fatal("the emulator never answered 429")
	}
	left, err := p.CooldownRemaining(ctx, name)
	if err != nil || left <= 0 || left > 5*time.Second {
		t.Fatalf("cool-down after a 429 = %v, %v; want the Retry-After (a few seconds)", left, err)
	}
	// Another executor's call on the same token waits for the cool-down.
	other := notionConfig(o, nil, p)
	began := time.Now()
	if err := other.Before(ctx, notion.Request{}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < left/2 {
		t.Errorf("a call during the cool-down went after %v, the cool-down had %v left", waited, left)
	}
}

// The pacer names Notion's budgets with its own type (schedulers read
// pacers without linking the Notion client); the names must agree.
func TestPacerBudgetsAreNotions(t *testing.T) {
	pairs := map[notion.Budget]pacer.Budget{
		notion.BudgetConnection: pacer.BudgetConnection,
		notion.BudgetWorkspace:  pacer.BudgetWorkspace,
		notion.BudgetEndpoint:   pacer.BudgetEndpoint,
		notion.BudgetBlocked:    pacer.BudgetBlocked,
	}
	for n, p := range pairs {
		if pacer.Budget(n) != p {
			t.Errorf("notion budget %q is pacer budget %q", n, p)
		}
	}
}

// A zero Settings field takes its default; NotionRateLimit's zero is
// Notion's average (a config left empty never hammers real Notion) and
// Unlimited stays unpaced, in the pacer and in the executor's record.
func TestSettingsDefaults(t *testing.T) {
	s := Settings{}.withDefaults()
	if s.NotionRateLimit != pacer.NotionPerMinuteDefault || s.Concurrency != ConcurrencyDefault ||
		s.ShutdownTimeout != ShutdownTimeoutDefault || s.ManifestInterval != ManifestIntervalDefault || s.Logger == nil {
		t.Fatalf("defaults = %+v", s)
	}
	if rec := notionRecord(s); rec[rdb.ExecutorNotionPerMinute] != "180" {
		t.Errorf("record of the default = %v", rec)
	}
	set := Settings{Concurrency: 9, ShutdownTimeout: time.Second, ManifestInterval: time.Minute, NotionRateLimit: 60}.withDefaults()
	if set.Concurrency != 9 || set.ShutdownTimeout != time.Second || set.ManifestInterval != time.Minute || set.NotionRateLimit != 60 {
		t.Errorf("set values changed: %+v", set)
	}
	unpaced := Settings{NotionToken: "t", NotionRateLimit: Unlimited}.withDefaults()
	if rec := notionRecord(unpaced); rec[rdb.ExecutorNotionPerMinute] != "0" {
		t.Errorf("record of an unpaced executor = %v", rec)
	}
	r := redistest.Start(t)
	p, err := pacer.New(pacer.Config{Redis: r.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := notionConfig(unpaced, nil, p); cfg.Before != nil || cfg.OnRateLimited != nil {
		t.Error("an unpaced executor's Notion calls wait on the pacer")
	}
	if cfg := notionConfig(s, nil, p); cfg.Before == nil || cfg.OnRateLimited == nil {
		t.Error("a paced executor's Notion calls do not wait on the pacer")
	}
}

// Settings are checked before Open connects anywhere: a missing token is
// reported as such even when Redis is unreachable too.
func TestOpenChecksSettingsFirst(t *testing.T) {
	t.Setenv("NOTION_API_BASE_URL", "")
	set := &spec.Set{Worker: "w", Databases: map[string]*spec.Database{"d": {Key: "d"}}}
	unreachable := "redis://127.0.0.1:1/0"
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{RedisURL: unreachable}, "NOTION_API_TOKEN is not set"},
		{Settings{RedisURL: unreachable, NotionToken: LocalEmulatorToken}, "set NOTION_API_BASE_URL to the emulator"},
		{Settings{RedisURL: unreachable, NotionToken: "ntn_x"}, "NOTION_PARENT_PAGE_ID is not set"},
	} {
		_, err := Open(context.Background(), set, tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v; want %q", tc.s, err, tc.want)
		}
	}
}
