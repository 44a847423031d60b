package rdb

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Waiter is a relation value that names rows not written yet: row Key of
// Database has property Property = Related (keys of the related
// database), and some of Related were missing when the row was written.
// It waits under each missing key, in the related database's wait buckets
// (WaitMetaKey), so that writing those rows finds who waits for them in
// one read, and it is dropped after a TTL if they never come.
type Waiter struct {
	Database string
	Key      string
	Property string
	// Hash is the row's content hash when it was written with this value;
	// a row rewritten since (another hash) makes the waiter stale.
	Hash    string
	Related []string
	// Since is when the relation began waiting (Redis server clock).
	Since time.Time
	// Target is the missing key it was found under (set by reads).
	Target string

	raw string // the stored record, for RemoveWaiters
}

func (w Waiter) id() string { return w.Database + "\x00" + w.Key + "\x00" + w.Property }

// Record: [u16 length of the rest][u16 id length][id][6-byte since, ms]
// [hash: 1 tag byte, then 8 bytes (hex) or a length-prefixed string]
// [uvarint count][length-prefixed related keys, the key the record is filed
// under as an empty string (related keys are never empty)]. Lua reads only
// the id and the time.
func encodeWaiter(w Waiter, target string) ([]byte, error) {
	id := w.id()
	b := make([]byte, 4, 64)
	b = append(b, id...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	if h, ok := hexHash(w.Hash); ok {
		b = append(b, 1)
		b = append(b, h...)
	} else {
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(len(w.Hash)))
		b = append(b, w.Hash...)
	}
	b = binary.AppendUvarint(b, uint64(len(w.Related)))
	for _, k := range w.Related {
		if k == target {
			k = ""
		}
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	if len(id) > 0xffff || len(b)-2 > 0xffff {
		return nil, fmt.Errorf("relation value of %s.%s for key %q is too large to wait for its rows (%d bytes)", w.Database, w.Property, w.Key, len(b))
	}
	binary.BigEndian.PutUint16(b[0:], uint16(len(b)-2))
	binary.BigEndian.PutUint16(b[2:], uint16(len(id)))
	return b, nil
}

func decodeWaiters(target, v string) ([]Waiter, error) {
	var out []Waiter
	bad := errors.New("corrupt waiter record")
	for p := []byte(v); len(p) > 0; {
		if len(p) < 4 {
			return out, bad
		}
		n := int(binary.BigEndian.Uint16(p))
		if n < 2 || len(p) < 2+n {
			return out, bad
		}
		rec, r := p[:2+n], p[4:2+n]
		p = p[2+n:]
		idLen := int(binary.BigEndian.Uint16(rec[2:]))
		if len(r) < idLen+7 {
			return out, bad
		}
		parts := strings.Split(string(r[:idLen]), "\x00")
		if len(parts) < 3 {
			return out, bad
		}
		w := Waiter{Database: parts[0], Key: strings.Join(parts[1:len(parts)-1], "\x00"), Property: parts[len(parts)-1], Target: target, raw: string(rec)}
		r = r[idLen:]
		var ms int64
		for _, c := range r[:6] {
			ms = ms<<8 | int64(c)
		}
		w.Since = time.UnixMilli(ms)
		r = r[6:]
		str := func() (string, bool) {
			l, k := binary.Uvarint(r)
			if k <= 0 || uint64(len(r)-k) < l {
				return "", false
			}
			s := string(r[k : k+int(l)])
			r = r[k+int(l):]
			return s, true
		}
		ok := true
		switch r[0] {
		case 1:
			if len(r) < 1+HashBytes {
				return out, bad
			}
			w.Hash = hex.EncodeToString(r[1 : 1+HashBytes])
			r = r[1+HashBytes:]
		default:
			r = r[1:]
			w.Hash, ok = str()
		}
		cnt, k := binary.Uvarint(r)
		if !ok || k <= 0 {
			return out, bad
		}
		r = r[k:]
		for range cnt {
			s, ok := str()
			if !ok {
				return out, bad
			}
			if s == "" {
				s = target
			}
			w.Related = append(w.Related, s)
		}
		out = append(out, w)
	}
	return out, nil
}

// waitLua reads records: [u16 len][u16 idlen][id][6-byte since][...].
var waitLua = bucketLua + `
local function u16(v, i) return string.byte(v, i) * 256 + string.byte(v, i + 1) end
local function recs(v)
  local out, i = {}, 1
  if not v then return out end
  while i + 1 <= #v do
    local n = u16(v, i)
    out[#out + 1] = string.sub(v, i, i + 1 + n)
    i = i + 2 + n
  end
  return out
end
local function rid(r) return string.sub(r, 5, 4 + u16(r, 3)) end
local function rsince(r)
  local p, x = 5 + u16(r, 3), 0
  for j = 0, 5 do x = x * 256 + string.byte(r, p + j) end
  return x
end
local function withsince(r, ms)
  local p, b, x = 5 + u16(r, 3), {}, ms
  for j = 6, 1, -1 do
    b[j] = string.char(x % 256)
    x = math.floor(x / 256)
  end
  return string.sub(r, 1, p - 1) .. table.concat(b) .. string.sub(r, p + 6)
end
local function now()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// waitAddScript files a record under each missing key, replacing the
// record of the same row and property and keeping the time it began to
// wait.
var waitAddScript = redis.NewScript(waitLua + `
local ms = now()
local l, s = layout(KEYS[1])
for i = 1, #ARGV, 2 do
  local f, rec = ARGV[i], ARGV[i + 1]
  local id = rid(rec)
  local bk = bucket(KEYS[1], l, s, f)
  local v = redis.call("HGET", bk, f)
  local since, keep = ms, {}
  if v and string.find(v, id, 1, true) then
    for _, r in ipairs(recs(v)) do
      if rid(r) == id then since = rsince(r) else keep[#keep + 1] = r end
    end
  elseif v then
    keep[1] = v
  end
  keep[#keep + 1] = withsince(rec, since)
  if redis.call("HSET", bk, f, table.concat(keep)) == 1 then l, s = added(KEYS[1], l, s, 1) end
end
return ms`)

// AddWaiter files w under each key of related (the database w's relation
// points to) that is missing. A row rewritten with the same relation
// still missing keeps the time it began waiting.
func (r *RDB) AddWaiter(ctx context.Context, related string, w Waiter, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(missing))
	for _, k := range missing {
		rec, err := encodeWaiter(w, k)
		if err != nil {
			return err
		}
		args = append(args, k, rec)
	}
	err := waitAddScript.Run(ctx, r.c, []string{WaitMetaKey(related)}, args...).Err()
	return wrap("record relations waiting for rows of "+related, err)
}

// Waiters returns the relations waiting for any of keys of db.
func (r *RDB) Waiters(ctx context.Context, db string, keys []string) ([]Waiter, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	res, err := getScript.Run(ctx, r.c, []string{WaitMetaKey(db)}, args...).Slice()
	if err != nil {
		return nil, wrap("read relations waiting for rows of "+db, err)
	}
	var out []Waiter
	for i, v := range res {
		s, ok := v.(string)
		if !ok || i >= len(keys) {
			continue
		}
		ws, err := decodeWaiters(keys[i], s)
		if err != nil {
			return out, fmt.Errorf("rdb: relations waiting for %s/%q: %w", db, keys[i], err)
		}
		out = append(out, ws...)
	}
	return out, nil
}

var waitRemoveScript = redis.NewScript(waitLua + `
local l, s = layout(KEYS[1])
local k = 0
for i = 1, #ARGV, 2 do
  local f, rec = ARGV[i], ARGV[i + 1]
  local bk = bucket(KEYS[1], l, s, f)
  local v = redis.call("HGET", bk, f)
  if v then
    local keep = {}
    for _, r in ipairs(recs(v)) do
      if r ~= rec then keep[#keep + 1] = r end
    end
    if #keep == 0 then
      k = k + redis.call("HDEL", bk, f)
    else
      redis.call("HSET", bk, f, table.concat(keep))
    end
  end
end
removed(KEYS[1], k)
return k`)

// RemoveWaiters removes waiters read from db's wait buckets (by Waiters or
// ExpireWaiters) from under their Target key, unless they were replaced
// since.
func (r *RDB) RemoveWaiters(ctx context.Context, db string, ws []Waiter) error {
	if len(ws) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(ws))
	for _, w := range ws {
		if w.raw != "" {
			args = append(args, w.Target, w.raw)
		}
	}
	if len(args) == 0 {
		return nil
	}
	err := waitRemoveScript.Run(ctx, r.c, []string{WaitMetaKey(db)}, args...).Err()
	return wrap("forget relations waiting for rows of "+db, err)
}

// waitExpireScript walks up to ARGV[2] buckets from the stored cursor and
// drops the records older than ARGV[1] ms; it returns the number dropped
// and, up to ARGV[3] of them, their key and record.
var waitExpireScript = redis.NewScript(waitLua + `
local cutoff = now() - tonumber(ARGV[1])
local l, s = layout(KEYS[1])
local n = 2 ^ l + s
local cur = tonumber(redis.call("HGET", KEYS[1], "cur")) or 0
local steps = math.min(tonumber(ARGV[2]), n)
local out, dropped, gone = {0}, 0, 0
for i = 1, steps do
  if cur >= n then cur = 0 end
  local bk = bkey(KEYS[1], cur)
  local kv = redis.call("HGETALL", bk)
  for j = 1, #kv, 2 do
    local keep, changed = {}, false
    for _, r in ipairs(recs(kv[j + 1])) do
      if rsince(r) < cutoff then
        changed = true
        dropped = dropped + 1
        if #out < 1 + 2 * tonumber(ARGV[3]) then
          out[#out + 1] = kv[j]
          out[#out + 1] = r
        end
      else
        keep[#keep + 1] = r
      end
    end
    if changed then
      if #keep == 0 then
        gone = gone + redis.call("HDEL", bk, kv[j])
      else
        redis.call("HSET", bk, kv[j], table.concat(keep))
      end
    end
  end
  cur = cur + 1
end
removed(KEYS[1], gone)
if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("HSET", KEYS[1], "cur", cur) end
out[1] = dropped
return out`)

// ExpireWaiters drops, in up to buckets of db's wait buckets (a round-robin
// walk that resumes where the last call stopped), the waiters older than
// ttl. It returns how many were dropped and up to max of them.
func (r *RDB) ExpireWaiters(ctx context.Context, db string, ttl time.Duration, buckets, max int) (dropped []Waiter, total int, err error) {
	res, err := waitExpireScript.Run(ctx, r.c, []string{WaitMetaKey(db)}, ttl.Milliseconds(), buckets, max).Slice()
	if err != nil {
		return nil, 0, wrap("expire relations waiting for rows of "+db, err)
	}
	if len(res) == 0 {
		return nil, 0, nil
	}
	n, _ := res[0].(int64)
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		ws, err := decodeWaiters(k, v)
		if err != nil {
			return dropped, int(n), fmt.Errorf("rdb: relations waiting for %s/%q: %w", db, k, err)
		}
		dropped = append(dropped, ws...)
	}
	return dropped, int(n), nil
}

// WaitLen is the number of keys of db that relations wait for.
func (r *RDB) WaitLen(ctx context.Context, db string) (int64, error) {
	n, err := r.c.HGet(ctx, WaitMetaKey(db), "n").Int64()
	if IsNil(err) {
		return 0, nil
	}
	return n, wrap("count relations waiting for rows of "+db, err)
}

// PendingRelation is a pending relation in the format of synq versions
// before Waiter (LegacyPendingKey), read once to migrate it.
type PendingRelation struct {
	Key      string   `json:"key"`
	Property string   `json:"property"`
	Related  []string `json:"related"`
}

// LegacyPending reads the old-format pending relations of a database.
func (r *RDB) LegacyPending(ctx context.Context, db string) ([]PendingRelation, error) {
	m, err := r.c.HGetAll(ctx, LegacyPendingKey(db)).Result()
	if err != nil {
		return nil, wrap("read old pending relations of "+db, err)
	}
	out := make([]PendingRelation, 0, len(m))
	for _, v := range m {
		var p PendingRelation
		if err := json.Unmarshal([]byte(v), &p); err == nil && len(p.Related) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// DropLegacyPending deletes the old-format pending relations once migrated.
func (r *RDB) DropLegacyPending(ctx context.Context, db string) error {
	return wrap("drop old pending relations of "+db, r.c.Del(ctx, LegacyPendingKey(db)).Err())
}
