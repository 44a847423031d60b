package rdb

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Page bodies. A row whose upsert carried Content has a body record beside
// its index entry (BodyMetaKey): the body's hash, which is also part of
// the row's content hash, and the ids and hashes of its top-level blocks
// (opaque here; package pagecontent encodes them), so that a later body
// is written block by block. Rows without a body have no record and cost
// no byte more.
//
// The record is only ever written by the commit of the row's index entry
// (IndexCASBody), under the key's claim, and dropped when the entry is.
// A body write in flight is marked (MarkBodyWrite, BodyWriteKey) before
// the first block is changed and unmarked by that commit: a mark left
// behind says the body may be partly written.

// bodyHashBytes is the length of a body hash (pagecontent.BodyHash: 16
// hex digits).
const bodyHashBytes = 8

// BodyState is what a lookup or a claim knows of a row's body.
type BodyState struct {
	// Hash is the hash of the body synq last wrote (16 hex digits), ""
	// when the row has no body record.
	Hash string
	// Writing says a body write began and was never committed.
	Writing bool
}

// parseBodyInfo reads the lookup script's per-key body info: the
// record's first 8 bytes, then "!" when a write is in flight.
func parseBodyInfo(info string) BodyState {
	var b BodyState
	if len(info) >= bodyHashBytes {
		b.Hash = hex.EncodeToString([]byte(info[:bodyHashBytes]))
		info = info[bodyHashBytes:]
	}
	b.Writing = info == "!"
	return b
}

// BodyRecord is a row's body as stored.
type BodyRecord struct {
	// Hash is the body's hash (16 hex digits).
	Hash string
	// Refs are the body's top-level blocks, as the engine encoded them.
	Refs []byte
}

func encodeBody(b BodyRecord) (string, error) {
	h, err := hex.DecodeString(b.Hash)
	if err != nil || len(h) != bodyHashBytes {
		return "", fmt.Errorf("rdb: body hash %q is not %d hex digits", b.Hash, 2*bodyHashBytes)
	}
	return string(h) + string(b.Refs), nil
}

func decodeBody(v string) (BodyRecord, bool) {
	if len(v) < bodyHashBytes {
		return BodyRecord{}, false
	}
	return BodyRecord{Hash: hex.EncodeToString([]byte(v[:bodyHashBytes])), Refs: []byte(v[bodyHashBytes:])}, true
}

// BodyOp is what a commit does to the row's body record.
type BodyOp struct {
	kind byte // 'k' keep, 's' set, 'f' forget
	rec  BodyRecord
}

// BodyKeep leaves the body record (and a body write mark) as they are: the
// change did not touch the body.
var BodyKeep = BodyOp{kind: 'k'}

// BodyForget drops the body record and mark: the body in Notion is not
// known (the next body write reads it first).
var BodyForget = BodyOp{kind: 'f'}

// BodySet stores the body just written and clears the body write mark.
func BodySet(rec BodyRecord) BodyOp { return BodyOp{kind: 's', rec: rec} }

// markBodyScript marks a body write in flight at the server's time (ms).
var markBodyScript = redis.NewScript(`
local t = redis.call("TIME")
return redis.call("HSET", KEYS[1], ARGV[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))`)

// MarkBodyWrite records that the body of db/key is about to be changed
// block by block. The commit that stores the new body clears it; a mark
// found later means the body may be partly written.
func (r *RDB) MarkBodyWrite(ctx context.Context, db, key string) error {
	return wrap("mark body write "+db+"/"+key, markBodyScript.Run(ctx, r.c, []string{BodyWriteKey(db)}, key).Err())
}

var bodyGetScript = redis.NewScript(bucketLua + `
local l, s = layout(KEYS[1])
return {redis.call("HGET", bucket(KEYS[1], l, s, ARGV[1]), ARGV[1]) or "", redis.call("HEXISTS", KEYS[2], ARGV[1])}`)

// Body returns the body record of db/key (ok false: none) and whether a
// body write is marked in flight.
func (r *RDB) Body(ctx context.Context, db, key string) (rec BodyRecord, ok, writing bool, err error) {
	v, err := bodyGetScript.Run(ctx, r.c, []string{BodyMetaKey(db), BodyWriteKey(db)}, key).Slice()
	if err != nil {
		return rec, false, false, wrap("read body of "+db+"/"+key, err)
	}
	raw, _ := v[0].(string)
	w, _ := v[1].(int64)
	if raw != "" {
		rec, ok = decodeBody(raw)
		if !ok {
			return rec, false, w == 1, fmt.Errorf("rdb: body record of %s/%s is cut short", db, key)
		}
	}
	return rec, ok, w == 1, nil
}

// BodyLen is the number of body records of a database.
func (r *RDB) BodyLen(ctx context.Context, db string) (int64, error) {
	n, err := r.c.HGet(ctx, BodyMetaKey(db), "n").Int64()
	if IsNil(err) {
		return 0, nil
	}
	return n, wrap("count bodies of "+db, err)
}

// After is what is known of the body once a commit did o, given what was
// known before.
func (o BodyOp) After(prev BodyState) BodyState {
	switch o.kind {
	case 's':
		return BodyState{Hash: o.rec.Hash}
	case 'f':
		return BodyState{}
	}
	return prev
}

// BodyScan calls fn for every body record of a database, a few buckets
// per round trip, without blocking Redis.
func (r *RDB) BodyScan(ctx context.Context, db string, fn func(key string, rec BodyRecord) error) error {
	err := r.scanBuckets(ctx, BodyMetaKey(db), func(key, raw string) error {
		rec, ok := decodeBody(raw)
		if !ok {
			return nil // a cut record: the lookup reports no hash, the body is read first
		}
		return fn(key, rec)
	})
	return wrap("scan bodies of "+db, err)
}

// bodyReplaceScript sets records (key, old, new triples) whose current
// value is still old: a commit since then wins.
var bodyReplaceScript = redis.NewScript(bucketLua + `
local l, s = layout(KEYS[1])
local n = 0
for i = 1, #ARGV, 3 do
  local b = bucket(KEYS[1], l, s, ARGV[i])
  if redis.call("HGET", b, ARGV[i]) == ARGV[i + 1] then
    redis.call("HSET", b, ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n`)

// BodyReplace replaces body records that still hold what the caller read
// (BodyScan) with new ones, and returns how many it replaced.
func (r *RDB) BodyReplace(ctx context.Context, db string, old, new map[string]BodyRecord) (int, error) {
	args := make([]any, 0, 3*len(new))
	for k, n := range new {
		o, ok := old[k]
		if !ok {
			continue
		}
		oe, err := encodeBody(o)
		if err != nil {
			return 0, err
		}
		ne, err := encodeBody(n)
		if err != nil {
			return 0, err
		}
		args = append(args, k, oe, ne)
	}
	if len(args) == 0 {
		return 0, nil
	}
	n, err := bodyReplaceScript.Run(ctx, r.c, []string{BodyMetaKey(db)}, args...).Int()
	return n, wrap("replace bodies of "+db, err)
}
