package rdb

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// IndexEntry is what synq remembers of one row it wrote.
type IndexEntry struct {
	PageID string `json:"p"`
	// Hash is the hash of the content last written; an upsert with the same
	// hash needs no Notion call. Hashes are compared as stored: a hex hash of
	// HashBytes bytes, optionally followed by "+" and the marks "i" and "c"
	// (the row had an icon, a cover), is stored in HashBytes bytes and two
	// flag bits; a longer hex hash read from an old JSON index is cut to
	// that length when migrated.
	Hash string `json:"h,omitempty"`
	// Upstream is the upstream updated-at (Unix nanoseconds) of the content
	// last written; older upserts are skipped as stale.
	Upstream int64 `json:"u,omitempty"`
	// Written is when synq last wrote the row (Unix nanoseconds, millisecond
	// precision), by the Redis server's clock: IndexSet ignores the value it
	// is given and stamps the server's time. A replace cycle never sweeps a
	// row written after the cycle began (BeginCycle, same clock): another
	// sync sharing the database may have just created it.
	Written int64 `json:"w,omitempty"`
	// Body is what is known of the row's page body. It is not part of the
	// entry's bytes: IndexLookup and ClaimRow read it from beside the
	// entry (BodyMetaKey, BodyWriteKey); other reads leave it zero.
	Body BodyState `json:"-"`
}

// HashBytes is the length of the content hashes the index stores compactly
// (as 2*HashBytes hex characters in IndexEntry.Hash).
const HashBytes = 8

// Entry encoding: a flags byte, then the page id (16 bytes when it is a
// canonical UUID, else a length-prefixed string), the hash (HashBytes bytes
// when it is lower-case hex of that length, else length-prefixed), the
// upstream time (a unit-tagged varint) and last the written time (a varint
// of Unix milliseconds, appended by the IndexSet script).
const (
	entUUID     = 1 << 0
	entHashHex  = 1 << 1
	entHashRaw  = 1 << 2
	entUpstream = 1 << 3
	entWritten  = 1 << 4
	entIcon     = 1 << 5 // the hash's "i" mark
	entCover    = 1 << 6 // the hash's "c" mark
	entVersion  = 0x80   // version 0: the high bit is zero
)

// splitMarks splits a content hash into its hex part and mark flags.
func splitMarks(h string) (string, byte, bool) {
	base, marks, ok := strings.Cut(h, "+")
	if !ok {
		return h, 0, true
	}
	if marks == "" {
		return h, 0, false // "hash+" is not canonical: kept raw, as written
	}
	var f byte
	for _, c := range marks {
		switch {
		case c == 'i' && f&entIcon == 0:
			f |= entIcon
		case c == 'c' && f&entCover == 0:
			f |= entCover
		default:
			return h, 0, false
		}
	}
	// Canonical order only ("i" before "c"): decoding gives back the same
	// string.
	if marks != joinMarks(f) {
		return h, 0, false
	}
	return base, f, true
}

func joinMarks(f byte) string {
	m := ""
	if f&entIcon != 0 {
		m += "i"
	}
	if f&entCover != 0 {
		m += "c"
	}
	return m
}

// encodeEntry encodes e without its written time; withWritten sets the
// flag for the script that appends it.
func encodeEntry(e IndexEntry, withWritten bool) []byte {
	b := make([]byte, 1, 40)
	flags := byte(0)
	if id, ok := uuidBytes(e.PageID); ok {
		flags |= entUUID
		b = append(b, id[:]...)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.PageID)))
		b = append(b, e.PageID...)
	}
	base, marks, okMarks := splitMarks(e.Hash)
	if h, ok := hexHash(base); ok && okMarks {
		flags |= entHashHex | marks
		b = append(b, h...)
	} else if e.Hash != "" {
		flags |= entHashRaw
		b = binary.AppendUvarint(b, uint64(len(e.Hash)))
		b = append(b, e.Hash...)
	}
	if e.Upstream != 0 {
		flags |= entUpstream
		b = appendTime(b, e.Upstream)
	}
	if withWritten {
		flags |= entWritten
	} else if e.Written != 0 {
		flags |= entWritten
		b = binary.AppendUvarint(b, uint64(e.Written/int64(time.Millisecond)))
	}
	b[0] = flags
	return b
}

func decodeEntry(v []byte) (IndexEntry, error) {
	var e IndexEntry
	if len(v) == 0 || v[0]&entVersion != 0 {
		return e, errors.New("unknown entry format")
	}
	flags, p := v[0], v[1:]
	short := errors.New("truncated entry")
	str := func() (string, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return "", short
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, nil
	}
	var err error
	if flags&entUUID != 0 {
		if len(p) < 16 {
			return e, short
		}
		e.PageID = uuidString(p[:16])
		p = p[16:]
	} else if e.PageID, err = str(); err != nil {
		return e, err
	}
	switch {
	case flags&entHashHex != 0:
		if len(p) < HashBytes {
			return e, short
		}
		e.Hash = hex.EncodeToString(p[:HashBytes])
		if m := joinMarks(flags); m != "" {
			e.Hash += "+" + m
		}
		p = p[HashBytes:]
	case flags&entHashRaw != 0:
		if e.Hash, err = str(); err != nil {
			return e, err
		}
	}
	if flags&entUpstream != 0 {
		var k int
		if e.Upstream, k = readTime(p); k <= 0 {
			return e, short
		}
		p = p[k:]
	}
	if flags&entWritten != 0 {
		ms, k := binary.Uvarint(p)
		if k <= 0 {
			return e, short
		}
		e.Written = int64(ms) * int64(time.Millisecond)
	}
	return e, nil
}

// appendTime encodes Unix nanoseconds in as few bytes as their precision
// allows: upstream times are mostly whole seconds or milliseconds.
func appendTime(b []byte, ns int64) []byte {
	zig := func(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }
	switch {
	case ns%int64(time.Second) == 0:
		return binary.AppendUvarint(b, zig(ns/int64(time.Second))<<2|1)
	case ns%int64(time.Millisecond) == 0:
		return binary.AppendUvarint(b, zig(ns/int64(time.Millisecond))<<2|2)
	case ns%int64(time.Microsecond) == 0:
		return binary.AppendUvarint(b, zig(ns/int64(time.Microsecond))<<2|3)
	}
	return binary.AppendUvarint(append(b, 0), zig(ns))
}

func readTime(p []byte) (int64, int) {
	unzig := func(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
	c, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, k
	}
	unit := []int64{1, int64(time.Second), int64(time.Millisecond), int64(time.Microsecond)}[c&3]
	if c&3 != 0 {
		return unzig(c>>2) * unit, k
	}
	u, k2 := binary.Uvarint(p[k:])
	if k2 <= 0 {
		return 0, k2
	}
	return unzig(u), k + k2
}

// uuidBytes parses a canonical (dashed, lower-case) UUID, the form Notion
// returns, so that decoding gives back the same string.
func uuidBytes(s string) ([16]byte, bool) {
	var out [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || strings.ToLower(s) != s {
		return out, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, false
	}
	return out, true
}

func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hexHash decodes a lower-case hex hash of HashBytes bytes.
func hexHash(s string) ([]byte, bool) {
	if len(s) != 2*HashBytes || strings.ToLower(s) != s {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// IndexLookup is the result of one page's read of a database's index.
type IndexLookup struct {
	// Gen is the index's generation marker; "" means the index is missing
	// (never built, or Redis lost it) and must be rebuilt before any write.
	Gen string
	// Legacy says an index in the old JSON format exists: migrate it.
	Legacy bool
	// HistoryChanged says Redis restarted or failed over since the index
	// was last known complete (the server's replication id changed): the
	// writes made just before may be lost, so the index must be checked
	// against Notion before any write.
	HistoryChanged bool
	// Entries are the entries of the keys asked for that exist (only when
	// Gen is set and Legacy is false).
	Entries map[string]IndexEntry
}

// Complete says the index can be trusted: it has a generation marker set
// in Redis's current history and no old-format index to migrate.
func (l IndexLookup) Complete() bool { return l.Gen != "" && !l.Legacy && !l.HistoryChanged }

// lookupScript reads the generation marker and the entries of some keys in
// one round trip, so checking that the index survived costs nothing extra.
//
// After the entries come, per key, what is known of its body: the body
// record's first 8 bytes (its hash; "" without a record), followed by "!"
// when a body write is in flight.
//
// The second value is 1 for an old-format index, 2 when the marker was
// set in another history of the server (see historyLua).
var lookupScript = redis.NewScript(bucketLua + historyLua + `
local gen = redis.call("HGET", KEYS[1], "gen")
local legacy = redis.call("EXISTS", KEYS[2])
if not gen or legacy == 1 then return {gen, legacy} end
if not samehistory(KEYS[1], replid()) then return {gen, 2} end
local l, s = layout(KEYS[1])
local out = {gen, 0}
for i = 1, #ARGV do out[i + 2] = redis.call("HGET", bucket(KEYS[1], l, s, ARGV[i]), ARGV[i]) end
local bl, bs = layout(KEYS[3])
for i = 1, #ARGV do
  local rec = redis.call("HGET", bucket(KEYS[3], bl, bs, ARGV[i]), ARGV[i])
  local info = ""
  if rec then info = string.sub(rec, 1, 8) end
  if redis.call("HEXISTS", KEYS[4], ARGV[i]) == 1 then info = info .. "!" end
  out[#ARGV + i + 2] = info
end
return out`)

// IndexLookup reads the generation marker of a database's index and the
// entries of keys, in one round trip.
func (r *RDB) IndexLookup(ctx context.Context, db string, keys []string) (IndexLookup, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	res, err := lookupScript.Run(ctx, r.c, []string{IndexMetaKey(db), LegacyIndexKey(db), BodyMetaKey(db), BodyWriteKey(db)}, args...).Slice()
	if err != nil {
		return IndexLookup{}, wrap("read index of "+db, err)
	}
	return parseLookup(db, keys, res)
}

func parseLookup(db string, keys []string, res []any) (IndexLookup, error) {
	var out IndexLookup
	if len(res) < 2 {
		return out, fmt.Errorf("rdb: read index of %s: short reply", db)
	}
	out.Gen, _ = res[0].(string)
	legacy, _ := res[1].(int64)
	out.Legacy = legacy == 1
	out.HistoryChanged = legacy == 2
	if !out.Complete() {
		return out, nil
	}
	out.Entries = make(map[string]IndexEntry, len(keys))
	for i, v := range res[2:] {
		s, ok := v.(string)
		if !ok || i >= len(keys) {
			continue
		}
		e, err := decodeEntry([]byte(s))
		if err != nil {
			return out, fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, keys[i], err)
		}
		if j := 2 + len(keys) + i; j < len(res) {
			info, _ := res[j].(string)
			e.Body = parseBodyInfo(info)
		}
		out.Entries[keys[i]] = e
	}
	return out, nil
}

// IndexGet returns the entries of the given keys that exist, without
// checking the generation marker (IndexLookup does).
func (r *RDB) IndexGet(ctx context.Context, db string, keys []string) (map[string]IndexEntry, error) {
	if len(keys) == 0 {
		return map[string]IndexEntry{}, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	res, err := getScript.Run(ctx, r.c, []string{IndexMetaKey(db)}, args...).Slice()
	if err != nil {
		return nil, wrap("read index of "+db, err)
	}
	out := make(map[string]IndexEntry, len(keys))
	for i, v := range res {
		s, ok := v.(string)
		if !ok || i >= len(keys) {
			continue
		}
		e, err := decodeEntry([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, keys[i], err)
		}
		out[keys[i]] = e
	}
	return out, nil
}

var getScript = redis.NewScript(bucketLua + `
local l, s = layout(KEYS[1])
local out = {}
for i = 1, #ARGV do out[i] = redis.call("HGET", bucket(KEYS[1], l, s, ARGV[i]), ARGV[i]) end
return out`)

// setScript stores an entry with the server's time appended as its
// written time, clears the key's create intent and returns the time (ms).
var setScript = redis.NewScript(bucketLua + `
local t = redis.call("TIME")
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local x, enc = ms, {}
while x >= 128 do
  enc[#enc + 1] = string.char(x % 128 + 128)
  x = math.floor(x / 128)
end
enc[#enc + 1] = string.char(x)
local l, s = layout(KEYS[1])
if redis.call("HSET", bucket(KEYS[1], l, s, ARGV[1]), ARGV[1], ARGV[2] .. table.concat(enc)) == 1 then
  added(KEYS[1], l, s, 1)
end
redis.call("HDEL", KEYS[2], ARGV[1])
return ms`)

// IndexSet records the entry of one key, stamped with the Redis server's
// time as its Written time (e.Written is ignored), and clears its create
// intent, in one round trip.
func (r *RDB) IndexSet(ctx context.Context, db, key string, e IndexEntry) error {
	err := setScript.Run(ctx, r.c, []string{IndexMetaKey(db), IntentKey(db)}, key, encodeEntry(e, true)).Err()
	return wrap("write index of "+db, err)
}

var delScript = redis.NewScript(bucketLua + `
local l, s = layout(KEYS[1])
local bl, bs = layout(KEYS[2])
local k, kb = 0, 0
for i = 1, #ARGV do
  k = k + redis.call("HDEL", bucket(KEYS[1], l, s, ARGV[i]), ARGV[i])
  kb = kb + redis.call("HDEL", bucket(KEYS[2], bl, bs, ARGV[i]), ARGV[i])
  redis.call("HDEL", KEYS[3], ARGV[i])
end
removed(KEYS[1], k)
removed(KEYS[2], kb)
return k`)

// IndexDel removes keys from the index, with their body records.
func (r *RDB) IndexDel(ctx context.Context, db string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return wrap("delete from index of "+db, delScript.Run(ctx, r.c, []string{IndexMetaKey(db), BodyMetaKey(db), BodyWriteKey(db)}, args...).Err())
}

// IndexLen is the number of keys in the index.
func (r *RDB) IndexLen(ctx context.Context, db string) (int64, error) {
	n, err := r.c.HGet(ctx, IndexMetaKey(db), "n").Int64()
	if IsNil(err) {
		return 0, nil
	}
	return n, wrap("count index of "+db, err)
}

var scanScript = redis.NewScript(bucketLua + `
return scan(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))`)

// scanBuckets calls fn for every field of a bucketed hash, a few buckets
// per round trip. Each field is seen exactly once, even when buckets split
// during the scan; fields added during the scan may or may not be seen.
func (r *RDB) scanBuckets(ctx context.Context, meta string, fn func(field, value string) error) error {
	v, err := r.c.HMGet(ctx, meta, "l", "s").Result()
	if err != nil {
		return err
	}
	var lay bucketLayout
	if s, ok := v[0].(string); ok {
		lay.l, _ = strconv.Atoi(s)
	}
	if s, ok := v[1].(string); ok {
		lay.s, _ = strconv.Atoi(s)
	}
	const step = 16
	for b := 0; b < lay.buckets(); b += step {
		res, err := scanScript.Run(ctx, r.c, []string{meta}, lay.l, lay.s, b, min(b+step, lay.buckets())).StringSlice()
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(res); i += 2 {
			if err := fn(res[i], res[i+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// IndexScan calls fn for every entry, a few buckets per round trip,
// without blocking Redis.
func (r *RDB) IndexScan(ctx context.Context, db string, fn func(key string, e IndexEntry) error) error {
	var ferr error
	err := r.scanBuckets(ctx, IndexMetaKey(db), func(key, v string) error {
		e, err := decodeEntry([]byte(v))
		if err != nil {
			return fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, key, err)
		}
		if err := fn(key, e); err != nil {
			ferr = err
			return err
		}
		return nil
	})
	if ferr != nil {
		return ferr
	}
	return wrap("scan index of "+db, err)
}

var addMissingScript = redis.NewScript(bucketLua + `
local l, s = layout(KEYS[1])
local k = 0
for i = 1, #ARGV, 2 do
  if redis.call("HSETNX", bucket(KEYS[1], l, s, ARGV[i]), ARGV[i], ARGV[i + 1]) == 1 then
    l, s = added(KEYS[1], l, s, 1)
    k = k + 1
  end
end
return k`)

// IndexAddMissing adds entries for keys the index does not have, leaving
// existing entries alone (they were written by synq since, and know more:
// the content hash). It is how a rebuild or a migration fills the index
// while writers that began before the loss may still be writing. It
// returns how many entries were added.
func (r *RDB) IndexAddMissing(ctx context.Context, db string, entries map[string]IndexEntry) (int, error) {
	added := 0
	args := make([]any, 0, 200)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		n, err := addMissingScript.Run(ctx, r.c, []string{IndexMetaKey(db)}, args...).Int()
		args = args[:0]
		added += n
		return err
	}
	for k, e := range entries {
		args = append(args, k, encodeEntry(e, false))
		if len(args) >= 200 {
			if err := flush(); err != nil {
				return added, wrap("fill index of "+db, err)
			}
		}
	}
	return added, wrap("fill index of "+db, flush())
}

// genScript marks the index complete with a new generation unless it has
// one set in the server's current history. The generation starts with the
// server time (ms) it was set at.
var genScript = redis.NewScript(historyLua + `
local gen = redis.call("HGET", KEYS[1], "gen")
local rid = replid()
if gen and samehistory(KEYS[1], rid) then return gen end
local t = redis.call("TIME")
gen = string.format("%d", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) .. "-" .. ARGV[1]
redis.call("HSET", KEYS[1], "gen", gen, "rebuilt_rows", ARGV[2])
if rid then redis.call("HSET", KEYS[1], "hist", rid) end
return gen`)

// historyLua tells a script whether an index meta hash was marked complete
// in the server's current history. A Redis server gets a new replication
// id when it restarts and when a replica is promoted in a failover: in
// both cases it may lack the writes of the last moments before (an RDB
// snapshot, a lagging replica), with the index's marker still present,
// so the index is checked against Notion once. A marker without a history
// (an index from before synq recorded one) adopts the current one; a
// server that hides INFO disables the check.
const historyLua = `
local function replid()
  local info = redis.pcall("INFO", "replication")
  if type(info) ~= "string" then return nil end
  return string.match(info, "master_replid:(%w+)")
end
-- rid is replid(), read once per script.
local function samehistory(meta, rid)
  if not rid then return true end
  local h = redis.call("HGET", meta, "hist")
  if not h then redis.call("HSET", meta, "hist", rid) return true end
  return h == rid
end
`

// How an index became complete, the end of its generation marker.
const (
	GenNew      = "new"      // the database was just created: no rows
	GenMigrated = "migrated" // converted from the JSON index, nothing lost
	GenRebuilt  = "rebuilt"  // rebuilt from Notion: Redis had lost it
	GenVerified = "verified" // checked against Notion after Redis restarted or failed over
)

// IndexComplete marks a database's index complete with a new generation
// marker "<server ms>-<kind>", unless it has one, and returns the marker.
// rows is recorded for the log of executors that waited for a rebuild.
func (r *RDB) IndexComplete(ctx context.Context, db, kind string, rows int) (string, error) {
	gen, err := genScript.Run(ctx, r.c, []string{IndexMetaKey(db)}, kind, rows).Text()
	return gen, wrap("mark index of "+db+" complete", err)
}

// GenKind is how the index of a generation marker became complete (GenNew,
// GenMigrated, GenRebuilt, GenVerified).
func GenKind(gen string) string {
	_, kind, _ := strings.Cut(gen, "-")
	return kind
}

// IndexState is what the meta hash says about an index.
type IndexState struct {
	Gen string
	// Rows is the number of keys.
	Rows int64
	// RebuiltRows is the number of rows the last rebuild found in Notion.
	RebuiltRows int64
	// Buckets is the number of buckets (hashes) the index is spread over.
	Buckets int
}

// IndexInfo reads an index's generation marker and size.
func (r *RDB) IndexInfo(ctx context.Context, db string) (IndexState, error) {
	v, err := r.c.HMGet(ctx, IndexMetaKey(db), "gen", "n", "rebuilt_rows", "l", "s").Result()
	if err != nil {
		return IndexState{}, wrap("read index of "+db, err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
	st := IndexState{Gen: str(0), Rows: num(1), RebuiltRows: num(2)}
	st.Buckets = bucketLayout{l: int(num(3)), s: int(num(4))}.buckets()
	return st, nil
}

// GenTime is when a generation marker was set (by the Redis server's
// clock); zero for a malformed marker.
func GenTime(gen string) time.Time {
	ms, err := strconv.ParseInt(strings.SplitN(gen, "-", 2)[0], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// LegacyIndexScan calls fn for every entry of an index in the old JSON
// format (one hash, JSON values), for its migration. Hashes longer than
// HashBytes bytes are cut to that length, the length contentHash uses now,
// so a row whose content did not change still costs no write.
func (r *RDB) LegacyIndexScan(ctx context.Context, db string, fn func(key string, e IndexEntry) error) error {
	it := r.c.HScan(ctx, LegacyIndexKey(db), 0, "", 1000).Iterator()
	for it.Next(ctx) {
		key := it.Val()
		if !it.Next(ctx) {
			break
		}
		var e IndexEntry
		if err := json.Unmarshal([]byte(it.Val()), &e); err != nil {
			return fmt.Errorf("rdb: old index of %s: corrupt entry for key %q: %w", db, key, err)
		}
		if len(e.Hash) > 2*HashBytes {
			if _, err := hex.DecodeString(e.Hash); err == nil {
				e.Hash = strings.ToLower(e.Hash[:2*HashBytes])
			}
		}
		if err := fn(key, e); err != nil {
			return err
		}
	}
	return wrap("scan old index of "+db, it.Err())
}

// DropLegacyIndex deletes the old JSON index once migrated.
func (r *RDB) DropLegacyIndex(ctx context.Context, db string) error {
	return wrap("drop old index of "+db, r.c.Del(ctx, LegacyIndexKey(db)).Err())
}

// IndexDrop deletes a database's index and its generation marker, and the
// body records, marks and tombstones beside it (tests, ResetDatabase).
func (r *RDB) IndexDrop(ctx context.Context, db string) error {
	err := dropIndexScript.Run(ctx, r.c, []string{IndexMetaKey(db), BodyMetaKey(db), BodyWriteKey(db), TombKey(db), TombTimeKey(db)}).Err()
	return wrap("drop index of "+db, err)
}

var dropScript = redis.NewScript(bucketLua + `dropall(KEYS[1]) return 1`)

// dropIndexScript drops an index with the body records, marks and
// tombstones beside it.
var dropIndexScript = redis.NewScript(bucketLua + `dropall(KEYS[1]) dropall(KEYS[2]) redis.call("DEL", KEYS[3], KEYS[4], KEYS[5]) return 1`)
