package synq

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/spec"
)

func TestVerifyHelpersRefuse(t *testing.T) {
	t.Setenv("WH_SECRET", "k")
	body := []byte("payload")
	good := "sha256=" + SignHMACSHA256("k", body)
	cases := []struct {
		name   string
		verify VerifyFunc
		header http.Header
	}{
		{"hmac missing header", VerifyHMACSHA256("X-Sig", "sha256=", "WH_SECRET"), http.Header{}},
		{"hmac wrong prefix", VerifyHMACSHA256("X-Sig", "sha256=", "WH_SECRET"), http.Header{"X-Sig": {strings.TrimPrefix(good, "sha256=")}}},
		{"hmac not hex", VerifyHMACSHA256("X-Sig", "sha256=", "WH_SECRET"), http.Header{"X-Sig": {"sha256=zz"}}},
		{"hmac other body", VerifyHMACSHA256("X-Sig", "sha256=", "WH_SECRET"), http.Header{"X-Sig": {"sha256=" + SignHMACSHA256("k", []byte("other"))}}},
		{"github other secret", VerifyGitHub("WH_SECRET"), http.Header{"X-Hub-Signature-256": {"sha256=" + SignHMACSHA256("nope", body)}}},
		{"stripe no timestamp", VerifyStripe("WH_SECRET", 0), http.Header{"Stripe-Signature": {"v1=" + SignHMACSHA256("k", body)}}},
		{"stripe body alone signed", VerifyStripe("WH_SECRET", 0), http.Header{"Stripe-Signature": {"t=1,v1=" + SignHMACSHA256("k", body)}}},
		{"token wrong", VerifyToken("X-Token", "WH_SECRET"), http.Header{"X-Token": {"kk"}}},
		{"token empty", VerifyToken("X-Token", "WH_SECRET"), http.Header{}},
	}
	for _, c := range cases {
		_, err := c.verify(context.Background(), &WebhookRequest{Body: body, Header: c.header})
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: err = %v, want ErrSignature", c.name, err)
		}
	}
	if _, err := VerifyHMACSHA256("X-Sig", "sha256=", "WH_SECRET")(context.Background(), &WebhookRequest{Body: body, Header: http.Header{"X-Sig": {good}}}); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
}

func TestVerifyMissingSecretIsConfiguration(t *testing.T) {
	_, err := VerifyGitHub("WH_SECRET_NOT_SET_ANYWHERE")(context.Background(), &WebhookRequest{Header: http.Header{}})
	if !errors.Is(err, ErrWebhookSecret) || errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "WH_SECRET_NOT_SET_ANYWHERE") {
		t.Fatalf("err = %v, want ErrWebhookSecret naming the variable", err)
	}
}

func TestAddWebhookDeclarationErrors(t *testing.T) {
	w := NewWorker(WorkerConfig{})
	other := NewWorker(WorkerConfig{}).Database("x", DatabaseConfig{})
	AddWebhook(w, "hook", WebhookConfig{})
	AddWebhook(w, "hook", WebhookConfig{Handle: func(context.Context, *WebhookDelivery) (WebhookResult, error) { return WebhookResult{}, nil }})
	AddWebhook(w, "bad key!", WebhookConfig{Handle: func(context.Context, *WebhookDelivery) (WebhookResult, error) { return WebhookResult{}, nil }})
	AddWebhook(w, "other", WebhookConfig{Database: other, MaxBodyBytes: -1, Handle: func(context.Context, *WebhookDelivery) (WebhookResult, error) { return WebhookResult{}, nil }})
	err := w.Validate()
	for _, want := range []string{`webhook "hook": Handle is nil`, `webhook key "hook" is declared twice`, `webhook key "bad key!"`,
		`webhook "other": Database "x" belongs to another worker`, `webhook "other": MaxBodyBytes is negative`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
}

func TestWebhookHandleChecksChanges(t *testing.T) {
	w := NewWorker(WorkerConfig{})
	AddWebhook(w, "hook", WebhookConfig{Handle: func(context.Context, *WebhookDelivery) (WebhookResult, error) {
		return WebhookResult{Changes: []Change{Upsert("k", nil)}}, nil
	}})
	set, err := w.build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Webhooks["hook"].Handle(context.Background(), &spec.WebhookDelivery{})
	if err == nil || !strings.Contains(err.Error(), "no target database") {
		t.Fatalf("a change without a database: %v", err)
	}
}
