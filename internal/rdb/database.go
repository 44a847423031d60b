package rdb

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// DatabaseIDs are the Notion ids of one managed database.
type DatabaseIDs struct {
	DatabaseID   string
	DataSourceID string
	// SchemaHash is the hash of the schema last migrated, so a deploy with
	// an unchanged schema costs no Notion call.
	SchemaHash string
	// Indexed says the key index is complete: its generation marker is set
	// (IndexComplete). An index without the marker means "unknown", not "no
	// rows": it was never built, or Redis lost it.
	Indexed bool
	// URL opens the database in Notion (the data source's url), for
	// operators; "" until an executor read it.
	URL string
}

// GetDatabase returns the stored ids of a managed database; ok is false
// when none are stored (first deploy, or Redis lost its data).
func (r *RDB) GetDatabase(ctx context.Context, db string) (ids DatabaseIDs, ok bool, err error) {
	var m *redis.MapStringStringCmd
	var gen *redis.StringCmd
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		m = p.HGetAll(ctx, DatabaseKey(db))
		gen = p.HGet(ctx, IndexMetaKey(db), "gen")
		return nil
	})
	if err != nil && !IsNil(err) {
		return ids, false, wrap("get database "+db, err)
	}
	v := m.Val()
	if v["database_id"] == "" {
		return ids, false, nil
	}
	return DatabaseIDs{
		DatabaseID:   v["database_id"],
		DataSourceID: v["data_source_id"],
		SchemaHash:   v["schema_hash"],
		Indexed:      gen.Val() != "",
		URL:          v["url"],
	}, true, nil
}

// SetDatabase stores the ids of a managed database. Indexed marks its index
// complete when it has no generation yet (a database synq just created has
// no rows); SetDatabase never clears the marker.
func (r *RDB) SetDatabase(ctx context.Context, db string, ids DatabaseIDs) error {
	fields := []any{
		"database_id", ids.DatabaseID,
		"data_source_id", ids.DataSourceID,
		"schema_hash", ids.SchemaHash,
	}
	if ids.URL != "" {
		// An empty URL never erases one read before.
		fields = append(fields, "url", ids.URL)
	}
	err := r.c.HSet(ctx, DatabaseKey(db), fields...).Err()
	if err != nil {
		return wrap("set database "+db, err)
	}
	if ids.Indexed {
		_, err = r.IndexComplete(ctx, db, GenNew, 0)
	}
	return err
}

// releaseScript deletes a claim only if it still holds our token, so a
// writer whose claim expired never frees someone else's, and drops the
// claim's fencing record (HeldKey) unless ARGV[3] keeps it: a writer that
// sent a Notion write it did not commit leaves it, so the next writer of
// the key knows a write of it may still land.
var releaseScript = redis.NewScript(`
local n = 0
if redis.call("GET", KEYS[1]) == ARGV[1] then
  n = redis.call("DEL", KEYS[1])
end
if ARGV[3] ~= "1" and redis.call("HGET", KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call("HDEL", KEYS[2], ARGV[2])
end
return n`)

// extendScript validates and renews a claim: one that still holds our
// token, or that expired while no other writer claimed the key since (its
// fencing record still names us: it is taken again).
var extendScript = redis.NewScript(`
local c = redis.call("GET", KEYS[1])
if c == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
if not c and redis.call("HGET", KEYS[2], ARGV[3]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`)

// Claim takes the per-key lock for a create. It returns false when another
// writer holds it. The TTL runs on the Redis server's clock.
func (r *RDB) Claim(ctx context.Context, db, key, token string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, ClaimKey(db, key), token, ttl).Result()
	return ok, wrap("claim "+db+"/"+key, err)
}

// ExtendClaim validates a claim taken with token and renews it for
// another ttl, in one round trip; false means the claim was lost (taken by
// another writer since: the caller must not write the key). A claim that
// expired with no other writer claiming the key since is still the
// caller's, and taken again.
func (r *RDB) ExtendClaim(ctx context.Context, db, key, token string, ttl time.Duration) (bool, error) {
	n, err := extendScript.Run(ctx, r.c, []string{ClaimKey(db, key), HeldKey(db)}, token, max(ttl.Milliseconds(), 1), key).Int()
	return n == 1, wrap("extend claim "+db+"/"+key, err)
}

// Release frees a claim taken with the same token.
func (r *RDB) Release(ctx context.Context, db, key, token string) error {
	return r.ReleaseClaim(ctx, db, key, token, false)
}

// ReleaseClaim frees a claim taken with the same token; with sent (the
// holder sent a Notion write of the key it did not commit) the claim's
// fencing record stays, so the next writer of the key knows that write
// may still land (RowClaim.Dirty).
func (r *RDB) ReleaseClaim(ctx context.Context, db, key, token string, sent bool) error {
	keep := "0"
	if sent {
		keep = "1"
	}
	err := releaseScript.Run(ctx, r.c, []string{ClaimKey(db, key), HeldKey(db)}, token, key, keep).Err()
	return wrap("release claim "+db+"/"+key, err)
}

// intentScript records a create intent at the server's time (ms).
var intentScript = redis.NewScript(`
local t = redis.call("TIME")
return redis.call("HSET", KEYS[1], ARGV[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))`)

// SetIntent records that a create for key is about to be sent, at the Redis
// server's time (Unix milliseconds).
func (r *RDB) SetIntent(ctx context.Context, db, key string) error {
	return wrap("record create intent "+db+"/"+key,
		intentScript.Run(ctx, r.c, []string{IntentKey(db)}, key).Err())
}

// HasIntent reports whether a create for key was sent but never recorded.
func (r *RDB) HasIntent(ctx context.Context, db, key string) (bool, error) {
	n, err := r.c.HExists(ctx, IntentKey(db), key).Result()
	return n, wrap("read create intent "+db+"/"+key, err)
}

// ClearIntent forgets a create intent (the create failed for sure).
func (r *RDB) ClearIntent(ctx context.Context, db, key string) error {
	return wrap("clear create intent "+db+"/"+key, r.c.HDel(ctx, IntentKey(db), key).Err())
}

// ResetDatabase forgets everything synq stored about a database (ids,
// index, intents, relations waiting for its rows, old-format keys). Used
// by tests and by a re-provision.
func (r *RDB) ResetDatabase(ctx context.Context, db string) error {
	if err := r.IndexDrop(ctx, db); err != nil {
		return err
	}
	if err := dropScript.Run(ctx, r.c, []string{WaitMetaKey(db)}).Err(); err != nil {
		return wrap("reset database "+db, err)
	}
	err := r.c.Del(ctx, DatabaseKey(db), LegacyIndexKey(db), IntentKey(db), LegacyPendingKey(db), HeldKey(db), DoubtKey(db), DoubtQueueKey(db)).Err()
	return wrap("reset database "+db, err)
}

// IsNil reports whether err is Redis's "no such key".
func IsNil(err error) bool { return errors.Is(err, redis.Nil) }
