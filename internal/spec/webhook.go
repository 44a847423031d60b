package spec

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Webhook is one declared webhook with its functions erased to the forms
// the executor's ingress and task handler call.
type Webhook struct {
	Key string
	// Database is the database a change without a target writes ("":
	// every change must name its database).
	Database string
	// MaxBodyBytes caps a request's body; a longer one is answered 413.
	MaxBodyBytes int64
	// VerifyTimeout bounds Verify; Timeout bounds one Handle attempt.
	VerifyTimeout, Timeout time.Duration
	// Verify checks a request before it is stored. A non-nil response is
	// sent as the answer instead of storing the request (a provider's
	// challenge). nil Verify accepts every request that has the URL's token.
	Verify func(ctx context.Context, r *WebhookRequest) (*WebhookResponse, error)
	// DeliveryID names a delivery; "" falls back to the built-in rules.
	DeliveryID func(r *WebhookRequest) string
	// Handle turns a stored delivery into changes and sync triggers.
	Handle func(ctx context.Context, d *WebhookDelivery) (WebhookOutcome, error)
}

// WebhookRequest is an HTTP request as Verify sees it.
type WebhookRequest struct {
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// WebhookResponse is a synchronous answer from Verify (a challenge).
type WebhookResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// WebhookDelivery is a stored delivery as Handle sees it.
type WebhookDelivery struct {
	Webhook  string
	ID       string
	Received time.Time
	// Attempt is 1 on the first attempt.
	Attempt int
	WebhookRequest
}

// WebhookOutcome is what one delivery asks for: changes to write and
// syncs to run.
type WebhookOutcome struct {
	Changes []Change
	Trigger []string
}

// ManifestWebhook is a webhook as the scheduler and ctl see it.
type ManifestWebhook struct {
	Key      string `json:"key"`
	Database string `json:"database,omitempty"`
}
