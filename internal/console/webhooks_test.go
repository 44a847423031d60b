package console_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
)

// The webhooks page lists each webhook with its state, counters and
// recent deliveries; a disabled one has an Enable button that works.
func TestWebhooksScreen(t *testing.T) {
	s := newStack(t, stackOptions{token: token, second: true})
	c := s.client()
	c.login(token)
	r := s.ops.RDB()
	ctx := context.Background()
	now := time.Now()
	if err := r.WebhookStored(ctx, "secondEvents", "evt-1", now, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.WebhookAttempt(ctx, "secondEvents", "evt-1", now); err != nil {
		t.Fatal(err)
	}
	if err := r.WebhookDeliveryEnd(ctx, "secondEvents", "evt-1", rdb.DeliveryEnd{Status: rdb.DeliveryHandled, Handled: now.Add(40 * time.Millisecond),
		Latency: 40 * time.Millisecond, Rows: map[string]int64{"created": 1}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad-1", "bad-2", "bad-3", "bad-4", "bad-5"} {
		if _, err := r.WebhookVerifyFailed(ctx, "secondEvents", id, now, "webhook signature does not match", 5); err != nil {
			t.Fatal(err)
		}
	}
	want(t, "webhooks", c.get("/webhooks"), 200, "secondEvents", "DISABLED", "5 verification failures in a row", "Enable",
		"evt-1", "handled", "created 1", "bad-5", "rejected", "1 received", "5 rejected", "1 handled", "set SYNQ_WEBHOOK_ADDR")
	res := c.post("/webhooks/secondEvents/enable", nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/webhooks?done=enabled" {
		t.Fatalf("enable: %d to %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	want(t, "webhooks after enable", c.get("/webhooks"), 200, "LIVE")
	want(t, "enable an unknown webhook", c.post("/webhooks/nope/enable", nil), 404, "no webhook")
}
