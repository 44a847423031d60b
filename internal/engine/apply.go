package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
)

// Outcome is what applying one change did.
type Outcome string

// Outcomes, also the names of the run counters.
const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Unchanged Outcome = "unchanged"
	Trashed   Outcome = "trashed"
	Skipped   Outcome = "skipped" // stale: older than what was written
)

// Counters count a page's outcomes (and unresolved relation keys).
type Counters map[string]int64

func (c Counters) add(o Outcome) { c[string(o)]++ }

// applyRows writes rows to Notion, in order. It returns the counters and
// the seen members (for replace mode) of the rows applied.
func (e *Engine) applyRows(ctx context.Context, sync string, rows []row, log *slog.Logger) (Counters, []string, error) {
	counters := Counters{}
	seen := make([]string, 0, len(rows))
	// One index read per database for the whole page.
	byDB := map[string][]string{}
	for _, r := range rows {
		byDB[r.db.Key] = append(byDB[r.db.Key], r.change.Key)
	}
	entries := map[string]map[string]rdb.IndexEntry{}
	for db, keys := range byDB {
		if _, err := e.database(ctx, db); err != nil {
			return counters, seen, err
		}
		// The same round trip checks the index survived (and repairs it).
		m, err := e.lookupIndex(ctx, db, keys, log)
		if err != nil {
			return counters, seen, err
		}
		entries[db] = m
	}
	for _, r := range rows {
		o, err := e.applyRow(ctx, sync, r, entries[r.db.Key], log)
		if err != nil {
			return counters, seen, err
		}
		counters.add(o)
		if !r.change.Delete {
			seen = append(seen, rdb.SeenMember(r.db.Key, r.change.Key))
		}
	}
	return counters, seen, nil
}

// applyRow applies one validated change given the index entries read for
// the page (updated in place so a key repeated in a page sees its first
// write).
func (e *Engine) applyRow(ctx context.Context, sync string, r row, entries map[string]rdb.IndexEntry, log *slog.Logger) (Outcome, error) {
	db, key := r.db.Key, r.change.Key
	ids, err := e.database(ctx, db)
	if err != nil {
		return "", err
	}
	entry, known := entries[key]
	if r.change.Delete {
		if !known {
			return Unchanged, nil
		}
		if err := e.trash(ctx, db, key, entry.PageID); err != nil {
			return "", fmt.Errorf("sync %q: database %q: key %q: trash page %s: %w", sync, db, key, entry.PageID, err)
		}
		delete(entries, key)
		return Trashed, nil
	}
	upstream := int64(0)
	if !r.change.UpstreamUpdatedAt.IsZero() {
		upstream = r.change.UpstreamUpdatedAt.UnixNano()
	}
	if known {
		if upstream != 0 && entry.Upstream > upstream {
			return Skipped, nil
		}
		if entry.Hash == r.hash && entry.Hash != "" {
			return Unchanged, nil
		}
	}
	props, pending, err := e.encode(ctx, r, log)
	if err != nil {
		return "", fmt.Errorf("sync %q: database %q: key %q: %w", sync, db, key, err)
	}
	// A row with related rows still missing keeps its hash: the relation
	// completes when they are written (relations.go), not by rewriting it.
	hash := r.hash
	now := e.cfg.Now().UnixNano()
	if known {
		if err := e.update(ctx, entry.PageID, props, r.change.Icon); err == nil {
			next := rdb.IndexEntry{PageID: entry.PageID, Hash: hash, Upstream: max(upstream, entry.Upstream), Written: now}
			entries[key] = next
			if err := e.rdb.IndexSet(ctx, db, key, next); err != nil {
				return "", err
			}
			return Updated, e.recordPending(ctx, db, key, pending)
		} else if !notion.IsNotFound(err) && !isTrashedPage(err) {
			return "", fmt.Errorf("sync %q: database %q: key %q: update page %s: %w", sync, db, key, entry.PageID, err)
		}
		// Someone deleted the row in Notion: create it again.
		log.Warn("row was deleted in Notion; creating it again", "database", db, "key", key, "page_id", entry.PageID)
		delete(entries, key)
	}
	pageID, outcome, err := e.create(ctx, ids, db, key, props, r.change.Icon, log)
	if err != nil {
		return "", fmt.Errorf("sync %q: database %q: key %q: %w", sync, db, key, err)
	}
	next := rdb.IndexEntry{PageID: pageID, Hash: hash, Upstream: upstream, Written: now}
	entries[key] = next
	if err := e.rdb.IndexSet(ctx, db, key, next); err != nil {
		return "", err
	}
	return outcome, e.recordPending(ctx, db, key, pending)
}

// create writes a new row under a per-key claim, so two writers of a new
// key at once never create two pages. A create whose outcome is unknown
// (timed out) leaves an intent; the next writer of the key looks the key up
// in Notion before creating again.
func (e *Engine) create(ctx context.Context, ids rdb.DatabaseIDs, db, key string, props map[string]notion.PropertyValue, icon string, log *slog.Logger) (string, Outcome, error) {
	deadline := e.cfg.Now().Add(e.cfg.ClaimTTL + 5*time.Second)
	for {
		got, err := e.rdb.Claim(ctx, db, key, e.token, e.cfg.ClaimTTL)
		if err != nil {
			return "", "", err
		}
		if got {
			break
		}
		// Another writer is creating this key; wait for its index entry.
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return "", "", err
		}
		m, err := e.rdb.IndexGet(ctx, db, []string{key})
		if err != nil {
			return "", "", err
		}
		if en, ok := m[key]; ok {
			if err := e.update(ctx, en.PageID, props, icon); err != nil {
				return "", "", fmt.Errorf("update page %s created by another writer: %w", en.PageID, err)
			}
			return en.PageID, Updated, nil
		}
		if e.cfg.Now().After(deadline) {
			return "", "", fmt.Errorf("another writer holds the claim on this key for over %v", e.cfg.ClaimTTL)
		}
	}
	defer func() { _ = e.rdb.Release(context.WithoutCancel(ctx), db, key, e.token) }()

	// The claim holder may have finished between our read and our claim.
	if m, err := e.rdb.IndexGet(ctx, db, []string{key}); err != nil {
		return "", "", err
	} else if en, ok := m[key]; ok {
		if err := e.update(ctx, en.PageID, props, icon); err != nil {
			return "", "", fmt.Errorf("update page %s: %w", en.PageID, err)
		}
		return en.PageID, Updated, nil
	}
	intent, err := e.rdb.HasIntent(ctx, db, key)
	if err != nil {
		return "", "", err
	}
	if intent {
		pageID, err := e.lookup(ctx, ids, db, key)
		if err != nil {
			return "", "", fmt.Errorf("look up a create that may have been applied: %w", err)
		}
		if pageID != "" {
			log.Info("an earlier create of this key was applied; updating it", "database", db, "key", key, "page_id", pageID)
			if err := e.update(ctx, pageID, props, icon); err != nil {
				return "", "", fmt.Errorf("update page %s: %w", pageID, err)
			}
			return pageID, Created, nil
		}
	} else if err := e.rdb.SetIntent(ctx, db, key); err != nil {
		return "", "", err
	}
	req := notion.CreatePageRequest{DataSourceID: ids.DataSourceID, Properties: props, Icon: iconOf(icon)}
	page, err := e.notion.CreatePage(ctx, req)
	if err != nil {
		// The intent stays: the create may have been applied.
		return "", "", fmt.Errorf("create page: %w", err)
	}
	return page.ID, Created, nil
}

// lookup finds the page of key by querying the data source (one call).
func (e *Engine) lookup(ctx context.Context, ids rdb.DatabaseIDs, db, key string) (string, error) {
	d := e.set.Databases[db]
	filter := notion.TextEquals(d.PrimaryKey, string(d.Schema[d.PrimaryKey].Type), key)
	list, err := e.notion.QueryDataSource(ctx, ids.DataSourceID, notion.QueryRequest{Filter: filter, PageSize: 1})
	if err != nil {
		return "", err
	}
	if len(list.Results) == 0 {
		return "", nil
	}
	return list.Results[0].ID, nil
}

func (e *Engine) update(ctx context.Context, pageID string, props map[string]notion.PropertyValue, icon string) error {
	_, err := e.notion.UpdatePage(ctx, pageID, notion.UpdatePageRequest{Properties: props, Icon: iconOf(icon)})
	return err
}

func (e *Engine) trash(ctx context.Context, db, key, pageID string) error {
	if _, err := e.notion.TrashPage(ctx, pageID); err != nil && !notion.IsNotFound(err) && !isTrashedPage(err) {
		return err
	}
	return e.rdb.IndexDel(ctx, db, key)
}

// isTrashedPage recognises Notion's refusal to edit a page in the trash.
func isTrashedPage(err error) bool {
	var ne *notion.Error
	return errors.As(err, &ne) && ne.Status == 400 && containsFold(ne.Message, "archived")
}
