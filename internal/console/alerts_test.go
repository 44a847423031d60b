package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/alerts"
)

// The alerts page lists what the leader recorded, with its delivery.
func TestAlertsPage(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()
	c.login(token)
	want(t, "no alert yet", c.get("/alerts"), 200, "No alert yet", "Sent nowhere", "SYNQ_ALERT_WEBHOOK_URL", `href="/alerts" aria-current="page"`)
	al, err := alerts.New(alerts.Config{Ops: s.ops, Leader: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := al.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	fail, err := s.ops.Trigger(ctx, "failSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	s.waitRun(fail, 30*time.Second)
	if err := al.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	want(t, "alerts", c.get("/alerts"), 200, "failSync is WARNING (was HEALTHY)", "upstream says no", `href="/syncs/failSync"`, "recorded (no destination)")
}
