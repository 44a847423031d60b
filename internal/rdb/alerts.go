package rdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Alerts: the leader scheduler turns what happens (runs ending, syncs no
// live executor declares, workers without executors, Notion refusing a
// token) into notifications a person must act on, once per transition,
// and delivers each to every configured destination. Everything that
// makes "once" survive a scheduler failover lives here: what was last
// notified per subject, the feed's cursor, the notifications and their
// deliveries (an outbox).

const (
	// AlertEndsKey is a stream with one entry per run end (sync, run,
	// status, the consecutive failures it left, its message), appended by
	// the scripts that end runs and read by the leader's alert detector.
	AlertEndsKey = Prefix + "alerts:ends"
	// alertEndsMaxLen bounds the feed: minutes of run ends at ten
	// thousand syncs, far longer than a leader failover.
	alertEndsMaxLen = "50000"
	// syncKeyNameStart is where a sync's name starts in SyncKey (Lua's
	// 1-based string.sub): after `synq:sync:{`.
	syncKeyNameStart = "12"
)

// AlertStateKey is a hash of what the detector last acted on: the feed's
// cursor ("cursor") and, per subject, the last state notified
// ("h:<sync>" health, "p:<sync>" a permanent error, "u:<sync>"
// undeclared, "w:<worker>" a worker without executors, "t:<token>"
// Notion refusing a token). Changed only by alertRecordScript, which
// compares every field first, so two leaders never notify one transition
// twice.
func AlertStateKey() string { return Prefix + "{alerts}:state" }

// AlertKey is a hash with one notification: its JSON payload, kind and
// creation time (ms). It expires after AlertRetention.
func AlertKey(id string) string { return Prefix + "{alerts}:n:" + id }

// AlertDeliveryKey is a hash with the delivery of one notification to one
// destination (by its id): status (pending, sending, retrying, delivered,
// failed), attempts, last error, when delivered.
func AlertDeliveryKey(id, dest string) string { return alertDeliveryPrefix + id + ":" + dest }

const alertDeliveryPrefix = Prefix + "{alerts}:d:"

// AlertDueKey is a sorted set of deliveries "<id>\x00<dest>" scored by
// when (ms) they are next due: the outbox. A delivery being sent is
// scored at the end of its sender's claim, so a sender that dies mid-send
// leaves it to the next leader.
func AlertDueKey() string { return Prefix + "{alerts}:due" }

// AlertRecentKey is a list of the newest notification ids, newest first,
// capped at AlertRecentMax.
func AlertRecentKey() string { return Prefix + "{alerts}:recent" }

// NotionAuthKey is a hash token fingerprint → JSON of the last time
// Notion refused that token (401/403), written by executors.
func NotionAuthKey() string { return Prefix + "{alerts}:notion-auth" }

// AlertRetention is how long notifications and their deliveries are kept;
// AlertRecentMax how many the recent list names.
const (
	AlertFirstLookback = 5 * time.Minute
	AlertRetention     = 7 * 24 * time.Hour
	AlertRecentMax     = 200
)

// RunEnd is one entry of the alerts feed.
type RunEnd struct {
	ID                  string // the stream entry id
	Sync, Run, Status   string
	ConsecutiveFailures int
	Message             string
}

// ReadRunEnds returns up to count run ends after cursor, and the cursor
// to resume from. A first reader ("" cursor) starts AlertFirstLookback
// ago: the ends since alerts were turned on, not the whole history.
func (r *RDB) ReadRunEnds(ctx context.Context, cursor string, count int64) ([]RunEnd, string, error) {
	start := "(" + cursor
	if cursor == "" {
		now, err := r.ServerTime(ctx)
		if err != nil {
			return nil, "", err
		}
		start = strconv.FormatInt(now.Add(-AlertFirstLookback).UnixMilli(), 10) + "-0"
		// Nothing found: resume after the start, never from the stream's
		// beginning.
		cursor = start
	}
	msgs, err := r.c.XRangeN(ctx, AlertEndsKey, start, "+", count).Result()
	if err != nil {
		return nil, cursor, wrap("read the alerts feed", err)
	}
	out := make([]RunEnd, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		cf, _ := strconv.Atoi(str("cf"))
		out = append(out, RunEnd{ID: m.ID, Sync: str("sync"), Run: str("run"), Status: str("status"),
			ConsecutiveFailures: cf, Message: str("msg")})
		cursor = m.ID
	}
	return out, cursor, nil
}

// AlertState returns the detector's state hash.
func (r *RDB) AlertState(ctx context.Context) (map[string]string, error) {
	m, err := r.c.HGetAll(ctx, AlertStateKey()).Result()
	return m, wrap("read alert state", err)
}

// StateChange sets one field of the alert state, provided it still holds
// Expect ("" and absent are the same; New "" deletes it).
type StateChange struct {
	Field, Expect, New string
}

// NewAlert is a notification to record with its deliveries.
type NewAlert struct {
	ID, Kind string
	Payload  []byte
	// Dests are the ids of the destinations to deliver it to.
	Dests []string
	// Hold delays its deliveries (a sender that delivers them itself).
	Hold time.Duration
}

var alertRecordScript = redis.NewScript(`
local state, recent, due = KEYS[1], KEYS[2], KEYS[3]
local now, ttl, nprefix, dprefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local i = 5
local nstate = tonumber(ARGV[i]); i = i + 1
for j = 0, nstate - 1 do
  local f, expect = ARGV[i + 3 * j], ARGV[i + 3 * j + 1]
  if (redis.call("HGET", state, f) or "") ~= expect then return 0 end
end
for j = 0, nstate - 1 do
  local f, new = ARGV[i + 3 * j], ARGV[i + 3 * j + 2]
  if new == "" then redis.call("HDEL", state, f) else redis.call("HSET", state, f, new) end
end
i = i + 3 * nstate
local nalerts = tonumber(ARGV[i]); i = i + 1
for j = 1, nalerts do
  local id, kind, payload, hold, ndest = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  local key = nprefix .. id
  if redis.call("EXISTS", key) == 0 then
    local dests = {}
    for d = 0, ndest - 1 do dests[#dests + 1] = ARGV[i + d] end
    redis.call("HSET", key, "payload", payload, "kind", kind, "created", now, "dests", table.concat(dests, ","))
    redis.call("PEXPIRE", key, ttl)
    redis.call("LPUSH", recent, id)
    redis.call("LTRIM", recent, 0, ` + "199" + `)
    for d = 0, ndest - 1 do
      local dest = ARGV[i + d]
      local dk = dprefix .. id .. ":" .. dest
      redis.call("HSET", dk, "status", "pending", "attempts", 0, "dest", dest)
      redis.call("PEXPIRE", dk, ttl)
      redis.call("ZADD", due, now + hold, id .. "\0" .. dest)
    end
  end
  i = i + ndest
end
return 1`)

// RecordAlerts applies changes to the alert state and records alerts with
// their deliveries, atomically, provided every change's Expect still
// holds; it reports false (recording nothing) otherwise — another leader
// got there first. An alert whose id exists is not recorded again.
func (r *RDB) RecordAlerts(ctx context.Context, changes []StateChange, alerts []NewAlert) (bool, error) {
	now, err := r.ServerTime(ctx)
	if err != nil {
		return false, err
	}
	args := []any{now.UnixMilli(), AlertRetention.Milliseconds(), AlertKey(""), alertDeliveryPrefix, len(changes)}
	for _, c := range changes {
		args = append(args, c.Field, c.Expect, c.New)
	}
	args = append(args, len(alerts))
	for _, a := range alerts {
		args = append(args, a.ID, a.Kind, a.Payload, a.Hold.Milliseconds(), len(a.Dests))
		for _, d := range a.Dests {
			args = append(args, d)
		}
	}
	n, err := alertRecordScript.Run(ctx, r.c, []string{AlertStateKey(), AlertRecentKey(), AlertDueKey()}, args...).Int()
	return n == 1, wrap("record alerts", err)
}

// Delivery is one notification's delivery to one destination, claimed by
// a sender.
type Delivery struct {
	ID, Dest string
	Payload  []byte
	Attempts int
	Created  time.Time
}

var alertClaimScript = redis.NewScript(`
local due = KEYS[1]
local now, lease, limit, nprefix, dprefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local out = {}
for _, m in ipairs(redis.call("ZRANGEBYSCORE", due, "-inf", now, "LIMIT", 0, limit)) do
  local sep = string.find(m, "\0", 1, true)
  local id, dest = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local n = redis.call("HMGET", nprefix .. id, "payload", "created")
  if not n[1] then
    redis.call("ZREM", due, m)
  else
    redis.call("ZADD", due, now + lease, m)
    local dk = dprefix .. id .. ":" .. dest
    local attempts = redis.call("HINCRBY", dk, "attempts", 1)
    redis.call("HSET", dk, "status", "sending")
    out[#out + 1] = {id, dest, n[1], attempts, n[2]}
  end
end
return out`)

// ClaimDeliveries claims up to limit due deliveries for lease: until then
// no other sender takes them.
func (r *RDB) ClaimDeliveries(ctx context.Context, lease time.Duration, limit int) ([]Delivery, error) {
	now, err := r.ServerTime(ctx)
	if err != nil {
		return nil, err
	}
	res, err := alertClaimScript.Run(ctx, r.c, []string{AlertDueKey()}, now.UnixMilli(), lease.Milliseconds(), limit,
		AlertKey(""), alertDeliveryPrefix).Slice()
	if err != nil {
		return nil, wrap("claim alert deliveries", err)
	}
	out := make([]Delivery, 0, len(res))
	for _, x := range res {
		f, ok := x.([]any)
		if !ok || len(f) != 5 {
			return nil, errors.New("rdb: claim alert deliveries: unexpected reply")
		}
		s := func(i int) string { v, _ := f[i].(string); return v }
		att, _ := f[3].(int64)
		ms, _ := strconv.ParseInt(s(4), 10, 64)
		out = append(out, Delivery{ID: s(0), Dest: s(1), Payload: []byte(s(2)), Attempts: int(att), Created: time.UnixMilli(ms)})
	}
	return out, nil
}

var alertDoneScript = redis.NewScript(`
local dk = KEYS[2]
if redis.call("EXISTS", dk) == 0 then redis.call("ZREM", KEYS[1], ARGV[1]) return 0 end
if ARGV[2] == "delivered" or ARGV[2] == "failed" then
  redis.call("ZREM", KEYS[1], ARGV[1])
else
  redis.call("ZADD", KEYS[1], ARGV[4], ARGV[1])
end
redis.call("HSET", dk, "status", ARGV[2], "last_error", ARGV[3], "updated", ARGV[5])
if ARGV[6] == "1" then redis.call("HINCRBY", dk, "attempts", 1) end
if ARGV[2] == "delivered" then redis.call("HSET", dk, "delivered", ARGV[5]) end
return 1`)

// DeliveryOutcome records how a delivery attempt went: delivered,
// failed (given up) or retrying at next.
func (r *RDB) DeliveryOutcome(ctx context.Context, d Delivery, status, lastErr string, next time.Time) error {
	now, err := r.ServerTime(ctx)
	if err != nil {
		return err
	}
	member := d.ID + "\x00" + d.Dest
	// A delivery nobody claimed (a test, sent at once) counts its attempt
	// here.
	unclaimed := flag(d.Attempts == 0)
	return wrap("record an alert delivery", alertDoneScript.Run(ctx, r.c,
		[]string{AlertDueKey(), AlertDeliveryKey(d.ID, d.Dest)}, member, status, lastErr, next.UnixMilli(), now.UnixMilli(), unclaimed).Err())
}

// AlertRecord is a recorded notification with its deliveries.
type AlertRecord struct {
	ID, Kind   string
	Payload    []byte
	Created    time.Time
	Deliveries []DeliveryRecord
}

// DeliveryRecord is the state of one delivery.
type DeliveryRecord struct {
	Dest, Status, LastError string
	Attempts                int
	Delivered               time.Time
}

// RecentAlerts returns up to limit of the newest notifications, newest
// first, with their deliveries.
func (r *RDB) RecentAlerts(ctx context.Context, limit int) ([]AlertRecord, error) {
	ids, err := r.c.LRange(ctx, AlertRecentKey(), 0, int64(max(limit, 1))-1).Result()
	if err != nil {
		return nil, wrap("list recent alerts", err)
	}
	// Two pipelined rounds, the notifications then their deliveries: the
	// console reads up to 100 of them every few seconds.
	alerts := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			alerts[i] = p.HGetAll(ctx, AlertKey(id))
		}
		return nil
	}); err != nil {
		return nil, wrap("read recent alerts", err)
	}
	out := make([]AlertRecord, 0, len(ids))
	var dkeys [][]string // out[i]'s delivery keys
	for i, id := range ids {
		m := alerts[i].Val()
		if len(m) == 0 {
			continue // expired since the list was read
		}
		ms, _ := strconv.ParseInt(m["created"], 10, 64)
		out = append(out, AlertRecord{ID: id, Kind: m["kind"], Payload: []byte(m["payload"]), Created: time.UnixMilli(ms)})
		var ks []string
		for _, dest := range strings.Split(m["dests"], ",") {
			if dest != "" {
				ks = append(ks, AlertDeliveryKey(id, dest))
			}
		}
		dkeys = append(dkeys, ks)
	}
	deliveries := make([][]*redis.MapStringStringCmd, len(dkeys))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ks := range dkeys {
			for _, k := range ks {
				deliveries[i] = append(deliveries[i], p.HGetAll(ctx, k))
			}
		}
		return nil
	}); err != nil {
		return nil, wrap("read recent alerts' deliveries", err)
	}
	for i, ds := range deliveries {
		for _, cmd := range ds {
			d := cmd.Val()
			att, _ := strconv.Atoi(d["attempts"])
			rec := DeliveryRecord{Dest: d["dest"], Status: d["status"], LastError: d["last_error"], Attempts: att}
			if ms, err := strconv.ParseInt(d["delivered"], 10, 64); err == nil {
				rec.Delivered = time.UnixMilli(ms)
			}
			out[i].Deliveries = append(out[i].Deliveries, rec)
		}
	}
	return out, nil
}

// NoteNotionAuth records that Notion refused a token (by its
// fingerprint), with the status and message it answered.
func (r *RDB) NoteNotionAuth(ctx context.Context, fingerprint string, status int, msg string) error {
	now, err := r.ServerTime(ctx)
	if err != nil {
		return err
	}
	v := fmt.Sprintf("%d\x00%d\x00%s", now.UnixMilli(), status, msg)
	return wrap("note a refused Notion token", r.c.HSet(ctx, NotionAuthKey(), fingerprint, v).Err())
}

// ClearNotionAuth forgets that Notion refused a token: it accepts it
// again.
func (r *RDB) ClearNotionAuth(ctx context.Context, fingerprint string) error {
	return wrap("clear a refused Notion token", r.c.HDel(ctx, NotionAuthKey(), fingerprint).Err())
}

// NotionAuthFailure is the last time Notion refused a token.
type NotionAuthFailure struct {
	Fingerprint string
	At          time.Time
	Status      int
	Message     string
}

// NotionAuthFailures returns the last refusal of every token Notion
// refused.
func (r *RDB) NotionAuthFailures(ctx context.Context) ([]NotionAuthFailure, error) {
	m, err := r.c.HGetAll(ctx, NotionAuthKey()).Result()
	if err != nil {
		return nil, wrap("read refused Notion tokens", err)
	}
	out := make([]NotionAuthFailure, 0, len(m))
	for fp, v := range m {
		parts := strings.SplitN(v, "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		ms, _ := strconv.ParseInt(parts[0], 10, 64)
		st, _ := strconv.Atoi(parts[1])
		out = append(out, NotionAuthFailure{Fingerprint: fp, At: time.UnixMilli(ms), Status: st, Message: parts[2]})
	}
	return out, nil
}
