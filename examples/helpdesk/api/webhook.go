package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Webhook events the API sends to Config.WebhookURL for every ticket
// change: JSON, signed with HMAC-SHA256 of the body under
// Config.WebhookSecret in the header SignatureHeader ("sha256=<hex>"),
// named by DeliveryHeader (the same on every retry).
const (
	SignatureHeader = "X-Helpdesk-Signature"
	DeliveryHeader  = "X-Delivery-Id"
	// webhookQueue bounds the events waiting to be sent; more are dropped
	// (the 5-minute delta sync still brings those changes).
	webhookQueue = 1000
	// webhookAttempts is how many times an event is sent before it is
	// dropped (an answer other than 2xx, 4xx, or no answer, is retried).
	webhookAttempts = 5
)

// Event is one ticket change as the webhook sends it.
type Event struct {
	ID     string `json:"id"`
	Type   string `json:"type"` // ticket.created, ticket.updated, ticket.deleted
	Ticket Ticket `json:"ticket"`
}

// Sign is the signature header's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// notify queues the event of a ticket change; s.mu is held.
func (s *Server) notify(typ string, t Ticket) {
	if s.events == nil {
		return
	}
	s.eventSeq++
	ev := Event{ID: fmt.Sprintf("evt-%d-%d", s.started.UnixNano(), s.eventSeq), Type: typ, Ticket: t}
	select {
	case s.events <- ev:
	default:
		s.log.Warn("webhook queue full: event dropped (the delta sync brings the change)", "event", ev.ID)
	}
}

// sendEvents posts queued events to the webhook until stop.
func (s *Server) sendEvents(client *http.Client) {
	for {
		select {
		case <-s.stop:
			return
		case ev := <-s.events:
			s.send(client, ev)
		}
	}
}

func (s *Server) send(client *http.Client, ev Event) {
	body, _ := json.Marshal(ev)
	wait := 200 * time.Millisecond
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(s.cfg.WebhookSecret, body))
		req.Header.Set(DeliveryHeader, ev.ID)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			if resp.StatusCode < 500 {
				s.log.Warn("webhook refused an event; not sent again", "event", ev.ID, "status", resp.StatusCode)
				return
			}
		}
		s.log.Debug("webhook event not delivered; retrying", "event", ev.ID, "attempt", attempt, "err", err)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	s.log.Warn("webhook event dropped after its retries", "event", ev.ID)
}
