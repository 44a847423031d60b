package ghissues

import (
	"context"
	"net/http"
	"testing"

	"github.com/synqhq/synq"
)

func TestWebhookIssueEvent(t *testing.T) {
	t.Setenv(WebhookSecretEnv, "hush")
	body := []byte(`{"action":"edited","issue":{"number":42,"title":"Crash on start","state":"open","updated_at":"2026-11-02T09:00:00Z","created_at":"2026-11-01T09:00:00Z","user":{"login":"ann"},"body":"Steps"}}`)
	verify := synq.VerifyGitHub(WebhookSecretEnv)
	r := &synq.WebhookRequest{Body: body, Header: http.Header{"X-Hub-Signature-256": {"sha256=" + synq.SignHMACSHA256("hush", body)}}}
	if _, err := verify(context.Background(), r); err != nil {
		t.Fatalf("a delivery signed with the secret: %v", err)
	}
	r.Header.Set("X-Hub-Signature-256", "sha256="+synq.SignHMACSHA256("other", body))
	if _, err := verify(context.Background(), r); err == nil {
		t.Fatal("a delivery signed with another secret was accepted")
	}
	res, err := handleEvent(context.Background(), &synq.WebhookDelivery{Body: body, Header: http.Header{"X-Github-Event": {"issues"}}})
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("issues event: %+v, %v", res, err)
	}
	c := res.Changes[0]
	if c.Key() != "42" || c.IsDelete() || c.Properties()["Title"].Text[0].Content != "Crash on start" {
		t.Fatalf("change = %+v", c)
	}
	res, err = handleEvent(context.Background(), &synq.WebhookDelivery{Body: []byte(`{"zen":"hi"}`), Header: http.Header{"X-Github-Event": {"ping"}}})
	if err != nil || len(res.Changes) != 0 {
		t.Fatalf("ping: %+v, %v", res, err)
	}
}
