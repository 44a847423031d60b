package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
)

// TypeWebhook is the asynq task type of one stored webhook delivery.
const TypeWebhook = "synq:webhook"

// WebhookRetention keeps a handled delivery's task id reserved for 24
// hours: a delivery sent again with the same id in that window is refused
// by asynq (ErrTaskIDConflict), which is synq's de-duplication.
const WebhookRetention = 24 * time.Hour

// WebhookPayload is a stored delivery: the request as it arrived.
type WebhookPayload struct {
	Webhook string `json:"webhook"`
	ID      string `json:"id"`
	// Received is when the ingress accepted it (Unix nanoseconds).
	Received int64       `json:"received"`
	Method   string      `json:"method"`
	Header   http.Header `json:"header,omitempty"`
	Query    string      `json:"query,omitempty"`
	Body     []byte      `json:"body,omitempty"`
}

// WebhookTask is one delivery to enqueue.
type WebhookTask struct {
	WebhookPayload
	Queue string
	// Retries is how many times a failing handler is retried.
	Retries int
	// Timeout bounds one attempt.
	Timeout time.Duration
}

// WebhookTaskID is the task id of a delivery: one per webhook and
// delivery id.
func WebhookTaskID(webhook, id string) string { return "webhook:" + webhook + ":" + id }

// EnqueueWebhook stores a delivery on its worker's queue. dup is true
// when a delivery with the same id was stored in the last
// WebhookRetention (nothing is stored again).
func (c *Client) EnqueueWebhook(ctx context.Context, t WebhookTask) (dup bool, err error) {
	if t.Webhook == "" || t.ID == "" || t.Queue == "" {
		return false, fmt.Errorf("queue: invalid webhook task: webhook %q, id %q, queue %q", t.Webhook, t.ID, t.Queue)
	}
	b, err := json.Marshal(t.WebhookPayload)
	if err != nil {
		return false, fmt.Errorf("queue: encoding webhook payload: %w", err)
	}
	opts := []asynq.Option{
		asynq.TaskID(WebhookTaskID(t.Webhook, t.ID)),
		asynq.Queue(t.Queue),
		asynq.MaxRetry(max(t.Retries, 0)),
		asynq.Retention(WebhookRetention),
	}
	if t.Timeout > 0 {
		opts = append(opts, asynq.Timeout(t.Timeout))
	}
	if _, err := c.c.EnqueueContext(ctx, asynq.NewTask(TypeWebhook, b, opts...)); err != nil {
		if IsDuplicate(err) {
			return true, nil
		}
		return false, fmt.Errorf("store delivery %s of webhook %q: %w", t.ID, t.Webhook, err)
	}
	return false, nil
}
