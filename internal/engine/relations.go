package engine

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// recordPending remembers the relation values of a row that named related
// rows not written yet, and forgets those that resolved.
func (e *Engine) recordPending(ctx context.Context, db, key string, pending map[string][]string) error {
	d := e.set.Databases[db]
	for name, p := range d.Schema {
		if p.Type != schema.TypeRelation {
			continue
		}
		if err := e.rdb.SetPending(ctx, db, rdb.PendingRelation{Key: key, Property: name, Related: pending[name]}); err != nil {
			return err
		}
	}
	return nil
}

// retryPending completes relations whose related rows now exist, for
// every database the sync's writes may have unblocked. It costs Redis reads
// only, plus one update per completed row.
func (e *Engine) retryPending(ctx context.Context, s *spec.Sync, log *slog.Logger, counters Counters) error {
	for _, dbKey := range e.set.DatabaseOrder {
		d := e.set.Databases[dbKey]
		if !hasRelations(d) {
			continue
		}
		pend, err := e.rdb.Pending(ctx, dbKey)
		if err != nil || len(pend) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		unresolved := 0
		for _, p := range pend {
			prop, ok := d.Schema[p.Property]
			if !ok || prop.Relation == nil {
				_ = e.rdb.SetPending(ctx, dbKey, rdb.PendingRelation{Key: p.Key, Property: p.Property})
				continue
			}
			value, missing, err := e.encodeRelation(ctx, prop, p.Related)
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				unresolved += len(missing)
				continue
			}
			m, err := e.rdb.IndexGet(ctx, dbKey, []string{p.Key})
			if err != nil {
				return err
			}
			en, ok := m[p.Key]
			if !ok {
				_ = e.rdb.SetPending(ctx, dbKey, rdb.PendingRelation{Key: p.Key, Property: p.Property})
				continue
			}
			if _, err := e.notion.UpdatePage(ctx, en.PageID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{p.Property: value}}); err != nil {
				return fmt.Errorf("database %q: key %q: complete relation %q: %w", dbKey, p.Key, p.Property, err)
			}
			if err := e.rdb.SetPending(ctx, dbKey, rdb.PendingRelation{Key: p.Key, Property: p.Property}); err != nil {
				return err
			}
			counters["relations_completed"]++
		}
		if unresolved > 0 && dbKey == s.Database {
			counters["unresolved"] = int64(unresolved)
			log.Info("relations still waiting for their related rows", "database", dbKey, "unresolved_keys", unresolved)
		}
	}
	return nil
}

func hasRelations(d *spec.Database) bool {
	for _, p := range d.Schema {
		if p.Type == schema.TypeRelation {
			return true
		}
	}
	return false
}
