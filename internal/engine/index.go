package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
)

// ensureIndex rebuilds a database's key index from Notion when Redis does
// not have it (first use of an adopted database, or Redis lost its data):
// one query per 100 rows, never one lookup per row.
func (e *Engine) ensureIndex(ctx context.Context, db string, ids rdb.DatabaseIDs, log *slog.Logger) error {
	if ids.Indexed {
		return nil
	}
	mu := e.indexLock(db)
	mu.Lock()
	defer mu.Unlock()
	for {
		cur, ok, err := e.rdb.GetDatabase(ctx, db)
		if err != nil {
			return err
		}
		if ok && cur.Indexed {
			e.markIndexed(db)
			return nil
		}
		got, err := e.rdb.Claim(ctx, db, provisionKey, e.token, e.cfg.ClaimTTL*4)
		if err != nil {
			return err
		}
		if got {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	defer func() { _ = e.rdb.Release(context.WithoutCancel(ctx), db, provisionKey, e.token) }()
	d := e.set.Databases[db]
	entries := map[string]rdb.IndexEntry{}
	dups := 0
	err := e.notion.QueryAll(ctx, ids.DataSourceID, notion.QueryRequest{PageSize: 100}, func(p *notion.Page) error {
		key := p.Properties[d.PrimaryKey].Text()
		if key == "" {
			return nil
		}
		if _, dup := entries[key]; dup {
			dups++
		}
		// The hash is unknown: the row is rewritten once on its next upsert.
		entries[key] = rdb.IndexEntry{PageID: p.ID}
		return nil
	})
	if err != nil {
		return fmt.Errorf("database %q: rebuild the key index from Notion: %w", db, err)
	}
	if err := e.rdb.IndexReplace(ctx, db, entries); err != nil {
		return err
	}
	log.Info("rebuilt key index from Notion", "database", db, "rows", len(entries), "duplicate_keys", dups)
	e.markIndexed(db)
	return nil
}

func (e *Engine) markIndexed(db string) {
	e.provMu.Lock()
	defer e.provMu.Unlock()
	ids := e.provisioned[db]
	ids.Indexed = true
	e.provisioned[db] = ids
}
