package rdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes of one key are serialized by the key's claim (ClaimKey): a writer
// takes it, reads the key's index entry fresh, decides (stale, unchanged,
// update, create), writes Notion, then stores the new entry and releases
// the claim in one round trip (IndexCAS). A writer that stores no Notion
// write (raising the upstream time of unchanged content) needs no claim,
// but its compare-and-set refuses while another writer holds one, so a
// newer time is never recorded under content that a claim holder is about
// to replace with older content.
//
// The scripts compare stored values byte for byte and never decode them.
// An entry read and decoded re-encodes to the same bytes (encodeEntry is
// canonical), so a RowState built from a page's lookup compares like one
// read under the claim.

// storedEntry is the bytes the index holds for e (as IndexSet stores it,
// its written time included).
func storedEntry(e IndexEntry) string { return string(encodeEntry(e, false)) }

func decodeStored(db, key, s string) (IndexEntry, error) {
	e, err := decodeEntry([]byte(s))
	if err != nil {
		return e, fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, key, err)
	}
	return e, nil
}

// RowState is a key's index entry as stored, with its raw value for a
// later compare-and-set.
type RowState struct {
	Entry IndexEntry
	// Known says the key has an entry.
	Known bool
	// Raw is the stored value, "" when there is none.
	Raw string
	// Tomb is, for a key without an entry that an explicit delete
	// trashed, the newest upstream time it had (Unix ns; 0: none). Only
	// ClaimRow reads it.
	Tomb int64
}

// TombstoneTTL is how long a deleted key's upstream time is kept after
// the delete: an upsert older than the delete arriving later than that
// (a very late replay) creates the row again.
const TombstoneTTL = 30 * 24 * time.Hour

// tombstoneTTL is TombstoneTTL; tests shorten it.
var tombstoneTTL = TombstoneTTL

// RowClaim is the outcome of ClaimRow.
type RowClaim struct {
	// Got says the claim was taken; the other fields are then set.
	Got bool
	RowState
	// Intent says an earlier writer sent a create for the key and never
	// recorded its outcome: the row may exist in Notion.
	Intent bool
	// Dirty says the key's last claim was another writer's that never
	// committed or released (it died, stalled or was cut off while writing,
	// or gave up on a write whose outcome it did not know): a Notion write
	// of that writer may still land.
	Dirty bool
	// TakenOver says the claim was held by an earlier claim of the same
	// holder (this process and page attempt, orphaned by a Redis outage)
	// and was taken over instead of waited out.
	TakenOver bool
	// Refs are the encoded blocks of the row's body record (when
	// Entry.Body.Hash is set).
	Refs []byte
}

// tombLua prunes tombstones older than their TTL: up to 16 of them on each
// claim and commit of a key of the database, so that none outlives its TTL
// by long while the database is written (and one past it is never read:
// see tombAlive). KEYS: tombstones, their times; ttl in ms.
const tombLua = `
local function tombnow()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prunetombs(tk, ttk, now, ttl)
  for _, k in ipairs(redis.call("ZRANGEBYSCORE", ttk, "-inf", "(" .. (now - ttl), "LIMIT", 0, 16)) do
    redis.call("HDEL", tk, k)
    redis.call("ZREM", ttk, k)
  end
end
local function tombAlive(tk, ttk, key, now, ttl)
  local v = redis.call("HGET", tk, key)
  if not v then return "" end
  local at = redis.call("ZSCORE", ttk, key)
  if at and tonumber(at) < now - ttl then
    redis.call("HDEL", tk, key)
    redis.call("ZREM", ttk, key)
    return ""
  end
  return v
end
`

// claimRowScript takes a key's claim and reads its entry, create intent,
// body record and body write mark in one round trip. When the key has no
// entry and the caller intends to create it, the create intent is
// recorded at once. A claim held by an earlier token of the same holder
// (ARGV[5], the part of the token before its last "#": one process's page
// attempt) is taken over: that holder is the caller, whose earlier try met
// a Redis outage and could not release it. The claim's fencing record
// (HeldKey) names the new token; finding another token there means that
// writer never finished. A tombstone past its TTL (ARGV[6], ms) is not
// read, and is pruned with a few others as old (KEYS[8]: tombstone times).
var claimRowScript = redis.NewScript(bucketLua + tombLua + `
local over = 0
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  local cur = redis.call("GET", KEYS[1])
  if ARGV[5] ~= "" and cur and string.sub(cur, 1, #ARGV[5] + 1) == ARGV[5] .. "#" then
    redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
    over = 1
  else
    return {0}
  end
end
local prev = redis.call("HGET", KEYS[7], ARGV[3])
local dirty = 0
if prev and prev ~= ARGV[1] then dirty = 1 end
redis.call("HSET", KEYS[7], ARGV[3], ARGV[1])
local l, s = layout(KEYS[2])
local raw = redis.call("HGET", bucket(KEYS[2], l, s, ARGV[3]), ARGV[3])
local intent = redis.call("HEXISTS", KEYS[3], ARGV[3])
if not raw and ARGV[4] == "1" and intent == 0 then
  local t = redis.call("TIME")
  redis.call("HSET", KEYS[3], ARGV[3], t[1] .. string.format("%06d", tonumber(t[2])) .. "000")
end
local bl, bs = layout(KEYS[4])
local body = redis.call("HGET", bucket(KEYS[4], bl, bs, ARGV[3]), ARGV[3])
local tomb = ""
local now = tombnow()
if not raw then tomb = tombAlive(KEYS[6], KEYS[8], ARGV[3], now, tonumber(ARGV[6])) end
prunetombs(KEYS[6], KEYS[8], now, tonumber(ARGV[6]))
return {1, raw or "", intent, body or "", redis.call("HEXISTS", KEYS[5], ARGV[3]), tomb, dirty, over}
`)

// holderOf is the holder part of a claim token: what comes before its
// last "#" ("" for a token without one, which nothing takes over).
func holderOf(token string) string {
	if i := strings.LastIndexByte(token, '#'); i > 0 {
		return token[:i]
	}
	return ""
}

// ClaimRow takes the claim of db/key for token (held ttl, see ExtendClaim)
// and returns the key's index entry and whether a create intent was left
// by an earlier writer. With intendCreate, a key without an entry gets a
// create intent: the claim holder is about to create it. Got is false when
// another writer holds the claim. A token "<holder>#<n>" takes over a
// claim held by another token of the same holder.
func (r *RDB) ClaimRow(ctx context.Context, db, key, token string, ttl time.Duration, intendCreate bool) (RowClaim, error) {
	intend := "0"
	if intendCreate {
		intend = "1"
	}
	v, err := claimRowScript.Run(ctx, r.c, []string{ClaimKey(db, key), IndexMetaKey(db), IntentKey(db), BodyMetaKey(db), BodyWriteKey(db), TombKey(db), HeldKey(db), TombTimeKey(db)},
		token, max(ttl.Milliseconds(), 1), key, intend, holderOf(token), tombstoneTTL.Milliseconds()).Slice()
	if err != nil {
		return RowClaim{}, wrap("claim "+db+"/"+key, err)
	}
	if n, _ := v[0].(int64); n == 0 {
		return RowClaim{}, nil
	}
	if len(v) != 8 {
		return RowClaim{}, fmt.Errorf("rdb: claim %s/%s: script returned %d values, want 8", db, key, len(v))
	}
	c := RowClaim{Got: true}
	c.Raw, _ = v[1].(string)
	intent, _ := v[2].(int64)
	c.Intent = intent == 1
	if c.Raw != "" {
		c.Known = true
		if c.Entry, err = decodeStored(db, key, c.Raw); err != nil {
			return c, err
		}
	}
	if body, _ := v[3].(string); body != "" {
		rec, ok := decodeBody(body)
		if !ok {
			return c, fmt.Errorf("rdb: body record of %s/%s is cut short", db, key)
		}
		c.Entry.Body.Hash, c.Refs = rec.Hash, rec.Refs
	}
	writing, _ := v[4].(int64)
	c.Entry.Body.Writing = writing == 1
	if t, _ := v[5].(string); t != "" {
		if c.Tomb, err = strconv.ParseInt(t, 10, 64); err != nil {
			return c, fmt.Errorf("rdb: tombstone of %s/%s is corrupt: %q", db, key, t)
		}
	}
	dirty, _ := v[6].(int64)
	over, _ := v[7].(int64)
	c.Dirty, c.TakenOver = dirty == 1, over == 1
	return c, nil
}

// CAS is the outcome of IndexCAS.
type CAS struct {
	// OK says the entry was stored.
	OK bool
	// Busy says another writer holds the key's claim: nothing was stored.
	Busy bool
	// Stale says the caller's claim is no longer its own (another writer
	// claimed the key since): nothing was stored, and Current is what the
	// index holds.
	Stale bool
	// Current is what the index holds when the compare failed.
	Current RowState
}

// casScript stores (or deletes) one index entry if the stored value is
// the expected one and no other writer holds the key's claim; it clears
// the create intent and, when asked, releases our claim. A stored entry
// gets the server's time appended as its written time (see setScript).
// The row's body record goes with it: deleted with the entry, else kept,
// set or forgotten as asked (setting or forgetting clears the body write
// mark).
//
// A delete with a tombstone records it; a created entry clears the key's
// tombstone; every commit drops up to 16 tombstones older than their TTL.
//
// A caller with a claim (a token) is fenced: the claim must still be its
// own — it holds it, or it expired with no other writer claiming the key
// since (HeldKey still names the token) — or nothing is stored ({-2, the
// stored value}). Releasing drops the fencing record. A doubt (see
// DoubtKey) recorded with the commit goes in the same step.
//
// KEYS: index meta, intent, claim, body meta, body write marks, tombstones,
// their times, held (fencing records), doubt, doubt queue. ARGV: key,
// expected ("" = absent), next ("" = delete; encoded with its written flag
// and without the time), token ("" = we hold no claim), release ("1"),
// body op ("k" keep, "s" set, "f" forget), body record (for "s"),
// tombstone ("" = none), tombstone TTL (ms), doubt create flag ("" = no
// doubt, "0" or "1"), doubt redo, doubt first delay (ms).
var casScript = redis.NewScript(bucketLua + doubtLua + tombLua + `
local holder = redis.call("GET", KEYS[3])
if ARGV[4] == "" and holder then
  return {-1}
end
local l, s = layout(KEYS[1])
local b = bucket(KEYS[1], l, s, ARGV[1])
local cur = redis.call("HGET", b, ARGV[1]) or ""
if ARGV[4] ~= "" and holder ~= ARGV[4] and (holder or redis.call("HGET", KEYS[8], ARGV[1]) ~= ARGV[4]) then
  return {-2, cur}
end
if cur ~= ARGV[2] then
  return {0, cur}
end
local op = ARGV[6]
if ARGV[3] == "" then op = "f" end
if op ~= "k" then
  local bl, bs = layout(KEYS[4])
  local bb = bucket(KEYS[4], bl, bs, ARGV[1])
  if op == "s" then
    if redis.call("HSET", bb, ARGV[1], ARGV[7]) == 1 then added(KEYS[4], bl, bs, 1) end
  else
    removed(KEYS[4], redis.call("HDEL", bb, ARGV[1]))
  end
  redis.call("HDEL", KEYS[5], ARGV[1])
end
if ARGV[3] == "" then
  removed(KEYS[1], redis.call("HDEL", b, ARGV[1]))
  if ARGV[8] ~= "" then
    redis.call("HSET", KEYS[6], ARGV[1], ARGV[8])
    redis.call("ZADD", KEYS[7], tombnow(), ARGV[1])
  end
else
  if cur == "" and redis.call("HDEL", KEYS[6], ARGV[1]) == 1 then redis.call("ZREM", KEYS[7], ARGV[1]) end
  local t = redis.call("TIME")
  local x, enc = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), {}
  while x >= 128 do
    enc[#enc + 1] = string.char(x % 128 + 128)
    x = math.floor(x / 128)
  end
  enc[#enc + 1] = string.char(x)
  if redis.call("HSET", b, ARGV[1], ARGV[3] .. table.concat(enc)) == 1 then added(KEYS[1], l, s, 1) end
end
redis.call("HDEL", KEYS[2], ARGV[1])
prunetombs(KEYS[6], KEYS[7], tombnow(), tonumber(ARGV[9]))
if ARGV[5] == "1" and ARGV[4] ~= "" then
  if holder then redis.call("DEL", KEYS[3]) end
  if redis.call("HGET", KEYS[8], ARGV[1]) == ARGV[4] then redis.call("HDEL", KEYS[8], ARGV[1]) end
end
if ARGV[10] ~= "" then
  doubt(KEYS[9], KEYS[10], ARGV[1], ARGV[10], ARGV[11], ARGV[12])
end
return {1}
`)

// IndexCAS stores next as key's entry (nil deletes it) if the index still
// holds expected (compared byte for byte; an unknown expected means "no
// entry"), and no writer other than token holds the key's claim (token ""
// means the caller holds none). It clears the key's create intent and,
// with release, frees the caller's claim, all in one round trip. The
// key's body record is kept, unless the entry is deleted.
func (r *RDB) IndexCAS(ctx context.Context, db, key string, expected RowState, next *IndexEntry, token string, release bool) (CAS, error) {
	return r.IndexCASBody(ctx, db, key, expected, next, token, release, BodyKeep)
}

// IndexCASBody is IndexCAS that also does body to the key's body record,
// in the same step (a deleted entry drops the record whatever body says).
func (r *RDB) IndexCASBody(ctx context.Context, db, key string, expected RowState, next *IndexEntry, token string, release bool, body BodyOp) (CAS, error) {
	return r.indexCAS(ctx, db, key, expected, next, token, release, body, 0, nil)
}

// CommitRow is IndexCASBody (tomb for a delete, as IndexCASDelete) for a
// claim holder that also records a doubt about the key (nil: none) in the
// same step.
func (r *RDB) CommitRow(ctx context.Context, db, key string, expected RowState, next *IndexEntry, token string, body BodyOp, tomb int64, d *Doubt) (CAS, error) {
	if next == nil {
		body = BodyForget
	}
	return r.indexCAS(ctx, db, key, expected, next, token, true, body, tomb, d)
}

// IndexCASDelete is IndexCAS deleting the entry, for an explicit delete:
// with tomb (the row's newest upstream time, Unix ns; 0: none) it keeps a
// tombstone so that an older upsert arriving later is skipped as stale.
func (r *RDB) IndexCASDelete(ctx context.Context, db, key string, expected RowState, token string, release bool, tomb int64) (CAS, error) {
	return r.indexCAS(ctx, db, key, expected, nil, token, release, BodyForget, tomb, nil)
}

func (r *RDB) indexCAS(ctx context.Context, db, key string, expected RowState, next *IndexEntry, token string, release bool, body BodyOp, tomb int64, d *Doubt) (CAS, error) {
	if body.kind == 0 {
		body = BodyKeep
	}
	rec := ""
	if body.kind == 's' {
		var err error
		if rec, err = encodeBody(body.rec); err != nil {
			return CAS{}, err
		}
	}
	exp := ""
	if expected.Known {
		exp = expected.Raw
		if exp == "" {
			exp = storedEntry(expected.Entry)
		}
	}
	val := ""
	if next != nil {
		val = string(encodeEntry(*next, true))
	}
	rel := "0"
	if release {
		rel = "1"
	}
	tombArg := ""
	if next == nil && tomb != 0 {
		tombArg = strconv.FormatInt(tomb, 10)
	}
	dFlag, dRedo, dDelay := d.args()
	v, err := casScript.Run(ctx, r.c, []string{IndexMetaKey(db), IntentKey(db), ClaimKey(db, key), BodyMetaKey(db), BodyWriteKey(db), TombKey(db), TombTimeKey(db), HeldKey(db), DoubtKey(db), DoubtQueueKey(db)},
		key, exp, val, token, rel, string([]byte{body.kind}), rec, tombArg, tombstoneTTL.Milliseconds(), dFlag, dRedo, dDelay).Slice()
	if err != nil {
		return CAS{}, wrap("write index of "+db+"/"+key, err)
	}
	switch n, _ := v[0].(int64); n {
	case 1:
		return CAS{OK: true}, nil
	case -1:
		return CAS{Busy: true}, nil
	}
	var res CAS
	if n, _ := v[0].(int64); n == -2 {
		res.Stale = true
	}
	if len(v) == 2 {
		res.Current.Raw, _ = v[1].(string)
	}
	if res.Current.Raw != "" {
		res.Current.Known = true
		if res.Current.Entry, err = decodeStored(db, key, res.Current.Raw); err != nil {
			return res, err
		}
	}
	return res, nil
}

// warnOnceScript adds members to a run's set of warnings given and
// returns those that were new.
var warnOnceScript = redis.NewScript(`
local fresh = {}
for i = 2, #ARGV do
  if redis.call("SADD", KEYS[1], ARGV[1] .. "\0" .. ARGV[i]) == 1 then
    fresh[#fresh + 1] = ARGV[i]
  end
end
redis.call("EXPIRE", KEYS[1], 604800)
return fresh
`)

// WarnOnce records that run warned about members of kind (emails no
// member has, say) and returns the members it had not warned about yet,
// so a warning repeated by every page and executor of a run is logged
// once per run.
func (r *RDB) WarnOnce(ctx context.Context, sync, run, kind string, members []string) ([]string, error) {
	if len(members) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(members)+1)
	args = append(args, kind)
	for _, m := range members {
		args = append(args, m)
	}
	fresh, err := warnOnceScript.Run(ctx, r.c, []string{RunWarnedKey(sync, run)}, args...).StringSlice()
	if err != nil && !IsNil(err) {
		return members, wrap("record the warnings of run "+run, err)
	}
	return fresh, nil
}

// tombstonesScript reads the tombstones of keys (ARGV[2:]) alive within
// their TTL (ARGV[1], ms), dropping those past it, and prunes a few more.
var tombstonesScript = redis.NewScript(tombLua + `
local now, ttl, out = tombnow(), tonumber(ARGV[1]), {}
for i = 2, #ARGV do
  out[#out + 1] = tombAlive(KEYS[1], KEYS[2], ARGV[i], now, ttl)
end
prunetombs(KEYS[1], KEYS[2], now, ttl)
return out
`)

// Tombstones returns the tombstones (see TombKey) of those keys that have
// one within its TTL (one past it is dropped, never returned).
func (r *RDB) Tombstones(ctx context.Context, db string, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, tombstoneTTL.Milliseconds())
	for _, k := range keys {
		args = append(args, k)
	}
	v, err := tombstonesScript.Run(ctx, r.c, []string{TombKey(db), TombTimeKey(db)}, args...).StringSlice()
	if err != nil {
		return nil, wrap("read tombstones of "+db, err)
	}
	for i, s := range v {
		if s == "" {
			continue
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			out[keys[i]] = n
		}
	}
	return out, nil
}
