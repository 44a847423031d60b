package rdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Indexed says the key index was built (or rebuilt) from Notion. An
	// empty index without this flag means "unknown", not "no rows".
	Indexed bool
	// URL opens the database in Notion (the data source's url), for
	// operators; "" until an executor read it.
	URL string
}

// GetDatabase returns the stored ids of a managed database; ok is false
// when none are stored (first deploy, or Redis lost its data).
func (r *RDB) GetDatabase(ctx context.Context, db string) (ids DatabaseIDs, ok bool, err error) {
	m, err := r.c.HGetAll(ctx, DatabaseKey(db)).Result()
	if err != nil {
		return ids, false, wrap("get database "+db, err)
	}
	if m["database_id"] == "" {
		return ids, false, nil
	}
	return DatabaseIDs{
		DatabaseID:   m["database_id"],
		DataSourceID: m["data_source_id"],
		SchemaHash:   m["schema_hash"],
		Indexed:      m["indexed"] == "1",
		URL:          m["url"],
	}, true, nil
}

// SetDatabase stores the ids of a managed database.
func (r *RDB) SetDatabase(ctx context.Context, db string, ids DatabaseIDs) error {
	indexed := "0"
	if ids.Indexed {
		indexed = "1"
	}
	fields := []any{
		"database_id", ids.DatabaseID,
		"data_source_id", ids.DataSourceID,
		"schema_hash", ids.SchemaHash,
		"indexed", indexed,
	}
	if ids.URL != "" {
		// An empty URL never erases one read before.
		fields = append(fields, "url", ids.URL)
	}
	err := r.c.HSet(ctx, DatabaseKey(db), fields...).Err()
	return wrap("set database "+db, err)
}

// IndexEntry is what synq remembers of one row it wrote.
type IndexEntry struct {
	PageID string `json:"p"`
	// Hash is the hash of the content last written; an upsert with the same
	// hash needs no Notion call.
	Hash string `json:"h,omitempty"`
	// Upstream is the upstream updated-at (Unix nanoseconds) of the content
	// last written; older upserts are skipped as stale.
	Upstream int64 `json:"u,omitempty"`
	// Written is when synq last wrote the row (Unix nanoseconds). A replace
	// cycle never sweeps a row written after the cycle began: another sync
	// sharing the database may have just created it.
	Written int64 `json:"w,omitempty"`
}

// IndexGet returns the entries of the given keys that exist.
func (r *RDB) IndexGet(ctx context.Context, db string, keys []string) (map[string]IndexEntry, error) {
	out := make(map[string]IndexEntry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	vals, err := r.c.HMGet(ctx, IndexKey(db), keys...).Result()
	if err != nil {
		return nil, wrap("read index of "+db, err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var e IndexEntry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, keys[i], err)
		}
		out[keys[i]] = e
	}
	return out, nil
}

// IndexSet records the entry of one key and clears its create intent, in
// one round trip.
func (r *RDB) IndexSet(ctx context.Context, db, key string, e IndexEntry) error {
	b, _ := json.Marshal(e)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, IndexKey(db), key, b)
		p.HDel(ctx, IntentKey(db), key)
		return nil
	})
	return wrap("write index of "+db, err)
}

// IndexDel removes keys from the index.
func (r *RDB) IndexDel(ctx context.Context, db string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return wrap("delete from index of "+db, r.c.HDel(ctx, IndexKey(db), keys...).Err())
}

// IndexLen is the number of keys in the index.
func (r *RDB) IndexLen(ctx context.Context, db string) (int64, error) {
	n, err := r.c.HLen(ctx, IndexKey(db)).Result()
	return n, wrap("count index of "+db, err)
}

// IndexScan calls fn for every entry, in batches, without blocking Redis.
func (r *RDB) IndexScan(ctx context.Context, db string, fn func(key string, e IndexEntry) error) error {
	it := r.c.HScan(ctx, IndexKey(db), 0, "", 1000).Iterator()
	for {
		if !it.Next(ctx) {
			break
		}
		key := it.Val()
		if !it.Next(ctx) {
			break
		}
		var e IndexEntry
		if err := json.Unmarshal([]byte(it.Val()), &e); err != nil {
			return fmt.Errorf("rdb: index of %s: corrupt entry for key %q: %w", db, key, err)
		}
		if err := fn(key, e); err != nil {
			return err
		}
	}
	return wrap("scan index of "+db, it.Err())
}

// IndexReplace swaps in a freshly rebuilt index atomically and marks the
// database indexed, so readers never see a half-built index.
func (r *RDB) IndexReplace(ctx context.Context, db string, entries map[string]IndexEntry) error {
	tmp := IndexKey(db) + ":rebuild"
	if err := r.c.Del(ctx, tmp).Err(); err != nil {
		return wrap("rebuild index of "+db, err)
	}
	batch := make([]any, 0, 2000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.c.HSet(ctx, tmp, batch...).Err()
		batch = batch[:0]
		return err
	}
	for k, e := range entries {
		b, _ := json.Marshal(e)
		batch = append(batch, k, b)
		if len(batch) >= 2000 {
			if err := flush(); err != nil {
				return wrap("rebuild index of "+db, err)
			}
		}
	}
	if err := flush(); err != nil {
		return wrap("rebuild index of "+db, err)
	}
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(entries) > 0 {
			p.Rename(ctx, tmp, IndexKey(db))
		} else {
			p.Del(ctx, IndexKey(db))
		}
		p.HSet(ctx, DatabaseKey(db), "indexed", "1")
		return nil
	})
	return wrap("rebuild index of "+db, err)
}

// releaseScript deletes a claim only if it still holds our token, so a
// writer whose claim expired never frees someone else's.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Claim takes the per-key lock for a create. It returns false when another
// writer holds it.
func (r *RDB) Claim(ctx context.Context, db, key, token string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, ClaimKey(db, key), token, ttl).Result()
	return ok, wrap("claim "+db+"/"+key, err)
}

// Release frees a claim taken with the same token.
func (r *RDB) Release(ctx context.Context, db, key, token string) error {
	err := releaseScript.Run(ctx, r.c, []string{ClaimKey(db, key)}, token).Err()
	return wrap("release claim "+db+"/"+key, err)
}

// SetIntent records that a create for key is about to be sent.
func (r *RDB) SetIntent(ctx context.Context, db, key string) error {
	return wrap("record create intent "+db+"/"+key,
		r.c.HSet(ctx, IntentKey(db), key, time.Now().UnixNano()).Err())
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
// index, intents, pending relations). Used by tests and by a re-provision.
func (r *RDB) ResetDatabase(ctx context.Context, db string) error {
	err := r.c.Del(ctx, DatabaseKey(db), IndexKey(db), IntentKey(db), PendingKey(db)).Err()
	return wrap("reset database "+db, err)
}

// IsNil reports whether err is Redis's "no such key".
func IsNil(err error) bool { return errors.Is(err, redis.Nil) }
