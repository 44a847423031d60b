package synq

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/spec"
)

// WebhookConfig declares a webhook: an HTTP endpoint served by executors
// (on SYNQ_WEBHOOK_ADDR) at a URL with an unguessable token, which `ctl
// webhooks list` shows. A request is verified, stored in Redis and only
// then answered 202; Handle runs later, on any executor of the worker.
type WebhookConfig struct {
	// Verify checks a request before it is stored, synchronously and
	// within VerifyTimeoutDefault: return an error (ErrSignature, say) to
	// refuse it with 401, never retried; five refusals in a row disable
	// the webhook until `ctl webhooks enable`. Return a non-nil response
	// to answer the request yourself (a provider's challenge) without
	// storing it. Use VerifyGitHub, VerifyStripe, VerifyHMACSHA256 or
	// VerifyToken for the common schemes. nil accepts every request that
	// has the URL's token.
	Verify VerifyFunc
	// Handle turns a stored delivery into rows to write and syncs to run.
	// Its changes go through the same engine as a sync's (key index, the
	// stale rule by UpdatedAt, relations, bodies, pacing). An error is
	// retried up to WebhookRetriesDefault times with backoff; the same
	// delivery (same ID) is never handled twice after it succeeded.
	Handle func(ctx context.Context, d *WebhookDelivery) (WebhookResult, error)
	// Database is the database a change without In writes (optional:
	// without it every change names its database with In).
	Database *Database
	// DeliveryID names a delivery, for de-duplication: a request with the
	// ID of one stored in the last 24 hours is acknowledged and not stored
	// again. Default: the first of the headers X-GitHub-Delivery,
	// Webhook-Id, X-Webhook-Id, X-Delivery-Id, Idempotency-Key, else a
	// hash of the body.
	DeliveryID func(r *WebhookRequest) string
	// MaxBodyBytes caps a request's body; a longer one is answered 413
	// (default WebhookMaxBodyDefault).
	MaxBodyBytes int64
	// Timeout bounds one Handle attempt (default WebhookTimeoutDefault).
	Timeout time.Duration
}

// VerifyFunc checks a webhook request (see WebhookConfig.Verify).
type VerifyFunc = func(ctx context.Context, r *WebhookRequest) (*WebhookResponse, error)

// Defaults of WebhookConfig's zero fields and the webhook rules.
const (
	// WebhookMaxBodyDefault is the default body cap: 1 MiB.
	WebhookMaxBodyDefault = 1 << 20
	// WebhookTimeoutDefault bounds one Handle attempt.
	WebhookTimeoutDefault = time.Minute
	// VerifyTimeoutDefault bounds Verify: the sender is waiting.
	VerifyTimeoutDefault = 5 * time.Second
	// WebhookRetriesDefault is how many times a failing Handle is retried.
	WebhookRetriesDefault = 3
	// StripeToleranceDefault is how old a Stripe signature's timestamp
	// may be (Stripe's libraries use the same).
	StripeToleranceDefault = 5 * time.Minute
)

// WebhookRequest is a request as Verify sees it.
type WebhookRequest struct {
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// WebhookResponse is Verify's own answer to a request (a challenge).
type WebhookResponse struct {
	// Status defaults to 200.
	Status      int
	ContentType string
	Body        []byte
}

// WebhookDelivery is a stored request, as Handle sees it.
type WebhookDelivery struct {
	// Webhook is the webhook's key; ID the delivery's, the same on every
	// attempt.
	Webhook, ID string
	// Received is when the ingress stored it.
	Received time.Time
	// Attempt counts from 1.
	Attempt int
	Header  http.Header
	Query   url.Values
	Body    []byte
}

// JSON decodes the delivery's body into v.
func (d *WebhookDelivery) JSON(v any) error {
	if err := json.Unmarshal(d.Body, v); err != nil {
		return fmt.Errorf("webhook %q: delivery %s: decode the body as JSON: %w", d.Webhook, d.ID, err)
	}
	return nil
}

// WebhookResult is what a delivery asks for.
type WebhookResult struct {
	// Changes are upserts and deletes, written before the delivery counts
	// as handled.
	Changes []Change
	// Trigger lists syncs to run. Triggers are coalesced: however many
	// deliveries ask for a sync, it gets at most one run now and one
	// after it, and a paused sync runs only when resumed.
	Trigger []*Sync
}

// Webhook is a handle on a declared webhook.
type Webhook struct {
	key string
}

// Key returns the webhook's key.
func (h *Webhook) Key() string { return h.key }

// AddWebhook declares a webhook under key (unique among the worker's
// webhooks; it names the URL).
func AddWebhook(w *Worker, key string, cfg WebhookConfig) *Webhook {
	if w.webhooks == nil {
		w.webhooks = map[string]*webhookDecl{}
	}
	_, taken := w.webhooks[key]
	w.checkKey("webhook", key, taken)
	h := &Webhook{key: key}
	if !taken {
		w.webhooks[key] = &webhookDecl{h: h, cfg: cfg}
		w.webhookOrder = append(w.webhookOrder, key)
	}
	return h
}

type webhookDecl struct {
	h   *Webhook
	cfg WebhookConfig
}

func (d *webhookDecl) spec(w *Worker) (*spec.Webhook, error) {
	key, cfg := d.h.key, d.cfg
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("webhook %q: "+format, append([]any{key}, a...)...))
	}
	if cfg.Handle == nil {
		bad("Handle is nil: give the webhook a function that turns a delivery into changes or sync triggers")
	}
	dbKey := ""
	if cfg.Database != nil {
		if cfg.Database.w != w {
			bad("Database %q belongs to another worker: declare it on this one", cfg.Database.key)
		}
		dbKey = cfg.Database.key
	}
	if cfg.MaxBodyBytes < 0 {
		bad("MaxBodyBytes is negative (%d): leave it 0 for the default %d", cfg.MaxBodyBytes, WebhookMaxBodyDefault)
	}
	if cfg.Timeout < 0 {
		bad("Timeout is negative (%v): leave it 0 for the default %v", cfg.Timeout, WebhookTimeoutDefault)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sh := &spec.Webhook{
		Key:           key,
		Database:      dbKey,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		VerifyTimeout: VerifyTimeoutDefault,
		Timeout:       cfg.Timeout,
	}
	if sh.MaxBodyBytes == 0 {
		sh.MaxBodyBytes = WebhookMaxBodyDefault
	}
	if sh.Timeout == 0 {
		sh.Timeout = WebhookTimeoutDefault
	}
	if v := cfg.Verify; v != nil {
		sh.Verify = func(ctx context.Context, r *spec.WebhookRequest) (resp *spec.WebhookResponse, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("webhook %q: Verify panicked: %v", key, p)
				}
			}()
			out, err := v(ctx, &WebhookRequest{Method: r.Method, Header: r.Header, Query: r.Query, Body: r.Body})
			if err != nil || out == nil {
				return nil, err
			}
			return &spec.WebhookResponse{Status: out.Status, ContentType: out.ContentType, Body: out.Body}, nil
		}
	}
	if f := cfg.DeliveryID; f != nil {
		sh.DeliveryID = func(r *spec.WebhookRequest) string {
			return f(&WebhookRequest{Method: r.Method, Header: r.Header, Query: r.Query, Body: r.Body})
		}
	}
	handle := cfg.Handle
	sh.Handle = func(ctx context.Context, d *spec.WebhookDelivery) (out spec.WebhookOutcome, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &PanicError{Sync: "webhook " + key, Value: p, Stack: string(debug.Stack())}
			}
		}()
		res, err := handle(ctx, &WebhookDelivery{Webhook: d.Webhook, ID: d.ID, Received: d.Received, Attempt: d.Attempt,
			Header: d.Header, Query: d.Query, Body: d.Body})
		if err != nil {
			return out, err
		}
		for i, c := range res.Changes {
			sc, err := c.spec(w)
			if err == nil && sc.Database == "" && dbKey == "" {
				err = errors.New("no target database: name it with Change.In, or set WebhookConfig.Database")
			}
			if err != nil {
				return out, &ChangeError{Sync: "webhook " + key, Index: i, Key: c.key, Err: err}
			}
			out.Changes = append(out.Changes, sc)
		}
		for i, s := range res.Trigger {
			if s == nil || w.syncs[s.key] != s {
				return out, &ChangeError{Sync: "webhook " + key, Index: i, Err: errors.New("Trigger names a sync not declared on this worker")}
			}
			out.Trigger = append(out.Trigger, s.key)
		}
		return out, nil
	}
	return sh, nil
}

// ErrSignature is the error the Verify helpers return for a request whose
// signature or token does not match (or is missing or too old).
var ErrSignature = errors.New("webhook signature does not match")

// ErrWebhookSecret is the error the Verify helpers return when their
// secret's environment variable is not set: a configuration mistake, so
// the request is answered 500 and does not count towards disabling the
// webhook.
var ErrWebhookSecret = errors.New("webhook secret is not set")

func secretFrom(env string) ([]byte, error) {
	s := os.Getenv(env)
	if s == "" {
		return nil, fmt.Errorf("%w: set the environment variable %s on the executors", ErrWebhookSecret, env)
	}
	return []byte(s), nil
}

// SignHMACSHA256 returns the hex HMAC-SHA256 of body under secret, as
// VerifyHMACSHA256 expects it (after the prefix). Senders and tests use it.
func SignHMACSHA256(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyHMACSHA256 accepts requests whose header holds prefix followed by
// the hex HMAC-SHA256 of the body, keyed with the secret in the
// environment variable secretEnv (read at each request, so a rotated
// secret applies without a restart).
func VerifyHMACSHA256(header, prefix, secretEnv string) VerifyFunc {
	return func(_ context.Context, r *WebhookRequest) (*WebhookResponse, error) {
		secret, err := secretFrom(secretEnv)
		if err != nil {
			return nil, err
		}
		got, ok := strings.CutPrefix(r.Header.Get(header), prefix)
		if !ok || got == "" {
			return nil, fmt.Errorf("%w: header %s is missing or lacks the prefix %q", ErrSignature, header, prefix)
		}
		sig, err := hex.DecodeString(got)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s is not hex", ErrSignature, header)
		}
		m := hmac.New(sha256.New, secret)
		m.Write(r.Body)
		if !hmac.Equal(sig, m.Sum(nil)) {
			return nil, fmt.Errorf("%w: header %s", ErrSignature, header)
		}
		return nil, nil
	}
}

// VerifyGitHub accepts GitHub's signed deliveries: X-Hub-Signature-256
// is "sha256=" and the HMAC-SHA256 of the body keyed with the webhook's
// secret, from the environment variable secretEnv.
func VerifyGitHub(secretEnv string) VerifyFunc {
	return VerifyHMACSHA256("X-Hub-Signature-256", "sha256=", secretEnv)
}

// VerifyStripe accepts Stripe's signed events: Stripe-Signature is
// "t=<unix time>,v1=<hex>[,v1=…]", each v1 the HMAC-SHA256 of
// "<t>.<body>" keyed with the endpoint's signing secret (environment
// variable secretEnv). A timestamp further than tolerance from now is
// refused, so a captured request cannot be replayed later (0:
// StripeToleranceDefault).
func VerifyStripe(secretEnv string, tolerance time.Duration) VerifyFunc {
	if tolerance <= 0 {
		tolerance = StripeToleranceDefault
	}
	return func(_ context.Context, r *WebhookRequest) (*WebhookResponse, error) {
		secret, err := secretFrom(secretEnv)
		if err != nil {
			return nil, err
		}
		var ts string
		var sigs [][]byte
		for part := range strings.SplitSeq(r.Header.Get("Stripe-Signature"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				if b, err := hex.DecodeString(v); err == nil {
					sigs = append(sigs, b)
				}
			}
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || len(sigs) == 0 {
			return nil, fmt.Errorf("%w: Stripe-Signature lacks t= or v1=", ErrSignature)
		}
		if age := time.Since(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
			return nil, fmt.Errorf("%w: Stripe-Signature's timestamp is %v away from now (tolerance %v)", ErrSignature, age.Round(time.Second), tolerance)
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(ts + "."))
		m.Write(r.Body)
		want := m.Sum(nil)
		for _, s := range sigs {
			if hmac.Equal(s, want) {
				return nil, nil
			}
		}
		return nil, fmt.Errorf("%w: no v1 signature in Stripe-Signature matches", ErrSignature)
	}
}

// VerifyToken accepts requests whose header carries the shared token in
// the environment variable secretEnv: the header's whole value, or after
// "Bearer " (for Authorization).
func VerifyToken(header, secretEnv string) VerifyFunc {
	return func(_ context.Context, r *WebhookRequest) (*WebhookResponse, error) {
		secret, err := secretFrom(secretEnv)
		if err != nil {
			return nil, err
		}
		got := r.Header.Get(header)
		if v, ok := strings.CutPrefix(got, "Bearer "); ok {
			got = v
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), secret) != 1 {
			return nil, fmt.Errorf("%w: header %s", ErrSignature, header)
		}
		return nil, nil
	}
}
