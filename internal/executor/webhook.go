package executor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Webhook rules (synq.WebhookConfig documents them).
const (
	// WebhookRetries is how many times a failing delivery is retried.
	WebhookRetries = 3
	// WebhookDisableAfter verification failures in a row disable a webhook.
	WebhookDisableAfter = 5
	// WebhookPath is where webhooks are served: WebhookPath+"<key>/<token>".
	WebhookPath = "/webhooks/"
	// webhookTaskMargin is added to a webhook's Timeout for the task's
	// deadline: the writes after Handle need time too.
	webhookTaskMargin = 2 * time.Minute
)

// ExecutorWebhookURL is the field of an executor's record with the base
// URL its webhooks are served at (ctl webhooks list adds the paths).
const ExecutorWebhookURL = "webhook_url"

// NewWebhookToken returns an unguessable URL token.
func NewWebhookToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// gateTTL is how long the ingress trusts a webhook's token and state read
// from Redis: a rotated token or an enable applies within it, and a busy
// webhook costs one read of it a gateTTL instead of one per request.
const gateTTL = 500 * time.Millisecond

// webhookIngress is the executor's HTTP server for webhooks.
type webhookIngress struct {
	x   *Executor
	srv *http.Server
	lis net.Listener
	// base is the URL the server is reached at, for the executor's record.
	base string

	mu    sync.Mutex
	gates map[string]gate
	// wg waits for the records written after answering.
	wg sync.WaitGroup
}

// gate is a webhook's token and state as last read.
type gate struct {
	token, disabled string
	at              time.Time
}

// gate returns a webhook's token and why it is disabled, from Redis at
// most gateTTL ago.
func (in *webhookIngress) gate(ctx context.Context, key string) (string, string, error) {
	in.mu.Lock()
	g, ok := in.gates[key]
	in.mu.Unlock()
	if ok && time.Since(g.at) < gateTTL {
		return g.token, g.disabled, nil
	}
	token, disabled, err := in.x.rdb.WebhookGate(ctx, key)
	if err != nil {
		return "", "", err
	}
	in.mu.Lock()
	in.gates[key] = gate{token: token, disabled: disabled, at: time.Now()}
	in.mu.Unlock()
	return token, disabled, nil
}

// forget drops what the ingress knows of a webhook's gate (it disabled it).
func (in *webhookIngress) forget(key string) {
	in.mu.Lock()
	delete(in.gates, key)
	in.mu.Unlock()
}

// startWebhooks records the declared webhooks (each gets its URL token
// the first time) and, with Settings.WebhookAddr, serves them.
func (x *Executor) startWebhooks(ctx context.Context) error {
	set := x.cfg.Set
	for _, k := range set.WebhookOrder {
		if _, err := x.rdb.EnsureWebhook(ctx, k, set.Worker, NewWebhookToken()); err != nil {
			return err
		}
	}
	if x.cfg.WebhookAddr == "" || len(set.WebhookOrder) == 0 {
		return nil
	}
	lis, err := net.Listen("tcp", x.cfg.WebhookAddr)
	if err != nil {
		return fmt.Errorf("webhooks: listen on %s (SYNQ_WEBHOOK_ADDR): %w", x.cfg.WebhookAddr, err)
	}
	in := &webhookIngress{x: x, lis: lis, base: x.cfg.WebhookURL, gates: map[string]gate{}}
	if in.base == "" {
		host, port, _ := net.SplitHostPort(lis.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		in.base = "http://" + net.JoinHostPort(host, port)
	}
	in.base = strings.TrimSuffix(in.base, "/")
	mux := http.NewServeMux()
	mux.HandleFunc(WebhookPath+"{key}/{token}", in.serve)
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() {
		if err := in.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			x.log.Error("webhook server stopped", "err", err)
		}
	}()
	x.webhooks = in
	x.log.Info("serving webhooks", "addr", lis.Addr().String(), "url", in.base+WebhookPath, "webhooks", set.WebhookOrder)
	return nil
}

// stopWebhooks stops accepting deliveries; requests in flight finish.
func (x *Executor) stopWebhooks(ctx context.Context) {
	if in := x.webhooks; in != nil {
		x.webhooks = nil
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = in.srv.Shutdown(sctx)
		in.wg.Wait()
	}
}

// WebhookAddr is the address the webhook server listens on ("" when it
// does not run).
func (x *Executor) WebhookAddr() string {
	if in := x.webhooks; in != nil {
		return in.lis.Addr().String()
	}
	return ""
}

// serve answers one webhook request: 404 for an unknown webhook or a
// wrong token, 503 while disabled or while Redis is unreachable, 413 for
// a body over the cap, 401 when Verify refuses it, 202 once it is stored.
func (in *webhookIngress) serve(w http.ResponseWriter, r *http.Request) {
	x := in.x
	key := r.PathValue("key")
	h, ok := x.cfg.Set.Webhooks[key]
	if !ok {
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	received := time.Now()
	token, disabled, err := in.gate(ctx, key)
	if err != nil {
		in.unavailable(w, key, err)
		return
	}
	if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(r.PathValue("token"))) != 1 {
		x.webhookRejected(key, "token")
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	if disabled != "" {
		x.webhookRejected(key, "disabled")
		w.Header().Set("Retry-After", "60")
		http.Error(w, "webhook "+key+" is disabled: "+disabled, http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			x.webhookRejected(key, "too_large")
			http.Error(w, fmt.Sprintf("body over %d bytes (the webhook's MaxBodyBytes)", h.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := &spec.WebhookRequest{Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body}
	id := deliveryID(h, req)
	if h.Verify != nil {
		vctx, cancel := context.WithTimeout(ctx, h.VerifyTimeout)
		resp, err := h.Verify(vctx, req)
		cancel()
		if err != nil {
			if isSecretMissing(err) {
				x.log.Error("webhook cannot verify requests: its secret is not configured", "webhook", key, "err", err)
				x.webhookRejected(key, "misconfigured")
				http.Error(w, "webhook is misconfigured on this executor", http.StatusInternalServerError)
				return
			}
			x.webhookRejected(key, "verify")
			off, rerr := x.rdb.WebhookVerifyFailed(context.WithoutCancel(ctx), key, id, received, err.Error(), WebhookDisableAfter)
			if rerr != nil {
				x.log.Warn("could not record a rejected webhook delivery", "webhook", key, "err", rerr)
			}
			if off {
				in.forget(key)
				x.log.Error("webhook disabled after verification failures in a row; `ctl webhooks enable` makes it live again",
					"webhook", key, "failures", WebhookDisableAfter, "last", err)
			} else {
				x.log.Warn("webhook request refused by verification", "webhook", key, "delivery", id, "err", err)
			}
			http.Error(w, "verification failed", http.StatusUnauthorized)
			return
		}
		if resp != nil {
			// A challenge: answered here, nothing is stored.
			if resp.ContentType != "" {
				w.Header().Set("Content-Type", resp.ContentType)
			}
			st := resp.Status
			if st == 0 {
				st = http.StatusOK
			}
			w.WriteHeader(st)
			_, _ = w.Write(resp.Body)
			return
		}
	}
	dup, err := x.queueClient.EnqueueWebhook(ctx, queue.WebhookTask{
		WebhookPayload: queue.WebhookPayload{Webhook: key, ID: id, Received: received.UnixNano(), Method: r.Method,
			Header: r.Header, Query: r.URL.RawQuery, Body: body},
		Queue: x.queue, Retries: WebhookRetries, Timeout: h.Timeout + webhookTaskMargin,
	})
	if err != nil {
		in.unavailable(w, key, err)
		return
	}
	// Stored: the record is for people (and counts); the delivery is
	// safe without it, so the sender does not wait for it. (A record that
	// comes after the handler's never turns "handled" back to "stored".)
	in.wg.Go(func() {
		if err := x.rdb.WebhookStored(context.WithoutCancel(ctx), key, id, received, !dup); err != nil {
			x.log.Debug("could not record a stored webhook delivery", "webhook", key, "delivery", id, "err", err)
		}
	})
	if !dup {
		if m := x.cfg.Metrics; m != nil {
			m.WebhookReceived.WithLabelValues(key).Inc()
		}
	}
	w.Header().Set("X-Synq-Delivery", id)
	if dup {
		w.Header().Set("X-Synq-Duplicate", "true")
	}
	w.WriteHeader(http.StatusAccepted)
}

// unavailable answers 503 when the delivery could not be stored: the
// sender retries later, and nothing was acknowledged.
func (in *webhookIngress) unavailable(w http.ResponseWriter, key string, err error) {
	in.x.webhookRejected(key, "unavailable")
	in.x.log.Warn("webhook delivery not stored: answered 503 so that the sender retries", "webhook", key, "err", err)
	w.Header().Set("Retry-After", "5")
	http.Error(w, "cannot store the delivery now; retry later", http.StatusServiceUnavailable)
}

func (x *Executor) webhookRejected(key, reason string) {
	if m := x.cfg.Metrics; m != nil {
		m.WebhookRejected.WithLabelValues(key, reason).Inc()
	}
}

// isSecretMissing recognises the Verify helpers' configuration error by
// its message (the SDK's ErrWebhookSecret; this package cannot import
// the SDK).
func isSecretMissing(err error) bool {
	return strings.Contains(err.Error(), "webhook secret is not set")
}

// deliveryIDHeaders are the headers senders name deliveries with, in the
// order they are looked for.
var deliveryIDHeaders = []string{"X-GitHub-Delivery", "Webhook-Id", "X-Webhook-Id", "X-Delivery-Id", "Idempotency-Key"}

// deliveryID names a delivery: the webhook's own rule, else a known
// header, else a hash of the body (a replayed body is the same delivery).
// Ids that would not make a clean Redis key are hashed.
func deliveryID(h *spec.Webhook, r *spec.WebhookRequest) string {
	id := ""
	if h.DeliveryID != nil {
		id = h.DeliveryID(r)
	}
	for _, name := range deliveryIDHeaders {
		if id != "" {
			break
		}
		id = r.Header.Get(name)
	}
	if id == "" {
		sum := sha256.Sum256(r.Body)
		return "body-" + hex.EncodeToString(sum[:12])
	}
	if len(id) > 100 || strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c))
	}) >= 0 {
		sum := sha256.Sum256([]byte(id))
		return "id-" + hex.EncodeToString(sum[:12])
	}
	return id
}

// handleWebhook handles one stored delivery: Handle, then its changes
// through the engine and its sync requests, then the record. A delivery
// an earlier attempt handled is not handled again.
func (x *Executor) handleWebhook(ctx context.Context, p queue.WebhookPayload) error {
	x.inFlight.Add(1)
	defer x.inFlight.Add(-1)
	log := x.log.With("webhook", p.Webhook, "delivery", p.ID)
	h, ok := x.cfg.Set.Webhooks[p.Webhook]
	if !ok {
		// A rolling deploy: another build may declare it. Retried.
		return fmt.Errorf("webhook %q is not declared by this build of worker %q: the delivery is retried, for an executor that declares it", p.Webhook, x.cfg.Set.Worker)
	}
	received := time.Unix(0, p.Received)
	var status string
	err := x.whileRedisDown(ctx, func() error {
		var err error
		status, _, err = x.rdb.WebhookAttempt(ctx, p.Webhook, p.ID, received)
		return err
	})
	if err != nil {
		return err
	}
	if status == rdb.DeliveryHandled {
		log.Info("delivery was handled by an earlier attempt; nothing to do")
		return nil
	}
	at := queue.AttemptOf(ctx)
	q, _ := url.ParseQuery(p.Query)
	hctx, cancel := context.WithTimeout(ctx, h.Timeout)
	out, err := h.Handle(hctx, &spec.WebhookDelivery{Webhook: p.Webhook, ID: p.ID, Received: received, Attempt: at.Retried + 1,
		WebhookRequest: spec.WebhookRequest{Method: p.Method, Header: p.Header, Query: q, Body: p.Body}})
	cancel()
	var counters engine.Counters
	if err == nil && len(out.Changes) > 0 {
		err = x.whileRedisDown(ctx, func() error {
			var err error
			counters, err = x.cfg.Engine.ApplyDelivery(ctx, engine.DeliveryRequest{Webhook: p.Webhook, Delivery: p.ID,
				Database: h.Database, Changes: out.Changes, Logger: log, Attempt: at.TaskID + ":" + strconv.Itoa(at.Retried)})
			return err
		})
	}
	if err == nil && len(out.Trigger) > 0 {
		err = x.whileRedisDown(ctx, func() error { return x.rdb.RequestTrigger(ctx, out.Trigger...) })
	}
	if err != nil {
		return x.webhookFailed(ctx, p, log, err, at)
	}
	now := time.Now()
	latency := max(0, now.Sub(received))
	end := rdb.DeliveryEnd{Status: rdb.DeliveryHandled, Handled: now, Latency: latency, Rows: counters, Triggered: out.Trigger}
	if err := x.whileRedisDown(ctx, func() error { return x.rdb.WebhookDeliveryEnd(context.WithoutCancel(ctx), p.Webhook, p.ID, end) }); err != nil {
		return err
	}
	if m := x.cfg.Metrics; m != nil {
		m.WebhookHandled.WithLabelValues(p.Webhook).Inc()
		m.WebhookLatency.WithLabelValues(p.Webhook).Observe(latency.Seconds())
		for k, v := range counters {
			m.Rows.WithLabelValues("webhook:"+p.Webhook, k).Add(float64(v))
		}
	}
	log.Info("delivery handled", "rows", counters, "triggered", out.Trigger, "latency_ms", latency.Milliseconds())
	return nil
}

// webhookFailed records a failed attempt: retried unless it was the last
// or retrying cannot fix it.
func (x *Executor) webhookFailed(ctx context.Context, p queue.WebhookPayload, log *slog.Logger, err error, at queue.Attempt) error {
	permanent := engine.IsValidation(err) || isPermanent(err)
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) && !permanent {
		log.Warn("delivery interrupted by shutdown; it will be handled again", "err", err)
		return err
	}
	rctx := context.WithoutCancel(ctx)
	if !permanent && !at.Last() {
		log.Warn("delivery failed; it will be retried", "attempt", at.Retried+1, "max_attempts", at.MaxRetry+1, "err", err)
		if rerr := x.rdb.WebhookDeliveryEnd(rctx, p.Webhook, p.ID, rdb.DeliveryEnd{Status: rdb.DeliveryStored, Error: err.Error()}); rerr != nil {
			log.Debug("could not record the delivery's error", "err", rerr)
		}
		return err
	}
	why := "delivery failed after its last attempt"
	if permanent {
		why = "delivery failed with an error that retrying cannot fix"
	}
	log.Error(why, "attempt", at.Retried+1, "err", err)
	now := time.Now()
	end := rdb.DeliveryEnd{Status: rdb.DeliveryFailed, Handled: now, Latency: now.Sub(time.Unix(0, p.Received)), Error: why + ": " + err.Error()}
	if rerr := x.rdb.WebhookDeliveryEnd(rctx, p.Webhook, p.ID, end); rerr != nil {
		log.Warn("could not record the delivery's failure", "err", rerr)
	}
	if m := x.cfg.Metrics; m != nil {
		m.WebhookFailed.WithLabelValues(p.Webhook).Inc()
	}
	return queue.Final(err)
}
