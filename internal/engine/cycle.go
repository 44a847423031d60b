package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/synqhq/synq/internal/rdb"
)

// CycleResult sums a run's pages.
type CycleResult struct {
	Pages    int
	Counters Counters
	// Held says why the deletion guard kept the final sweep from
	// trashing rows ("" when it did not).
	Held string
}

// CycleOptions refine an in-process cycle.
type CycleOptions struct {
	// AllowTrash lifts the deletion guard (ctl trigger --allow-trash).
	AllowTrash bool
}

// RunCycle runs every page of one run of a sync in-process, from the
// committed state, until Execute reports no more pages. Tests use it, and
// it is the reference for what the distributed runtime does one task at a
// time. A failing page stops the cycle with its error; calling RunCycle
// again with the same run resumes after the last committed page.
func (e *Engine) RunCycle(ctx context.Context, sync, run string, log *slog.Logger) (CycleResult, error) {
	return e.RunCycleWith(ctx, sync, run, CycleOptions{}, log)
}

// RunCycleWith is RunCycle with options.
func (e *Engine) RunCycleWith(ctx context.Context, sync, run string, o CycleOptions, log *slog.Logger) (CycleResult, error) {
	res := CycleResult{Counters: Counters{}}
	st, err := e.rdb.GetSync(ctx, sync)
	if err != nil {
		return res, err
	}
	page := 0
	if st.Run == run {
		page = st.RunPages
		if !st.RunMore && page > 0 {
			return res, nil
		}
	}
	for {
		pr, err := e.RunPage(ctx, PageRequest{Sync: sync, Run: run, Page: page, Logger: log, AllowTrash: o.AllowTrash})
		if err != nil {
			return res, err
		}
		res.Pages++
		res.Held = pr.Held
		for k, v := range pr.Counters {
			res.Counters[k] += v
		}
		if !pr.HasMore {
			return res, nil
		}
		page++
	}
}

// PreviewChange is one row of a preview.
type PreviewChange struct {
	Database string
	Key      string
	// Kind is what applying would do: created, updated, unchanged, skipped
	// (stale) or trashed.
	Kind       Outcome
	Properties map[string]string
	// Message says what a change without properties is (a delete, and
	// whether its row is already gone).
	Message string
	// Old holds, for an updated row, each property's value in Notion now
	// (rendered like Properties), so a preview reads as old → new. It is
	// nil when the row was not read (OldError says why).
	Old      map[string]string
	OldError string
}

// Preview is an Execute's output without its effects.
type Preview struct {
	Changes   []PreviewChange
	HasMore   bool
	NextState json.RawMessage
}

// Preview runs Execute from state (nil: the committed state) and says what
// each change would do, without writing to Notion or touching the stored
// state. Validation errors are returned as they would fail the page.
func (e *Engine) Preview(ctx context.Context, sync string, state json.RawMessage, log *slog.Logger) (Preview, error) {
	s, err := e.sync(sync)
	if err != nil {
		return Preview{}, err
	}
	if log == nil {
		log = e.log.With("sync", sync, "preview", true)
	}
	if state == nil {
		st, err := e.rdb.GetSync(ctx, sync)
		if err != nil {
			return Preview{}, err
		}
		state = st.State
	}
	page, err := e.execute(ctx, s, PageRequest{Sync: sync, Run: "preview"}, state, log)
	if err != nil {
		return Preview{}, err
	}
	rows, err := prepare(e.set, s, page.Changes)
	if err != nil {
		return Preview{}, err
	}
	out := Preview{HasMore: page.HasMore, NextState: page.NextState}
	if out.NextState == nil {
		out.NextState = state
	}
	byDB := map[string][]string{}
	for _, r := range rows {
		byDB[r.db.Key] = append(byDB[r.db.Key], r.change.Key)
	}
	entries := map[string]map[string]rdb.IndexEntry{}
	tombs := map[string]map[string]int64{}
	for db, keys := range byDB {
		if _, err := e.database(ctx, db); err != nil {
			return Preview{}, err
		}
		m, err := e.lookupIndex(ctx, db, keys, log)
		if err != nil {
			return Preview{}, err
		}
		entries[db] = m
		// A write reads a new key's tombstone under its claim; a preview
		// reads them here (one more round trip, previews only).
		if tombs[db], err = e.rdb.Tombstones(ctx, db, keys); err != nil {
			return Preview{}, err
		}
	}
	var updated []oldRead
	for _, r := range rows {
		pc := PreviewChange{Database: r.db.Key, Key: r.change.Key, Properties: map[string]string{}}
		en, known := entries[r.db.Key][r.change.Key]
		switch decide(rdb.RowState{Entry: en, Known: known, Tomb: tombs[r.db.Key][r.change.Key]}, r.change, r.hashOn(en.Body.Hash), upstreamOf(r.change)) {
		case actSkip:
			pc.Kind = Skipped
		case actUnchanged, actRaise:
			pc.Kind = Unchanged
		case actTrash:
			pc.Kind = Trashed
		case actCreate:
			pc.Kind = Created
		default:
			pc.Kind = Updated
		}
		for name, v := range r.props {
			pc.Properties[name] = v.String()
		}
		if r.change.Delete {
			pc.Message = "delete"
			if pc.Kind == Unchanged {
				pc.Message = "delete: no such row in Notion (never written or already trashed)"
			}
		}
		if pc.Kind == Updated {
			updated = append(updated, oldRead{change: len(out.Changes), row: r, page: en.PageID})
		}
		out.Changes = append(out.Changes, pc)
	}
	e.readOld(ctx, out.Changes, updated, log)
	return out, nil
}

// ResetDatabaseIndex forgets a database's key index (tests, recovery), so
// the next write rebuilds it from Notion.
func (e *Engine) ResetDatabaseIndex(ctx context.Context, db string) error {
	if _, ok := e.set.Databases[db]; !ok {
		return fmt.Errorf("database %q is not declared", db)
	}
	e.provMu.Lock()
	delete(e.provisioned, db)
	e.provMu.Unlock()
	return e.rdb.ResetDatabase(ctx, db)
}
