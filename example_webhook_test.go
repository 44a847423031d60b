package synq_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// A webhook that writes the changed ticket at once and asks for a run of
// the delta sync (coalesced: a burst of events makes at most one run now
// and one after it).
func ExampleAddWebhook() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk"})
	tickets := w.Database("tickets", synq.DatabaseConfig{
		InitialTitle: "Tickets",
		PrimaryKey:   "Ticket ID",
		Schema:       schema.Properties{"Title": schema.Title(), "Ticket ID": schema.RichText(), "Status": schema.Select()},
	})
	delta := synq.AddSync(w, "ticketsDelta", synq.SyncConfig[struct{}]{
		Database: tickets, Mode: synq.Incremental, Schedule: "1h",
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{}, nil
		},
	})
	synq.AddWebhook(w, "helpdeskEvents", synq.WebhookConfig{
		// HMAC-SHA256 of the body, hex, after "sha256=", keyed with the
		// secret in HELPDESK_WEBHOOK_SECRET.
		Verify:   synq.VerifyHMACSHA256("X-Helpdesk-Signature", "sha256=", "HELPDESK_WEBHOOK_SECRET"),
		Database: tickets,
		Handle: func(ctx context.Context, d *synq.WebhookDelivery) (synq.WebhookResult, error) {
			var ev struct {
				Ticket struct {
					ID, Title, Status string
					UpdatedAt         time.Time `json:"updated_at"`
				}
			}
			if err := d.JSON(&ev); err != nil {
				return synq.WebhookResult{}, err
			}
			t := ev.Ticket
			return synq.WebhookResult{
				Changes: []synq.Change{synq.Upsert(t.ID, builder.Properties{
					"Title": builder.Title(t.Title), "Status": builder.Select(t.Status),
				}).UpdatedAt(t.UpdatedAt)},
				Trigger: []*synq.Sync{delta},
			}, nil
		},
	})
	fmt.Println(w.Validate())
	// Output: <nil>
}

// VerifyHMACSHA256 checks a signature the way the sender made it
// (SignHMACSHA256 is the sender's side).
func ExampleVerifyHMACSHA256() {
	os.Setenv("EXAMPLE_SECRET", "s3cret")
	verify := synq.VerifyHMACSHA256("X-Signature", "sha256=", "EXAMPLE_SECRET")
	body := []byte(`{"id":"T-1"}`)
	signed := &synq.WebhookRequest{Method: http.MethodPost, Body: body,
		Header: http.Header{"X-Signature": {"sha256=" + synq.SignHMACSHA256("s3cret", body)}}}
	forged := &synq.WebhookRequest{Method: http.MethodPost, Body: body,
		Header: http.Header{"X-Signature": {"sha256=" + synq.SignHMACSHA256("guess", body)}}}
	_, err := verify(context.Background(), signed)
	fmt.Println("signed:", err)
	_, err = verify(context.Background(), forged)
	fmt.Println("forged:", errors.Is(err, synq.ErrSignature))
	// Output:
	// signed: <nil>
	// forged: true
}

// GitHub signs each delivery with the webhook's secret in
// X-Hub-Signature-256.
func ExampleVerifyGitHub() {
	os.Setenv("GITHUB_WEBHOOK_SECRET", "It's a Secret to Everybody")
	verify := synq.VerifyGitHub("GITHUB_WEBHOOK_SECRET")
	// The example from GitHub's documentation.
	r := &synq.WebhookRequest{Body: []byte("Hello, World!"), Header: http.Header{
		"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
	}}
	_, err := verify(context.Background(), r)
	fmt.Println(err)
	// Output: <nil>
}

// Stripe signs "<timestamp>.<body>"; a signature older than the
// tolerance is refused, so a captured request cannot be replayed later.
func ExampleVerifyStripe() {
	os.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_test")
	verify := synq.VerifyStripe("STRIPE_WEBHOOK_SECRET", 5*time.Minute)
	body := []byte(`{"id":"evt_1"}`)
	header := func(at time.Time) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig := synq.SignHMACSHA256("whsec_test", []byte(ts+"."+string(body)))
		return http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + sig}}
	}
	_, err := verify(context.Background(), &synq.WebhookRequest{Body: body, Header: header(time.Now())})
	fmt.Println("now:", err)
	_, err = verify(context.Background(), &synq.WebhookRequest{Body: body, Header: header(time.Now().Add(-time.Hour))})
	fmt.Println("an hour ago:", errors.Is(err, synq.ErrSignature))
	// Output:
	// now: <nil>
	// an hour ago: true
}

// A shared token, sent as "Authorization: Bearer <token>" or as the
// header's whole value.
func ExampleVerifyToken() {
	os.Setenv("HOOK_TOKEN", "t0ken")
	verify := synq.VerifyToken("Authorization", "HOOK_TOKEN")
	_, err := verify(context.Background(), &synq.WebhookRequest{Header: http.Header{"Authorization": {"Bearer t0ken"}}})
	fmt.Println(err)
	// Output: <nil>
}
