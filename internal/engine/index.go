package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// indexLockKey is the claim that makes one executor rebuild a database's
// index while the others wait; "\x00" cannot start a primary key.
const indexLockKey = "\x00index"

// indexLockTTL bounds how long a crashed rebuilder blocks the others; a
// live one renews its claim every third of it.
const indexLockTTL = 30 * time.Second

// lookupIndex reads the index entries of keys. The same round trip checks
// the index's generation marker: when Redis lost the index (or it was never
// built, or is in the old format), it is rebuilt or migrated before the
// caller writes anything, so lost Redis data never duplicates rows.
func (e *Engine) lookupIndex(ctx context.Context, db string, keys []string, log *slog.Logger) (map[string]rdb.IndexEntry, error) {
	for attempt := 0; ; attempt++ {
		res, err := e.rdb.IndexLookup(ctx, db, keys)
		if err != nil {
			return nil, err
		}
		if res.Complete() {
			return res.Entries, nil
		}
		if attempt == 3 {
			return nil, fmt.Errorf("database %q: the key index is still missing from Redis after rebuilding it %d times: is something deleting synq's keys?", db, attempt)
		}
		if err := e.repairIndex(ctx, db, log); err != nil {
			return nil, err
		}
	}
}

// indexGen returns the generation of db's index, repairing it first when
// it is missing.
func (e *Engine) indexGen(ctx context.Context, db string, log *slog.Logger) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		res, err := e.rdb.IndexLookup(ctx, db, nil)
		if err != nil {
			return "", err
		}
		if res.Complete() {
			return res.Gen, nil
		}
		if err := e.repairIndex(ctx, db, log); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("database %q: the key index is still missing from Redis after rebuilding it", db)
}

// sweepable says whether the replace cycle of s under way may sweep its
// database: not when the index was rebuilt from Notion (or checked against
// it) after the cycle had committed pages (Redis lost data during the
// cycle, maybe what it saw). A cycle that began after the loss, and
// rebuilt the index on its first page, sweeps.
func (e *Engine) sweepable(ctx context.Context, s *spec.Sync, log *slog.Logger) (bool, error) {
	gen, err := e.indexGen(ctx, s.Database, log)
	if err != nil {
		return false, err
	}
	if k := rdb.GenKind(gen); k != rdb.GenRebuilt && k != rdb.GenVerified {
		return true, nil
	}
	since, err := e.rdb.SeenSince(ctx, s.Key)
	if err != nil {
		return false, err
	}
	if at := rdb.GenTime(gen); !since.IsZero() && !at.Before(since) {
		log.Warn("the key index was rebuilt or checked against Notion during this replace cycle (Redis lost data, restarted or failed over), so the rows the cycle saw may not all be known: nothing is trashed this cycle; the next complete cycle removes rows that are gone upstream",
			"database", s.Database, "index_rebuilt_at", at.UTC(), "cycle_pages_since", since.UTC())
		return false, nil
	}
	return true, nil
}

// repairIndex makes db's index complete again: it restores the database's
// ids if Redis lost them too, then one executor (holding the index claim)
// migrates an old-format index or rebuilds it from Notion while the others
// wait for its generation marker.
func (e *Engine) repairIndex(ctx context.Context, db string, log *slog.Logger) error {
	mu := e.indexLock(db)
	mu.Lock()
	defer mu.Unlock()
	ids, err := e.recoverDatabase(ctx, db, log)
	if err != nil {
		return err
	}
	waited, migration, history := false, false, false
	for first := true; ; first = false {
		res, err := e.rdb.IndexLookup(ctx, db, nil)
		if err != nil {
			return err
		}
		if first {
			migration, history = res.Legacy, res.HistoryChanged
		}
		if res.Complete() {
			if waited && migration {
				log.Info("another executor migrated the key index to the compact format", "database", db)
			} else if waited && history {
				log.Info("another executor checked the key index against Notion after Redis restarted or failed over", "database", db)
			} else if waited {
				st, _ := e.rdb.IndexInfo(ctx, db)
				log.Warn(fmt.Sprintf("Redis lost synq's data: another executor rebuilt the index of database %q from Notion (%d rows)%s", db, st.RebuiltRows, stateClause(ctx)),
					"database", db, "rows", st.RebuiltRows)
			}
			return nil
		}
		got, err := e.rdb.Claim(ctx, db, indexLockKey, e.token, indexLockTTL)
		if err != nil {
			return err
		}
		if got {
			break
		}
		waited = true
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("database %q: waiting for another executor to rebuild the key index: %w", db, err)
		}
	}
	// A big database takes longer to rebuild (one query per 100 rows) than
	// a page may run: the work goes on, holding the claim, if the page ends.
	bg := context.WithoutCancel(ctx)
	release := e.holdClaim(bg, db, indexLockKey, indexLockTTL, log)
	done := make(chan error, 1)
	go func() {
		defer release()
		done <- e.fillIndex(bg, db, ids, log)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("database %q: rebuilding the key index takes longer than this page may run; it goes on in the background and the page will be retried: %w", db, ctx.Err())
	}
}

// fillIndex migrates or rebuilds db's index; the caller holds the claim.
func (e *Engine) fillIndex(ctx context.Context, db string, ids rdb.DatabaseIDs, log *slog.Logger) error {
	// Another executor may have finished between our last look and our claim.
	res, err := e.rdb.IndexLookup(ctx, db, nil)
	if err != nil {
		return err
	}
	switch {
	case res.Legacy:
		return e.migrateIndex(ctx, db, log)
	case res.Complete():
		return nil
	case res.HistoryChanged:
		rows, added, bodies, err := e.rebuildIndex(ctx, db, ids, rdb.GenVerified)
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("Redis restarted or failed over (its replication history changed), so it may have lost synq's last writes: checked the index of database %q against Notion: %d rows, %d missing from Redis and restored", db, rows, added)
		if bodies > 0 {
			msg += fmt.Sprintf("; %d row bodies to read again before their next edit", bodies)
		}
		if added > 0 {
			log.Warn(msg+"; a replace cycle under way sweeps nothing this time", "database", db, "rows", rows, "restored", added)
		} else {
			log.Info(msg, "database", db, "rows", rows, "restored", added)
		}
		return nil
	}
	first := false
	if d := e.set.Databases[db]; d != nil && d.IsExisting() {
		info, err := e.rdb.GetExisting(ctx, db)
		if err != nil {
			return err
		}
		first = info.Rows == nil
	}
	rows, _, _, err := e.rebuildIndex(ctx, db, ids, rdb.GenRebuilt)
	if err != nil {
		return err
	}
	if first {
		return nil // adoptRows said what it found
	}
	log.Warn(fmt.Sprintf("Redis lost synq's data: rebuilt the index of database %q from Notion (%d rows)%s", db, rows, stateClause(ctx)),
		"database", db, "rows", rows)
	return nil
}

// rebuildIndex fills db's index from its data source (100 rows a request,
// never a lookup per row) and marks it complete as kind (GenRebuilt after
// a loss, GenVerified after a restart or failover). Entries already in
// Redis are kept: they were written by synq and know the rows' content
// hashes; after a restart or failover, the block ids of row bodies are
// forgotten (forgetBodyIDs) before the index is trusted again. It returns
// the rows found, the entries added and the body records changed.
func (e *Engine) rebuildIndex(ctx context.Context, db string, ids rdb.DatabaseIDs, kind string) (rows, added, bodies int, err error) {
	d := e.set.Databases[db]
	if d.IsExisting() {
		rows, added, err = e.adoptRows(ctx, db, ids, kind)
		if err == nil && kind == rdb.GenVerified {
			bodies, err = e.forgetBodyIDs(ctx, db)
		}
		if err != nil {
			return rows, added, bodies, err
		}
		_, err = e.rdb.IndexComplete(ctx, db, kind, rows)
		return rows, added, bodies, err
	}
	// Each row's content hash is computed from what Notion holds, as the
	// upsert of the same content hashes it: the next cycle rewrites only
	// the rows that changed (a row whose values cannot be read back, or
	// with a body, is rewritten once).
	a := e.newAdopter(ctx, d, pageLog(ctx, e.log))
	batch := make(map[string]rdb.IndexEntry, 100)
	flush := func() error {
		n, err := e.rdb.IndexAddMissing(ctx, db, batch)
		added += n
		clear(batch)
		return err
	}
	err = e.notion.QueryAll(ctx, ids.DataSourceID, notion.QueryRequest{PageSize: 100}, func(p *notion.Page) error {
		key := p.Properties[d.PrimaryKey].Text()
		if key == "" {
			return nil
		}
		rows++
		if _, dup := batch[key]; !dup {
			batch[key] = rdb.IndexEntry{PageID: p.ID, Hash: a.hash(p)}
		}
		if len(batch) >= 100 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rows, added, 0, fmt.Errorf("database %q: rebuild the key index from Notion: %w", db, err)
	}
	if kind == rdb.GenVerified {
		if bodies, err = e.forgetBodyIDs(ctx, db); err != nil {
			return rows, added, bodies, err
		}
	}
	if _, err := e.rdb.IndexComplete(ctx, db, kind, rows); err != nil {
		return rows, added, bodies, err
	}
	return rows, added, bodies, nil
}

// forgetBodyIDs drops the block ids from db's body records, keeping their
// hashes: ids stored before a restart or failover may name blocks that a
// lost write replaced, and appending after them would duplicate blocks.
// Unchanged rows still cost nothing; a body's next edit reads its blocks
// first. It returns how many records it changed.
func (e *Engine) forgetBodyIDs(ctx context.Context, db string) (int, error) {
	old := make(map[string]rdb.BodyRecord, 100)
	upd := make(map[string]rdb.BodyRecord, 100)
	n := 0
	flush := func() error {
		k, err := e.rdb.BodyReplace(ctx, db, old, upd)
		n += k
		clear(old)
		clear(upd)
		return err
	}
	err := e.rdb.BodyScan(ctx, db, func(key string, rec rdb.BodyRecord) error {
		refs, changed, err := pagecontent.ForgetIDs(rec.Refs)
		if err != nil || !changed {
			return nil // unreadable refs are read from Notion anyway
		}
		old[key], upd[key] = rec, rdb.BodyRecord{Hash: rec.Hash, Refs: refs}
		if len(upd) >= 100 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("database %q: forget the stored block ids of row bodies: %w", db, err)
	}
	return n, nil
}

// migrateIndex converts an index of the old JSON format (and the old
// pending relations) into the compact one, without a Notion call.
func (e *Engine) migrateIndex(ctx context.Context, db string, log *slog.Logger) error {
	batch := make(map[string]rdb.IndexEntry, 100)
	rows := 0
	flush := func() error {
		_, err := e.rdb.IndexAddMissing(ctx, db, batch)
		clear(batch)
		return err
	}
	err := e.rdb.LegacyIndexScan(ctx, db, func(key string, en rdb.IndexEntry) error {
		rows++
		batch[key] = en
		if len(batch) >= 100 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("database %q: migrate the key index to the compact format: %w", db, err)
	}
	if err := e.migratePending(ctx, db, log); err != nil {
		return err
	}
	if _, err := e.rdb.IndexComplete(ctx, db, rdb.GenMigrated, rows); err != nil {
		return err
	}
	if err := e.rdb.DropLegacyIndex(ctx, db); err != nil {
		return err
	}
	log.Info("migrated the key index to the compact format", "database", db, "rows", rows)
	return nil
}

// recoverDatabase returns db's ids from Redis; when Redis lost them, it
// restores the ids this process knows (after checking the data source is
// still there) or finds the database in Notion (search and adopt), never
// creating a second database for rows that exist.
func (e *Engine) recoverDatabase(ctx context.Context, db string, log *slog.Logger) (rdb.DatabaseIDs, error) {
	ids, ok, err := e.rdb.GetDatabase(ctx, db)
	if err != nil || ok {
		return ids, err
	}
	e.provMu.Lock()
	mem, known := e.provisioned[db]
	e.provMu.Unlock()
	if known {
		for {
			got, err := e.rdb.Claim(ctx, db, provisionKey, e.token, 2*time.Minute)
			if err != nil {
				return ids, err
			}
			if got {
				break
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return ids, err
			}
		}
		defer func() { _ = e.rdb.Release(context.WithoutCancel(ctx), db, provisionKey, e.token) }()
		if ids, ok, err := e.rdb.GetDatabase(ctx, db); err != nil || ok {
			return ids, err
		}
		ds, err := e.notion.GetDataSource(ctx, mem.DataSourceID)
		if err == nil && !ds.InTrash {
			ids = rdb.DatabaseIDs{DatabaseID: mem.DatabaseID, DataSourceID: mem.DataSourceID, SchemaHash: mem.SchemaHash}
			if err := e.rdb.SetDatabase(ctx, db, ids); err != nil {
				return ids, err
			}
			log.Warn("Redis lost the ids of a Notion database; restored them after checking the data source in Notion", "database", db, "data_source_id", ids.DataSourceID)
			return ids, nil
		}
		if err != nil && !notion.IsNotFound(err) {
			return ids, fmt.Errorf("database %q: Redis lost its ids; checking data source %s in Notion: %w", db, mem.DataSourceID, err)
		}
		e.provMu.Lock()
		delete(e.provisioned, db)
		e.provMu.Unlock()
	}
	// Search Notion for it, as a fresh executor does at start-up.
	if err := e.Provision(ctx); err != nil {
		return ids, err
	}
	ids, ok, err = e.rdb.GetDatabase(ctx, db)
	if err == nil && !ok {
		err = fmt.Errorf("database %q: its ids are missing from Redis right after provisioning it: is something deleting synq's keys?", db)
	}
	return ids, err
}

// holdClaim keeps a claim alive until the returned function releases it.
func (e *Engine) holdClaim(ctx context.Context, db, key string, ttl time.Duration, log *slog.Logger) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if ok, err := e.rdb.ExtendClaim(ctx, db, key, e.token, ttl); err == nil && !ok {
					log.Warn("lost the claim on rebuilding the key index (it expired); another executor may rebuild it too, which is harmless", "database", db)
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		_ = e.rdb.Release(context.WithoutCancel(ctx), db, key, e.token)
	}
}
