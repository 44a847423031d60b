package rdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// WebhookKey is a hash describing one declared webhook: its URL token
// ("token"), the worker that declares it ("worker"), "disabled" (why,
// when set) and "disabled_at" (ms), the verification failures in a row
// ("bad_in_row") and counters ("received", "rejected", "handled",
// "failed"). Webhook keys are global like sync keys.
func WebhookKey(key string) string { return Prefix + "webhook:{" + key + "}" }

// WebhookDeliveriesKey is a sorted set of a webhook's recent delivery ids
// scored by when they were received (ms), trimmed to DeliveriesKept.
func WebhookDeliveriesKey(key string) string { return Prefix + "webhook:{" + key + "}:dl" }

// WebhookDeliveryKey is a hash with one delivery's record: "status"
// (stored, handled, failed, rejected), "received" and "handled" (ms),
// "attempts", "latency_ms", "rows" (JSON counters), "triggered", "error".
// It expires after DeliveryTTL, the de-duplication window.
func WebhookDeliveryKey(key, id string) string {
	return Prefix + "webhook:{" + key + "}:dl:" + id
}

// TriggerRequestsKey is a set of sync keys a webhook delivery asked to
// run. The leader scheduler starts a run of each when it is not paused
// and has no active run, taking it out of the set as it starts it: any
// number of requests before that start make one run, and requests made
// while a run is active make one more after it.
func TriggerRequestsKey() string { return Prefix + "trigger:requested" }

// Webhook delivery statuses.
const (
	DeliveryStored   = "stored"
	DeliveryHandled  = "handled"
	DeliveryFailed   = "failed"
	DeliveryRejected = "rejected"
)

// Webhook record rules.
const (
	// DeliveryTTL is how long a delivery's record (and its id, for
	// de-duplication) is kept.
	DeliveryTTL = 24 * time.Hour
	// DeliveriesKept is how many recent deliveries a webhook lists.
	DeliveriesKept = 200
)

// WebhookState is a webhook's record.
type WebhookState struct {
	Key, Worker, Token string
	// Disabled says why the webhook is disabled ("" when live).
	Disabled                            string
	DisabledAt                          time.Time
	BadInRow                            int64
	Received, Rejected, Handled, Failed int64
	// Exists is false when no executor ever served the webhook.
	Exists bool
}

// ErrUnknownWebhook is returned for a webhook no executor ever served.
var ErrUnknownWebhook = errors.New("unknown webhook")

var ensureWebhookScript = redis.NewScript(`
redis.call("HSETNX", KEYS[1], "token", ARGV[1])
redis.call("HSET", KEYS[1], "worker", ARGV[2])
return redis.call("HGET", KEYS[1], "token")`)

// EnsureWebhook records a declared webhook and gives it token unless it
// has one already; it returns the webhook's token.
func (r *RDB) EnsureWebhook(ctx context.Context, key, worker, token string) (string, error) {
	t, err := ensureWebhookScript.Run(ctx, r.c, []string{WebhookKey(key)}, token, worker).Text()
	return t, wrap("record webhook "+key, err)
}

// Webhook reads a webhook's record.
func (r *RDB) Webhook(ctx context.Context, key string) (WebhookState, error) {
	m, err := r.c.HGetAll(ctx, WebhookKey(key)).Result()
	if err != nil {
		return WebhookState{}, wrap("read webhook "+key, err)
	}
	n := func(f string) int64 { v, _ := strconv.ParseInt(m[f], 10, 64); return v }
	st := WebhookState{Key: key, Worker: m["worker"], Token: m["token"], Disabled: m["disabled"], BadInRow: n("bad_in_row"),
		Received: n("received"), Rejected: n("rejected"), Handled: n("handled"), Failed: n("failed"), Exists: len(m) > 0}
	if at := n("disabled_at"); at > 0 {
		st.DisabledAt = time.UnixMilli(at)
	}
	return st, nil
}

// WebhookGate returns what the ingress checks on every request: the
// URL's token and why the webhook is disabled ("" when live).
func (r *RDB) WebhookGate(ctx context.Context, key string) (token, disabled string, err error) {
	v, err := r.c.HMGet(ctx, WebhookKey(key), "token", "disabled").Result()
	if err != nil {
		return "", "", wrap("read webhook "+key, err)
	}
	s := func(x any) string { t, _ := x.(string); return t }
	return s(v[0]), s(v[1]), nil
}

var rotateWebhookScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HSET", KEYS[1], "token", ARGV[1])
return 1`)

// RotateWebhookToken replaces a webhook's URL token.
func (r *RDB) RotateWebhookToken(ctx context.Context, key, token string) error {
	n, err := rotateWebhookScript.Run(ctx, r.c, []string{WebhookKey(key)}, token).Int()
	if err != nil {
		return wrap("rotate the token of webhook "+key, err)
	}
	if n == 0 {
		return fmt.Errorf("webhook %q: %w", key, ErrUnknownWebhook)
	}
	return nil
}

var enableWebhookScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HDEL", KEYS[1], "disabled", "disabled_at")
redis.call("HSET", KEYS[1], "bad_in_row", 0)
return 1`)

// EnableWebhook makes a disabled webhook live again.
func (r *RDB) EnableWebhook(ctx context.Context, key string) error {
	n, err := enableWebhookScript.Run(ctx, r.c, []string{WebhookKey(key)}).Int()
	if err != nil {
		return wrap("enable webhook "+key, err)
	}
	if n == 0 {
		return fmt.Errorf("webhook %q: %w", key, ErrUnknownWebhook)
	}
	return nil
}

// deliveryRecordLua records a delivery in the webhook's list (KEYS[2])
// with its hash (KEYS[3]); ARGV[1] is the id, ARGV[2] the receive time
// (ms), ARGV[3] the TTL (ms), ARGV[4] how many to keep.
const deliveryRecordLua = `
local function listDelivery()
  if redis.call("HSETNX", KEYS[3], "received", ARGV[2]) == 1 then
    redis.call("HSET", KEYS[3], "id", ARGV[1])
  end
  redis.call("PEXPIRE", KEYS[3], ARGV[3])
  redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
  redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
end
`

var verifyFailedScript = redis.NewScript(deliveryRecordLua + `
listDelivery()
redis.call("HSET", KEYS[3], "status", "rejected", "error", ARGV[5])
redis.call("HINCRBY", KEYS[1], "rejected", 1)
local bad = redis.call("HINCRBY", KEYS[1], "bad_in_row", 1)
if bad >= tonumber(ARGV[6]) and redis.call("HEXISTS", KEYS[1], "disabled") == 0 then
  redis.call("HSET", KEYS[1], "disabled", ARGV[7], "disabled_at", ARGV[2])
  return 1
end
return 0`)

// WebhookVerifyFailed records a request refused by verification (as a
// rejected delivery) and counts it; the limit-th in a row disables the
// webhook, and disabled says this call did.
func (r *RDB) WebhookVerifyFailed(ctx context.Context, key, id string, received time.Time, why string, limit int) (disabled bool, err error) {
	reason := fmt.Sprintf("%d verification failures in a row (the last: %s); `ctl webhooks enable %s` makes it live again", limit, why, key)
	n, err := verifyFailedScript.Run(ctx, r.c, []string{WebhookKey(key), WebhookDeliveriesKey(key), WebhookDeliveryKey(key, id)},
		id, received.UnixMilli(), DeliveryTTL.Milliseconds(), DeliveriesKept, why, limit, reason).Int()
	if err != nil {
		return false, wrap("record a rejected delivery of webhook "+key, err)
	}
	return n == 1, nil
}

var storedScript = redis.NewScript(deliveryRecordLua + `
listDelivery()
local st = redis.call("HGET", KEYS[3], "status")
if not st or st == "rejected" then redis.call("HSET", KEYS[3], "status", "stored", "error", "") end
redis.call("HSET", KEYS[1], "bad_in_row", 0)
if ARGV[5] == "1" then redis.call("HINCRBY", KEYS[1], "received", 1) end
return 1`)

// WebhookStored records a delivery the ingress stored (fresh: not a
// duplicate of one stored before) and ends a run of verification
// failures.
func (r *RDB) WebhookStored(ctx context.Context, key, id string, received time.Time, fresh bool) error {
	f := "0"
	if fresh {
		f = "1"
	}
	err := storedScript.Run(ctx, r.c, []string{WebhookKey(key), WebhookDeliveriesKey(key), WebhookDeliveryKey(key, id)},
		id, received.UnixMilli(), DeliveryTTL.Milliseconds(), DeliveriesKept, f).Err()
	return wrap("record a delivery of webhook "+key, err)
}

var attemptScript = redis.NewScript(deliveryRecordLua + `
listDelivery()
local st = redis.call("HGET", KEYS[3], "status")
if st == "handled" then return {st, 0} end
if not st then redis.call("HSET", KEYS[3], "status", "stored") st = "stored" end
return {st, redis.call("HINCRBY", KEYS[3], "attempts", 1)}`)

// WebhookAttempt records the start of an attempt at handling a delivery
// and returns its status: "handled" means an earlier attempt handled it
// (the task was delivered again) and nothing must be done.
func (r *RDB) WebhookAttempt(ctx context.Context, key, id string, received time.Time) (status string, attempts int64, err error) {
	v, err := attemptScript.Run(ctx, r.c, []string{WebhookKey(key), WebhookDeliveriesKey(key), WebhookDeliveryKey(key, id)},
		id, received.UnixMilli(), DeliveryTTL.Milliseconds(), DeliveriesKept).Slice()
	if err != nil {
		return "", 0, wrap("record an attempt at a delivery of webhook "+key, err)
	}
	status, _ = v[0].(string)
	attempts, _ = v[1].(int64)
	return status, attempts, nil
}

// DeliveryEnd is how an attempt at a delivery ended.
type DeliveryEnd struct {
	// Status is DeliveryHandled, DeliveryFailed (for good) or
	// DeliveryStored (failed; it will be retried).
	Status    string
	Handled   time.Time
	Latency   time.Duration
	Rows      map[string]int64
	Triggered []string
	Error     string
}

var deliveryEndScript = redis.NewScript(`
local prev = redis.call("HGET", KEYS[2], "status")
if prev == "handled" or prev == "failed" then return 0 end
redis.call("HSET", KEYS[2], "status", ARGV[1], "error", ARGV[2])
if ARGV[1] == "stored" then return 1 end
redis.call("HSET", KEYS[2], "handled", ARGV[3], "latency_ms", ARGV[4], "rows", ARGV[5], "triggered", ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[7])
redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
return 1`)

// WebhookDeliveryEnd records how an attempt ended; a delivery already
// handled or failed for good is left as it is.
func (r *RDB) WebhookDeliveryEnd(ctx context.Context, key, id string, end DeliveryEnd) error {
	rows, _ := json.Marshal(end.Rows)
	trig, _ := json.Marshal(end.Triggered)
	err := deliveryEndScript.Run(ctx, r.c, []string{WebhookKey(key), WebhookDeliveryKey(key, id)},
		end.Status, end.Error, end.Handled.UnixMilli(), end.Latency.Milliseconds(), rows, trig, DeliveryTTL.Milliseconds()).Err()
	return wrap("record the end of a delivery of webhook "+key, err)
}

// WebhookDeliveryRecord is one delivery's record.
type WebhookDeliveryRecord struct {
	ID        string
	Status    string
	Received  time.Time
	Handled   time.Time
	Attempts  int64
	Latency   time.Duration
	Rows      map[string]int64
	Triggered []string
	Error     string
}

// WebhookDeliveries lists a webhook's recent deliveries, newest first.
func (r *RDB) WebhookDeliveries(ctx context.Context, key string, limit int) ([]WebhookDeliveryRecord, error) {
	if limit <= 0 || limit > DeliveriesKept {
		limit = DeliveriesKept
	}
	ids, err := r.c.ZRevRange(ctx, WebhookDeliveriesKey(key), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, wrap("list deliveries of webhook "+key, err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, WebhookDeliveryKey(key, id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read deliveries of webhook "+key, err)
	}
	out := make([]WebhookDeliveryRecord, 0, len(ids))
	for i, id := range ids {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // expired
		}
		n := func(f string) int64 { v, _ := strconv.ParseInt(m[f], 10, 64); return v }
		d := WebhookDeliveryRecord{ID: id, Status: m["status"], Attempts: n("attempts"), Latency: time.Duration(n("latency_ms")) * time.Millisecond, Error: m["error"]}
		if t := n("received"); t > 0 {
			d.Received = time.UnixMilli(t)
		}
		if t := n("handled"); t > 0 {
			d.Handled = time.UnixMilli(t)
		}
		_ = json.Unmarshal([]byte(m["rows"]), &d.Rows)
		_ = json.Unmarshal([]byte(m["triggered"]), &d.Triggered)
		out = append(out, d)
	}
	return out, nil
}

// RequestTrigger asks for a run of each sync (coalesced: see
// TriggerRequestsKey).
func (r *RDB) RequestTrigger(ctx context.Context, syncs ...string) error {
	if len(syncs) == 0 {
		return nil
	}
	args := make([]any, len(syncs))
	for i, s := range syncs {
		args[i] = s
	}
	return wrap("request sync runs", r.c.SAdd(ctx, TriggerRequestsKey(), args...).Err())
}

// TriggerRequests lists the syncs a run was requested for.
func (r *RDB) TriggerRequests(ctx context.Context) ([]string, error) {
	v, err := r.c.SMembers(ctx, TriggerRequestsKey()).Result()
	return v, wrap("read requested sync runs", err)
}

// TakeTriggerRequest removes sync's run request; false when there was
// none (another scheduler took it).
func (r *RDB) TakeTriggerRequest(ctx context.Context, sync string) (bool, error) {
	n, err := r.c.SRem(ctx, TriggerRequestsKey(), sync).Result()
	return n == 1, wrap("take the run request of sync "+sync, err)
}
