package notion_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

// A 429 reaches OnRateLimited with the budget it names, its Retry-After
// and the route, so the caller cools down the right budget.
func TestRateLimitNamesTheBudget(t *testing.T) {
	var mu sync.Mutex
	var seen []notion.RateLimit
	s, c := start(t, emulator.Config{}, func(cfg *notion.Config) {
		cfg.MaxRetries = 1
		cfg.OnRateLimited = func(_ context.Context, rl notion.RateLimit) {
			mu.Lock()
			seen = append(seen, rl)
			mu.Unlock()
		}
	})
	_, ds := createDB(t, c, "Budgets", nil)
	for _, tc := range []struct {
		reason string
		budget notion.Budget
	}{
		{notion.ReasonConnection, notion.BudgetConnection},
		{notion.ReasonWorkspace, notion.BudgetWorkspace},
		{notion.ReasonEndpoint, notion.BudgetEndpoint},
		{"something_new", notion.BudgetConnection},
	} {
		seen = nil
		s.SetFaults(emulator.Faults{Rate429: 1, Reason429: tc.reason, RetryAfter429: 20 * time.Millisecond})
		_, err := c.GetDataSource(ctxT(t), ds)
		var e *notion.Error
		if !errors.As(err, &e) || e.Status != 429 || e.RateLimitReason() != tc.reason {
			t.Fatalf("%s: err = %v", tc.reason, err)
		}
		if e.Permanent() || e.RetryAfterDuration() != 20*time.Millisecond {
			t.Errorf("%s: Permanent %v, RetryAfterDuration %v", tc.reason, e.Permanent(), e.RetryAfterDuration())
		}
		mu.Lock()
		if len(seen) != 2 || seen[0].Budget != tc.budget || seen[0].Reason != tc.reason ||
			seen[0].RetryAfter != 20*time.Millisecond || seen[0].Route != "GET /v1/data_sources/{id}" {
			t.Errorf("%s: OnRateLimited saw %+v; want two calls for budget %s", tc.reason, seen, tc.budget)
		}
		mu.Unlock()
	}
}

// A workspace that blocks API requests is not retried and fails at once.
func TestBlockedWorkspaceIsNotRetried(t *testing.T) {
	s, c := start(t, emulator.Config{}, func(cfg *notion.Config) { cfg.MaxRetries = 5 })
	_, ds := createDB(t, c, "Blocked", nil)
	s.SetFaults(emulator.Faults{Rate429: 1, Reason429: notion.ReasonBlocked})
	s.ResetStats()
	_, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: ds, Properties: titled("x")})
	var p interface{ Permanent() bool }
	if err == nil || !errors.As(err, &p) || !p.Permanent() || errors.Is(err, notion.ErrAmbiguousWrite) {
		t.Fatalf("err = %v; want a permanent, not ambiguous error", err)
	}
	if n := s.Stats().Requests; n != 1 {
		t.Errorf("%d requests for a blocked workspace, want 1 (no retry)", n)
	}
}

func TestPermanentByStatus(t *testing.T) {
	for status, want := range map[int]bool{400: true, 401: true, 403: true, 404: true, 413: true, 408: false, 409: false, 429: false, 500: false, 502: false, 503: false, 529: false} {
		e := &notion.Error{Status: status}
		if e.Permanent() != want {
			t.Errorf("%d: Permanent = %v, want %v", status, e.Permanent(), want)
		}
	}
	for reason, want := range map[string]notion.Budget{
		"": notion.BudgetConnection, "connection": notion.BudgetConnection, notion.ReasonWorkspace: notion.BudgetWorkspace,
		"Workspace": notion.BudgetWorkspace, notion.ReasonEndpoint: notion.BudgetEndpoint, notion.ReasonBlocked: notion.BudgetBlocked,
	} {
		if got := notion.BudgetOf(reason); got != want {
			t.Errorf("BudgetOf(%q) = %s, want %s", reason, got, want)
		}
	}
}

// A body over 500 KB is refused before anything is sent.
func TestPayloadLimitCheckedBeforeSending(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, ds := createDB(t, c, "Payload", map[string]notion.PropertySchema{"A": {Type: notion.TypeRichText}, "B": {Type: notion.TypeRichText}, "C": {Type: notion.TypeRichText}})
	big := func() notion.PropertyValue {
		var items []notion.RichText
		for range 100 {
			items = append(items, notion.Text(strings.Repeat("é", 2000)))
		}
		return notion.RichTextValue(items...)
	}
	props := titled("big")
	props["A"], props["B"] = big(), big()
	s.ResetStats()
	_, err := c.CreatePage(ctxT(t), notion.CreatePageRequest{DataSourceID: ds, Properties: props})
	var pe *notion.PayloadError
	if !errors.As(err, &pe) || !pe.Permanent() || pe.Size <= notion.MaxPayload || !strings.Contains(err.Error(), "500 KB limit") {
		t.Fatalf("err = %v; want a PayloadError", err)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent for a body over the limit", n)
	}
}

// Icons and covers are set, kept when absent, and cleared on request.
func TestIconAndCoverSetAndCleared(t *testing.T) {
	_, c := start(t, emulator.Config{})
	_, ds := createDB(t, c, "Covers", nil)
	ctx := ctxT(t)
	p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: titled("a"), Icon: notion.EmojiIcon("🚀"), Cover: notion.ExternalCover("https://example.com/c.png")})
	if err != nil || p.Icon == nil || p.Cover == nil || p.Cover.External == nil || p.Cover.External.URL != "https://example.com/c.png" {
		t.Fatalf("created %+v, %v", p, err)
	}
	p, err = c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{Properties: titled("b")})
	if err != nil || p.Icon == nil || p.Cover == nil {
		t.Fatalf("an update without icon or cover changed them: %+v, %v", p, err)
	}
	p, err = c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{ClearIcon: true, ClearCover: true})
	if err != nil || p.Icon != nil || p.Cover != nil {
		t.Fatalf("clearing left icon %+v cover %+v (%v)", p.Icon, p.Cover, err)
	}
}
