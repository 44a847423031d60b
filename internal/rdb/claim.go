package rdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Doubts. Notion has no idempotency keys: a create or update whose writer
// gave up on it (a timeout, a lost claim, a partition) can still land
// later, after another writer wrote the key. The writer that writes a key
// whose earlier write is in doubt (a create intent it did not find in
// Notion, a fencing record of a writer that never finished) records a
// doubt with its commit: the key is checked again a few times, with
// growing delays, until the doubt window ends. A check (package engine)
// trashes the key's pages that the index does not name (a late create) and
// sends the redo — the newest write, as its writer sent it — again if the
// index still names that write (a late update over it).

// Doubt is what is in doubt about a key.
type Doubt struct {
	// Create says a create of the key may land late: pages of the key
	// that the index does not name are trashed.
	Create bool
	// Body says a body write of the row (a block append, update or
	// delete) may land late: the body in Notion is checked against its
	// record.
	Body bool
	// Redo is the newest write of the row (the engine's encoding), sent
	// again while it is still the newest; empty: none.
	Redo []byte
	// Delay is when the first check is due (from now).
	Delay time.Duration
}

func (d *Doubt) args() (flag, redo string, delay int64) {
	if d == nil {
		return "", "", 0
	}
	f := 0
	if d.Create {
		f |= doubtCreate
	}
	if d.Body {
		f |= doubtBody
	}
	return strconv.Itoa(f), string(d.Redo), max(d.Delay.Milliseconds(), 1)
}

// The flags of a doubt, one digit in its record.
const (
	doubtCreate = 1
	doubtBody   = 2
)

// doubtLua records a doubt: "<since>|<checks>|<flags>|<redo>" in the
// doubt hash and the first check in the queue (flags: one digit, 1 create,
// 2 body, or'ed). A doubt already recorded is merged: the flags are or'ed,
// a new redo replaces the old one, and the window starts again.
const doubtLua = `
local function doubt(hk, zk, field, create, redo, delay)
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local old = redis.call("HGET", hk, field)
  if old then
    local oc, orest = string.match(old, "^%d+|%d+|(%d)|(.*)$")
    if oc then
      local a, b, f = tonumber(oc), tonumber(create), 0
      for _, bit in ipairs({1, 2}) do
        if a % (2 * bit) >= bit or b % (2 * bit) >= bit then f = f + bit end
      end
      create = tostring(f)
    end
    if redo == "" and orest then redo = orest end
  end
  redis.call("HSET", hk, field, now .. "|0|" .. create .. "|" .. redo)
  redis.call("ZADD", zk, now + tonumber(delay), field)
end
`

var addDoubtScript = redis.NewScript(doubtLua + `
doubt(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1`)

// AddDoubt records a doubt about db/key (merged with one already there).
func (r *RDB) AddDoubt(ctx context.Context, db, key string, d Doubt) error {
	flag, redo, delay := d.args()
	err := addDoubtScript.Run(ctx, r.c, []string{DoubtKey(db), DoubtQueueKey(db)}, key, flag, redo, delay).Err()
	return wrap("record doubt "+db+"/"+key, err)
}

// DueDoubt is one check of a doubt that is due.
type DueDoubt struct {
	Key string
	Doubt
	// Check numbers the checks of this doubt from 1; Last says it is the
	// last one (the window ended: the doubt is forgotten).
	Check int
	Last  bool
}

// doubtDueScript hands out up to ARGV[1] doubts whose check is due and
// schedules each one's next check (ARGV[2] ms after the first, times
// ARGV[3] per check), so that two executors never check one doubt at
// once; a doubt older than the window (ARGV[4] ms) is checked one last
// time and forgotten.
var doubtDueScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, f in ipairs(redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", now, "LIMIT", 0, tonumber(ARGV[1]))) do
  local v = redis.call("HGET", KEYS[1], f)
  local since, n, c, rest
  if v then since, n, c, rest = string.match(v, "^(%d+)|(%d+)|(%d)|(.*)$") end
  if not since then
    redis.call("HDEL", KEYS[1], f)
    redis.call("ZREM", KEYS[2], f)
  else
    n = tonumber(n) + 1
    local last = 0
    if now - tonumber(since) >= tonumber(ARGV[4]) then
      last = 1
      redis.call("HDEL", KEYS[1], f)
      redis.call("ZREM", KEYS[2], f)
    else
      redis.call("HSET", KEYS[1], f, since .. "|" .. n .. "|" .. c .. "|" .. rest)
      redis.call("ZADD", KEYS[2], now + math.floor(tonumber(ARGV[2]) * tonumber(ARGV[3]) ^ n), f)
    end
    out[#out + 1] = f
    out[#out + 1] = c
    out[#out + 1] = rest
    out[#out + 1] = tostring(n)
    out[#out + 1] = tostring(last)
  end
end
return out`)

// DoubtSchedule spaces the checks of a doubt: the first is Doubt.Delay
// after it is recorded, the n-th First·Factorⁿ⁻¹ after the one before,
// until Window after it was recorded.
type DoubtSchedule struct {
	First  time.Duration
	Factor float64
	Window time.Duration
}

// DoubtsDue returns up to n doubts of db whose check is due, each with its
// next check scheduled.
func (r *RDB) DoubtsDue(ctx context.Context, db string, n int, s DoubtSchedule) ([]DueDoubt, error) {
	v, err := doubtDueScript.Run(ctx, r.c, []string{DoubtKey(db), DoubtQueueKey(db)}, n, max(s.First.Milliseconds(), 1), s.Factor, max(s.Window.Milliseconds(), 1)).StringSlice()
	if err != nil && !IsNil(err) {
		return nil, wrap("read doubts of "+db, err)
	}
	var out []DueDoubt
	for i := 0; i+4 < len(v); i += 5 {
		n, err := strconv.Atoi(v[i+3])
		if err != nil {
			return out, fmt.Errorf("rdb: doubt of %s/%s: corrupt check count %q", db, v[i], v[i+3])
		}
		f, _ := strconv.Atoi(v[i+1])
		d := DueDoubt{Key: v[i], Doubt: Doubt{Create: f&doubtCreate != 0, Body: f&doubtBody != 0}, Check: n, Last: v[i+4] == "1"}
		if v[i+2] != "" {
			d.Redo = []byte(v[i+2])
		}
		out = append(out, d)
	}
	return out, nil
}

// DoubtRedo returns the write stored with db/key's doubt (empty: none);
// ok false: the key is not in doubt.
func (r *RDB) DoubtRedo(ctx context.Context, db, key string) (redo []byte, ok bool, err error) {
	v, err := r.c.HGet(ctx, DoubtKey(db), key).Result()
	if IsNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("read doubt of "+db+"/"+key, err)
	}
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 {
		return nil, false, fmt.Errorf("rdb: doubt of %s/%s is corrupt", db, key)
	}
	if parts[3] != "" {
		redo = []byte(parts[3])
	}
	return redo, true, nil
}

// setRedoScript replaces the write stored with a doubt if it is still
// ARGV[2]; the doubt's schedule and flags stay.
var setRedoScript = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], ARGV[1])
if not v then return 0 end
local head, rest = string.match(v, "^(%d+|%d+|%d|)(.*)$")
if not head or rest ~= ARGV[2] then return 0 end
redis.call("HSET", KEYS[1], ARGV[1], head .. ARGV[3])
return 1`)

// SetDoubtRedo replaces the write stored with db/key's doubt by redo if it
// is still old (false: the key is no longer in doubt, or another write is
// stored). Its caller holds the key's claim.
func (r *RDB) SetDoubtRedo(ctx context.Context, db, key string, old, redo []byte) (bool, error) {
	n, err := setRedoScript.Run(ctx, r.c, []string{DoubtKey(db)}, key, string(old), string(redo)).Int()
	return n == 1, wrap("store the write of doubt "+db+"/"+key, err)
}

// Doubts returns the keys of db in doubt (tests, status).
func (r *RDB) Doubts(ctx context.Context, db string) ([]string, error) {
	v, err := r.c.ZRange(ctx, DoubtQueueKey(db), 0, -1).Result()
	return v, wrap("read doubts of "+db, err)
}

// markClaimedScript validates the caller's claim as extendScript does and,
// if it holds, marks a body write in flight (see MarkBodyWrite).
var markClaimedScript = redis.NewScript(`
local c = redis.call("GET", KEYS[1])
if c == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
elseif not c and redis.call("HGET", KEYS[2], ARGV[3]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
else
  return 0
end
local t = redis.call("TIME")
redis.call("HSET", KEYS[3], ARGV[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return 1`)

// MarkBodyWriteClaimed is MarkBodyWrite for the holder of the key's claim
// (token), fenced: it validates and renews the claim (as ExtendClaim) and
// marks the body write in the same step; false means the claim is lost and
// nothing was marked.
func (r *RDB) MarkBodyWriteClaimed(ctx context.Context, db, key, token string, ttl time.Duration) (bool, error) {
	n, err := markClaimedScript.Run(ctx, r.c, []string{ClaimKey(db, key), HeldKey(db), BodyWriteKey(db)}, token, max(ttl.Milliseconds(), 1), key).Int()
	return n == 1, wrap("mark body write "+db+"/"+key, err)
}
