package rdb

import (
	"crypto/sha1"
	"encoding/binary"
	"strconv"
)

// Bucketed hashes keep per-row data small.
//
// Redis stores a small hash (at most 128 fields of at most 64 bytes, its
// defaults hash-max-listpack-entries and hash-max-listpack-value) as one
// packed listpack: a field and its value cost their bytes plus two or three.
// A big hash is a hashtable that costs about 40–45 bytes more per field
// (measured on Redis 7.0 with index-sized fields). So a per-row structure
// (the key index, the relations waiting for rows) is spread over many
// small hashes, the buckets, that stay listpacks.
//
// The number of buckets grows with the rows by linear hashing: a meta hash
// holds the level l, the split pointer s and the number of fields n; there
// are 2^l+s buckets, and a field whose hash h has h mod 2^l < s lives in
// bucket h mod 2^(l+1), else in bucket h mod 2^l. When n exceeds
// bucketFill fields per bucket, bucket s is split in two: its fields whose
// h mod 2^(l+1) differs move to the new bucket 2^l+s. Every read and write
// runs in a Lua script that reads the layout first, so a reader never sees
// a half-moved bucket. A split rewrites both halves, so a bucket that grew
// past the listpack limits (long keys, bad luck) goes back to a listpack.
//
// The field hash h is the first 32 bits of SHA-1, which Lua computes with
// redis.sha1hex; BucketHash is the same in Go.
//
// Bucket keys are "<meta key>:<bucket number>": they share the meta key's
// hash tag, so scripts that compute them stay on one Cluster slot.

// bucketFill is the average number of fields per bucket that triggers a
// split. Buckets not yet split in the current round hold up to twice the
// average, so 48 keeps them under 128 with a wide margin.
const bucketFill = 48

// BucketHash is the hash that places a field in a bucket (tests).
func BucketHash(field string) uint32 {
	sum := sha1.Sum([]byte(field))
	return binary.BigEndian.Uint32(sum[:4])
}

// bucketLua is the prelude of every script that touches bucketed hashes.
var bucketLua = `
local FILL = ` + strconv.Itoa(bucketFill) + `
local function h32(f) return tonumber(string.sub(redis.sha1hex(f), 1, 8), 16) end
local function layout(meta)
  local v = redis.call("HMGET", meta, "l", "s", "n")
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
end
local function bkey(meta, b) return meta .. ":" .. string.format("%d", b) end
local function bucket(meta, l, s, f)
  local h = h32(f)
  local m = 2 ^ l
  local b = h % m
  if b < s then b = h % (2 * m) end
  return bkey(meta, b)
end
local function split(meta, l, s)
  local m = 2 ^ l
  local src, dst = bkey(meta, s), bkey(meta, s + m)
  local all = redis.call("HGETALL", src)
  local keep, move = {}, {}
  for i = 1, #all, 2 do
    local t = keep
    if h32(all[i]) % (2 * m) ~= s then t = move end
    t[#t + 1] = all[i]
    t[#t + 1] = all[i + 1]
  end
  redis.call("DEL", src)
  if #keep > 0 then redis.call("HSET", src, unpack(keep)) end
  if #move > 0 then redis.call("HSET", dst, unpack(move)) end
  s = s + 1
  if s >= m then l, s = l + 1, 0 end
  redis.call("HSET", meta, "l", l, "s", s)
  return l, s
end
-- added counts a new field and splits buckets while they are too full.
local function added(meta, l, s, k)
  local n = redis.call("HINCRBY", meta, "n", k)
  while n > FILL * (2 ^ l + s) do l, s = split(meta, l, s) end
  return l, s
end
local function removed(meta, k)
  if k > 0 then redis.call("HINCRBY", meta, "n", -k) end
end
-- scan returns the fields and values of the logical buckets [from, to) of
-- the layout (l0, s0) a scan began with: a bucket's fields may have moved
-- to the buckets split from it since, which are the current buckets c with
-- c = b mod 2^level(b), all read here in one atomic step.
local function scan(meta, l0, s0, from, to)
  local l, s = layout(meta)
  local n = 2 ^ l + s
  local out = {}
  for b = from, to - 1 do
    local step = 2 ^ l0
    if b < s0 or b >= 2 ^ l0 then step = 2 * step end
    local c = b
    while c < n do
      local kv = redis.call("HGETALL", bkey(meta, c))
      for i = 1, #kv do out[#out + 1] = kv[i] end
      c = c + step
    end
  end
  return out
end
-- dropall deletes every bucket and the layout.
local function dropall(meta)
  local l, s = layout(meta)
  for b = 0, 2 ^ l + s - 1 do redis.call("DEL", bkey(meta, b)) end
  redis.call("DEL", meta)
end
`

// bucketLayout is a meta hash's l and s, the number of logical buckets a
// scan walks.
type bucketLayout struct{ l, s int }

func (b bucketLayout) buckets() int { return 1<<b.l + b.s }
