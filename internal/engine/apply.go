package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
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

// maxReclaim bounds how many times one row is decided again after its
// writer lost the key's claim to another writer.
const maxReclaim = 3

// maxSettle bounds how many times one write whose outcome stays unknown
// is settled and sent again before the page fails (and is retried).
const maxSettle = 4

// applyRows writes rows to Notion, up to Config.WriteConcurrency at once
// (Notion answers a write in a few hundred milliseconds: one at a time, a
// page would leave most of the token's budget unused; the pacer still
// bounds the calls of every writer together). It returns the counters and
// the seen members (for replace mode) of the rows applied.
//
// What the order of rows decided when they were written one after another
// still holds: the rows of one key are written in page order by one
// goroutine (the last one wins, and each sees what the one before wrote),
// rows that others in the page relate to are written first (their related
// rows then resolve at once, without a waiter), and the page commits only
// after every row settled. The first error fails the page: no row starts
// after it, the rows being written finish (a write cancelled in flight
// would leave its outcome unknown, to be looked up and maybe doubted by
// the retry), and the page is retried; what was written is idempotent
// for the retry, as with a page that fails part-way when written in order.
func (e *Engine) applyRows(ctx context.Context, sync, run string, rows []row, log *slog.Logger) (Counters, []string, error) {
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
	if err := e.stripBodies(ctx, rows, entries, log); err != nil {
		return counters, seen, err
	}
	var unknown emailSet
	defer e.warnUnknownPeople(ctx, sync, run, &unknown, log)
	outcomes := make([]Outcome, len(rows))
	var err error
	for _, phase := range writePhases(rows) {
		if err = e.applyGroups(ctx, sync, rows, phase, entries, outcomes, log, &unknown); err != nil {
			break
		}
	}
	// The rows settled count, in page order, even when the page failed.
	for i, r := range rows {
		if outcomes[i] == "" {
			continue
		}
		counters.add(outcomes[i])
		if !r.change.Delete {
			seen = append(seen, rdb.SeenMember(r.db.Key, r.change.Key))
		}
	}
	return counters, seen, err
}

// applyGroups writes groups of rows (indexes into rows, each group the
// rows of one key in page order), up to Config.WriteConcurrency groups at
// once, and records each row's outcome. After the first error no row
// starts; the error is returned once the rows in flight are done.
func (e *Engine) applyGroups(ctx context.Context, sync string, rows []row, groups [][]int, entries map[string]map[string]rdb.IndexEntry, outcomes []Outcome, log *slog.Logger, unknown *emailSet) error {
	// Each group gets its own copy of its key's entry: applyRow updates it
	// in place for the key's next row, and no other group reads it.
	own := make([]map[string]rdb.IndexEntry, len(groups))
	for g, idx := range groups {
		r := rows[idx[0]]
		own[g] = map[string]rdb.IndexEntry{}
		if en, ok := entries[r.db.Key][r.change.Key]; ok {
			own[g][r.change.Key] = en
		}
	}
	var eg errgroup.Group
	eg.SetLimit(e.cfg.WriteConcurrency)
	var failed atomic.Bool
	for g, idx := range groups {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		eg.Go(func() error {
			for _, i := range idx {
				if failed.Load() {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				o, err := e.applyRow(ctx, sync, rows[i], own[g], log, unknown)
				if err != nil {
					failed.Store(true)
					return err
				}
				outcomes[i] = o
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	return ctx.Err() // a page cancelled before all its rows started
}

// writePhases groups the rows of a page by key (db and key, rows in page
// order) and orders the groups in phases: first the keys that other rows
// of the page relate to, then the others. A relation to a row written in
// the same page thus finds its page id at once, as it did when rows were
// written in page order with the related row first (a related row written
// at the same time is still completed after the page's rows: see
// settleRelations; this only spares that call).
func writePhases(rows []row) [][][]int {
	type dbKey struct{ db, key string }
	group := map[dbKey]int{}
	var groups [][]int
	for i, r := range rows {
		k := dbKey{r.db.Key, r.change.Key}
		g, ok := group[k]
		if !ok {
			g = len(groups)
			group[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	first := make([]bool, len(groups))
	some := false
	for _, r := range rows {
		if r.change.Delete {
			continue
		}
		for name, v := range r.props {
			p, ok := r.db.Schema[name]
			if v.Type != schema.TypeRelation || !ok || p.Relation == nil {
				continue
			}
			for _, k := range v.Keys {
				if g, ok := group[dbKey{p.Relation.Database, k}]; ok && g != group[dbKey{r.db.Key, r.change.Key}] {
					first[g], some = true, true
				}
			}
		}
	}
	if !some {
		return [][][]int{groups}
	}
	var a, b [][]int
	for g, idx := range groups {
		if first[g] {
			a = append(a, idx)
		} else {
			b = append(b, idx)
		}
	}
	return [][][]int{a, b}
}

// warnUnknownPeople logs, once per run across pages and executors, the
// emails that no workspace member has.
func (e *Engine) warnUnknownPeople(ctx context.Context, sync, run string, unknown *emailSet, log *slog.Logger) {
	emails := unknown.sorted()
	if len(emails) == 0 {
		return
	}
	fresh, err := e.rdb.WarnOnce(context.WithoutCancel(ctx), sync, run, "people", emails)
	if err != nil {
		log.Debug("could not record which emails were warned about", "err", err)
	}
	if len(fresh) > 0 {
		log.Warn("no workspace member has these emails; people values leave them out (invite them, or fix the emails)", "emails", fresh)
	}
}

// action is what a change does to a row, given its index entry.
type action int

const (
	actSkip      action = iota // stale: older than what was written
	actUnchanged               // same content, nothing to record
	actRaise                   // same content at a newer upstream time: record the time
	actTrash
	actUpdate
	actCreate
)

// decide is the write rule. An upsert or delete whose upstream time is
// older than the newest one written for the key is stale, whatever its
// content; content already written costs no call (a newer upstream time
// is still recorded, so an older change cannot come after it).
func decide(cur rdb.RowState, c spec.Change, hash string, up int64) action {
	if cur.Known && up != 0 && cur.Entry.Upstream > up {
		return actSkip
	}
	// A key an explicit delete trashed: an upsert no newer than what the
	// key had (or than the delete) is older than the delete (a delete wins
	// a tie: without a time of its own it is newer than its row's last
	// upsert).
	if !cur.Known && cur.Tomb != 0 && up != 0 && up <= cur.Tomb {
		return actSkip
	}
	switch {
	case c.Delete && !cur.Known:
		return actUnchanged
	case c.Delete:
		return actTrash
	case !cur.Known:
		return actCreate
	case cur.Entry.Hash != "" && cur.Entry.Hash == hash && (c.Content == nil || !cur.Entry.Body.Writing):
		// (A body write that never committed may have left the body half
		// written: a change with Content writes it, even if equal.)
		if up > cur.Entry.Upstream {
			return actRaise
		}
		return actUnchanged
	}
	return actUpdate
}

func upstreamOf(c spec.Change) int64 {
	if c.UpstreamUpdatedAt.IsZero() {
		return 0
	}
	return c.UpstreamUpdatedAt.UnixNano()
}

// applyRow applies one validated change given the index entries read for
// the page (updated in place so a key repeated in a page sees its first
// write).
//
// The page's index read settles most rows without a round trip: an index
// entry's upstream time only grows, so a change it shows stale stays
// stale, and content it shows written at that time or later needs
// nothing. Everything else is decided again under the key's claim, from
// the entry as it is then, so that writers racing on a key (two syncs, two
// executors) apply their changes in upstream order.
func (e *Engine) applyRow(ctx context.Context, sync string, r row, entries map[string]rdb.IndexEntry, log *slog.Logger, unknown *emailSet) (Outcome, error) {
	db, key := r.db.Key, r.change.Key
	up := upstreamOf(r.change)
	entry, known := entries[key]
	cur := rdb.RowState{Entry: entry, Known: known}
	// A change without Content keeps the body synq last wrote, and so its
	// hash (see contentHash). The relation waiters the write files carry
	// this hash too.
	r.hash = r.hashOn(entry.Body.Hash)
fast:
	for range 3 {
		switch adoptedRaise(decide(cur, r.change, r.hash, up), r, cur) {
		case actSkip:
			return Skipped, nil
		case actUnchanged:
			return Unchanged, nil
		case actRaise:
			// Record the newer time without a claim, unless a writer holds
			// the key (it is about to replace this content).
			next := cur.Entry
			next.Upstream = up
			res, err := e.rdb.IndexCAS(ctx, db, key, cur, &next, "", false)
			if err != nil {
				return "", err
			}
			if res.OK {
				entries[key] = next
				return Unchanged, nil
			}
			if !res.Busy {
				cur = res.Current // changed since the page read it: decide again
				continue
			}
		}
		break fast
	}
	var out Outcome
	var next rdb.RowState
	var err error
	for try := 1; ; try++ {
		out, next, err = e.applyClaimed(ctx, sync, r, up, log, unknown)
		// A writer that lost the key's claim to another writer discarded
		// its write: the row is decided again from what that writer left.
		// (One cut off from Redis fails the page and waits for Redis.)
		if err == nil || !errors.Is(err, errClaimLost) || errors.Is(err, rdb.ErrUnavailable) || ctx.Err() != nil || try >= maxReclaim {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("sync %q: database %q: key %q: %w", sync, db, key, withHint(err))
	}
	if next.Known {
		entries[key] = next.Entry
	} else {
		delete(entries, key)
	}
	return out, nil
}

// withHint adds what to do to a Notion error that retrying cannot fix.
func withHint(err error) error {
	var ne *notion.Error
	if errors.As(err, &ne) && ne.Permanent() && ne.Status == 400 {
		return fmt.Errorf("%w: Notion refused the row as written (retrying cannot help): fix the values Execute returns", err)
	}
	return err
}

// applyClaimed applies a change under the key's claim and returns the
// key's index entry afterwards.
func (e *Engine) applyClaimed(ctx context.Context, sync string, r row, up int64, log *slog.Logger, unknown *emailSet) (Outcome, rdb.RowState, error) {
	db, key := r.db.Key, r.change.Key
	ids, err := e.database(ctx, db)
	if err != nil {
		return "", rdb.RowState{}, err
	}
	// Resolve people and relations before claiming: lookups should not
	// hold other writers of the key back.
	var props map[string]notion.PropertyValue
	var pending map[string][]string
	if !r.change.Delete {
		if props, pending, err = e.encode(ctx, r, log, unknown); err != nil {
			return "", rdb.RowState{}, err
		}
	}
	cl, err := e.claimKey(ctx, db, key, !r.change.Delete, log)
	if err != nil {
		return "", rdb.RowState{}, err
	}
	defer cl.release()
	cur := cl.state.RowState
	// A row with related rows still missing keeps its hash: the relation
	// completes when they are written (relations.go), not by rewriting it.
	hash := r.hash
	now := e.cfg.Now().UnixNano()
	written := func(pageID string) rdb.IndexEntry {
		return rdb.IndexEntry{PageID: pageID, Hash: hash, Upstream: max(up, cur.Entry.Upstream), Written: now}
	}
	switch adoptedRaise(decide(cur, r.change, r.hash, up), r, cur) {
	case actSkip:
		return Skipped, cur, nil
	case actUnchanged:
		return Unchanged, cur, nil
	case actRaise:
		next := cur.Entry
		next.Upstream = up
		st, err := cl.commit(ctx, &next)
		return Unchanged, st, err
	case actTrash:
		if err := e.trashPage(ctx, cur.Entry.PageID, cl, log); err != nil {
			return "", cur, fmt.Errorf("trash page %s: %w", cur.Entry.PageID, err)
		}
		cl.tomb = max(up, cur.Entry.Upstream)
		st, err := cl.commit(ctx, nil)
		return Trashed, st, err
	case actUpdate:
		body, err := e.updateRow(ctx, r, cl, props, log)
		if err == nil {
			st, err := cl.commitBody(ctx, ptr(written(cur.Entry.PageID)), body)
			if err != nil {
				return "", st, err
			}
			return Updated, st, e.recordPending(ctx, db, key, pending)
		}
		if !errors.Is(err, errPageGone) {
			return "", cur, err
		}
		// Someone deleted the row in Notion: create it again.
		log.Warn("row was deleted in Notion; creating it again", "database", db, "key", key, "page_id", cur.Entry.PageID)
		if err := cl.check(); err != nil {
			return "", cur, err
		}
		if err := e.rdb.SetIntent(ctx, db, key); err != nil {
			return "", cur, err
		}
		cl.intended = true
	}
	pageID, outcome, body, err := e.createSettled(ctx, ids, r, props, cl, log)
	if err != nil {
		return "", cur, err
	}
	if r.db.IsExisting() {
		// The row is synq's: its body too (stripBodies).
		if err := e.rdb.MarkMine(ctx, db, key); err != nil {
			return "", cur, err
		}
	}
	st, err := cl.commitBody(ctx, ptr(written(pageID)), body)
	if err != nil {
		return "", st, err
	}
	return outcome, st, e.recordPending(ctx, db, key, pending)
}

// errPageGone marks a write that found the row's page deleted, or in the
// trash, in Notion.
var errPageGone = errors.New("the row's page is gone from Notion")

// updateRow writes a row whose content changed: its properties, icon and
// cover unless only its body changed, then its body block by block when
// the change has Content. It returns what the commit does to the row's
// body record.
func (e *Engine) updateRow(ctx context.Context, r row, cl *keyClaim, props map[string]notion.PropertyValue, log *slog.Logger) (rdb.BodyOp, error) {
	cur := cl.state.Entry
	pageID := cur.PageID
	// The stored hash is the content hash of the stored body: when the
	// new properties give it with that body, only the body changed.
	propsChanged := !r.hasContent() || cur.Hash == "" || contentHash(hashProps(r.db, r.props), r.change.Icon, r.change.Cover, cur.Body.Hash) != cur.Hash
	if propsChanged {
		req := e.updateRequest(props, r.change, cur.Hash)
		cl.redo = &redo{Page: pageID, Hash: r.hash, Properties: req.Properties, Icon: req.Icon, ClearIcon: req.ClearIcon, Cover: req.Cover, ClearCover: req.ClearCover}
		if err := e.updateSettled(ctx, pageID, req, cl, log); err != nil {
			if notion.IsNotFound(err) || isTrashedPage(err) {
				return rdb.BodyKeep, fmt.Errorf("update page %s: %w: %w", pageID, errPageGone, err)
			}
			return rdb.BodyKeep, fmt.Errorf("update page %s: %w", pageID, err)
		}
	}
	if !r.hasContent() {
		return rdb.BodyKeep, nil // the body is left as it is
	}
	old, verify := storedRefs(cl, log)
	if !verify && cur.Body.Hash == r.body {
		return rdb.BodyKeep, nil
	}
	body, err := e.writeBody(ctx, cl, pageID, old, r, verify)
	if err != nil && cl.ctx.Err() == nil && (notion.IsNotFound(err) || notion.IsArchived(err) || isTrashedPage(err)) {
		if gone, gerr := e.pageGone(ctx, pageID); gerr == nil && gone {
			return rdb.BodyKeep, fmt.Errorf("write the body of page %s: %w: %w", pageID, errPageGone, err)
		}
	}
	return body, err
}

// storedRefs returns the blocks of the body synq last wrote to the row,
// or verify: the body must be read from Notion first, because a body
// write never committed (the writer died or failed part-way: the page may
// hold blocks the record does not name), or there is no record (synq
// never wrote this row's body, or Redis lost it).
func storedRefs(cl *keyClaim, log *slog.Logger) (refs []pagecontent.Ref, verify bool) {
	st := cl.state
	switch {
	case st.Entry.Body.Writing:
		log.Info("an earlier write of this row's body did not finish; reading the body from Notion before writing it", "database", cl.db, "key", cl.key)
		return nil, true
	case st.Entry.Body.Hash == "":
		return nil, true
	}
	refs, err := pagecontent.DecodeRefs(st.Refs)
	if err != nil {
		log.Warn("the stored blocks of this row's body are unreadable; reading the body from Notion", "database", cl.db, "key", cl.key, "err", err)
		return nil, true
	}
	return refs, false
}

// writeBody turns the page's body from old into the change's blocks (see
// pagecontent.Apply), with the row marked "body write in flight" until
// the commit that records the new body: an attempt that dies or fails
// part-way leaves the mark, and the next one reads the body back
// (verify) instead of trusting the record, so no block is duplicated.
func (e *Engine) writeBody(ctx context.Context, cl *keyClaim, pageID string, old []pagecontent.Ref, r row, verify bool) (rdb.BodyOp, error) {
	// The mark is fenced: it validates and renews the claim in the same
	// step; a body already marked is validated alone.
	if !cl.state.Entry.Body.Writing {
		sent := time.Now()
		ok, err := e.rdb.MarkBodyWriteClaimed(cl.ctx, cl.db, cl.key, cl.token, e.cfg.ClaimTTL)
		if err != nil {
			return rdb.BodyKeep, cl.lostErr(err)
		}
		if !ok {
			return rdb.BodyKeep, cl.lose(fmt.Errorf("%w: another writer claimed the key", errClaimLost))
		}
		cl.renewed(sent)
		cl.state.Entry.Body.Writing = true
	} else if err := cl.check(); err != nil {
		return rdb.BodyKeep, err
	}
	cl.wrote()
	refs, err := pagecontent.Apply(cl.ctx, e.notion, pageID, old, r.blocks, pagecontent.ApplyOptions{Verify: verify})
	if err != nil {
		return rdb.BodyKeep, fmt.Errorf("write the body of page %s (the next attempt reads it back from Notion first): %w", pageID, cl.lostErr(err))
	}
	return bodySet(r.body, refs)
}

// bodySet is the commit of a body just written.
func bodySet(hash string, refs []pagecontent.Ref) (rdb.BodyOp, error) {
	enc, err := pagecontent.EncodeRefs(refs)
	if err != nil {
		return rdb.BodyKeep, err
	}
	return rdb.BodySet(rdb.BodyRecord{Hash: hash, Refs: enc}), nil
}

// pageGone says whether a page was deleted or is in the trash (one call).
func (e *Engine) pageGone(ctx context.Context, pageID string) (bool, error) {
	pg, err := e.notion.GetPage(ctx, pageID)
	if notion.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return pg.InTrash || pg.Archived, nil
}

func ptr[T any](v T) *T { return &v }

// updateRequest is the update of a row to props, icon and cover; an icon
// or cover that synq wrote before (as the previous content hash says) and
// the change no longer has is cleared.
func (e *Engine) updateRequest(props map[string]notion.PropertyValue, c spec.Change, prevHash string) notion.UpdatePageRequest {
	return notion.UpdatePageRequest{
		Properties: props,
		Icon:       iconOf(c.Icon),
		ClearIcon:  c.Icon == "" && hashSetIcon(prevHash),
		Cover:      coverOf(c.Cover),
		ClearCover: c.Cover == "" && hashSetCover(prevHash),
	}
}

// updateSettled sends an update; one whose outcome is unknown is sent
// again (under the key's claim, the same update is idempotent). Under a
// claim (cl not nil) each send is fenced: the claim is validated right
// before, and the request is cancelled if the claim is lost meanwhile.
func (e *Engine) updateSettled(ctx context.Context, pageID string, req notion.UpdatePageRequest, cl *keyClaim, log *slog.Logger) error {
	for attempt := 1; ; attempt++ {
		if cl != nil {
			if err := cl.check(); err != nil {
				return err
			}
			ctx = cl.ctx
			cl.wrote()
		}
		_, err := e.notion.UpdatePage(ctx, pageID, req)
		if cl != nil {
			err = cl.lostErr(err)
		}
		if err == nil || !errors.Is(err, notion.ErrAmbiguousWrite) || attempt >= maxSettle || ctx.Err() != nil {
			return err
		}
		log.Info("update outcome unknown; sending it again", "page_id", pageID, "attempt", attempt, "err", err)
		if err := sleep(ctx, e.settleBackoff(attempt)); err != nil {
			return err
		}
	}
}

// trashPage trashes a page; a page already gone or in the trash is fine,
// and a trash whose outcome is unknown is sent again.
func (e *Engine) trashPage(ctx context.Context, pageID string, cl *keyClaim, log *slog.Logger) error {
	yes := true
	err := e.updateSettled(ctx, pageID, notion.UpdatePageRequest{InTrash: &yes}, cl, log)
	if err != nil && !notion.IsNotFound(err) && !isTrashedPage(err) {
		return err
	}
	return nil
}

// createSettled creates the row of a key that has no entry, with its
// body when the change has Content: as much as one request can carry goes
// with the create (bodies of up to 100 blocks nested two deep, whole), the
// rest is appended. A create intent left by an earlier writer means its
// create may have been applied: the key is looked up first. A create whose
// outcome is unknown (a timeout, a 500) is settled by looking the key up,
// and sent again only when the row is not there. A page found by a lookup
// may hold part of a body (an earlier writer died appending it): its body
// is read back and completed, never appended twice. It returns what the
// commit does to the row's body record.
func (e *Engine) createSettled(ctx context.Context, ids rdb.DatabaseIDs, r row, props map[string]notion.PropertyValue, cl *keyClaim, log *slog.Logger) (string, Outcome, rdb.BodyOp, error) {
	db, key := r.db.Key, r.change.Key
	if cl.state.Intent {
		pageID, err := e.settle(cl.ctx, ids, db, key, false)
		if err != nil {
			return "", "", rdb.BodyKeep, fmt.Errorf("look up a create that may have been applied: %w", cl.lostErr(err))
		}
		if pageID != "" {
			// Its content is the earlier writer's: write ours.
			log.Info("an earlier create of this key was applied; updating it", "database", db, "key", key, "page_id", pageID)
			cl.created = pageID
			req := e.updateRequest(props, r.change, "")
			cl.redo = &redo{Page: pageID, Hash: r.hash, Properties: req.Properties, Icon: req.Icon, Cover: req.Cover}
			if err := e.updateSettled(ctx, pageID, req, cl, log); err != nil {
				return "", "", rdb.BodyKeep, fmt.Errorf("update page %s: %w", pageID, err)
			}
			body, err := e.bodyOfFound(cl, pageID, r)
			return pageID, Created, body, err
		}
	}
	req := notion.CreatePageRequest{DataSourceID: ids.DataSourceID, Properties: props, Icon: iconOf(r.change.Icon), Cover: coverOf(r.change.Cover)}
	withCreate, rest := pagecontent.SplitForCreate(r.blocks, requestSize(req.Properties)+requestSize(req.Icon)+requestSize(req.Cover))
	req.Children = withCreate
	for attempt := 1; ; attempt++ {
		if err := cl.check(); err != nil {
			return "", "", rdb.BodyKeep, err
		}
		if cl.createSent {
			cl.resent = true
		}
		cl.createSent = true
		cl.wrote()
		page, err := e.notion.CreatePage(cl.ctx, req)
		err = cl.lostErr(err)
		if err == nil {
			cl.created = page.ID
			body, err := e.restOfBody(cl, page.ID, r, withCreate, rest)
			return page.ID, Created, body, err
		}
		if !errors.Is(err, notion.ErrAmbiguousWrite) {
			if cl.intended {
				// Not applied: the next writer needs no lookup.
				_ = e.rdb.ClearIntent(context.WithoutCancel(ctx), db, key)
			}
			return "", "", rdb.BodyKeep, fmt.Errorf("create page: %w", err)
		}
		// The intent stays until the outcome is known.
		if attempt >= maxSettle || cl.ctx.Err() != nil {
			return "", "", rdb.BodyKeep, fmt.Errorf("create page: the outcome stayed unknown after %d attempts (the next writer of the key looks it up before creating): %w", attempt, err)
		}
		log.Info("create outcome unknown; looking the key up", "database", db, "key", key, "attempt", attempt, "err", err)
		pageID, lerr := e.settle(cl.ctx, ids, db, key, true)
		if lerr != nil {
			return "", "", rdb.BodyKeep, fmt.Errorf("create page: outcome unknown (%w), and looking the key up failed: %w", err, cl.lostErr(lerr))
		}
		if pageID != "" {
			log.Info("the create was applied", "database", db, "key", key, "page_id", pageID)
			cl.created = pageID
			body, err := e.bodyOfFound(cl, pageID, r)
			return pageID, Created, body, err
		}
		if err := sleep(cl.ctx, e.settleBackoff(attempt)); err != nil {
			return "", "", rdb.BodyKeep, cl.lostErr(err)
		}
	}
}

// restOfBody appends what did not fit in the create to a page just
// created. Its blocks sent with the create have no known id yet (Notion
// does not return them): the first body change looks them up with one
// read. An error leaves the create intent in place, so the next writer
// finds the page and completes its body (bodyOfFound).
func (e *Engine) restOfBody(cl *keyClaim, pageID string, r row, withCreate, rest []notion.Block) (rdb.BodyOp, error) {
	if !r.hasContent() {
		return rdb.BodyForget, nil
	}
	refs := pagecontent.RefsOf(withCreate)
	if len(rest) > 0 {
		if err := cl.check(); err != nil {
			return rdb.BodyKeep, err
		}
		ids, err := pagecontent.Append(cl.ctx, e.notion, pageID, "", rest)
		if err != nil {
			return rdb.BodyKeep, fmt.Errorf("page %s was created; appending the rest of its body: %w", pageID, cl.lostErr(err))
		}
		for k, id := range ids {
			refs = append(refs, pagecontent.Ref{ID: id, Hash: pagecontent.Hash(rest[k])})
		}
	}
	return bodySet(r.body, refs)
}

// bodyOfFound writes the body of a page an earlier create made, whose
// body may be missing or partly written: read back, then completed.
func (e *Engine) bodyOfFound(cl *keyClaim, pageID string, r row) (rdb.BodyOp, error) {
	if !r.hasContent() {
		return rdb.BodyForget, nil
	}
	if err := cl.check(); err != nil {
		return rdb.BodyKeep, err
	}
	refs, err := pagecontent.Apply(cl.ctx, e.notion, pageID, nil, r.blocks, pagecontent.ApplyOptions{Verify: true})
	if err != nil {
		return rdb.BodyKeep, fmt.Errorf("write the body of page %s: %w", pageID, cl.lostErr(err))
	}
	return bodySet(r.body, refs)
}

// requestSize is the size of v in a request.
func requestSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// settle looks up the page of key. A write that just went out may take a
// moment to be applied and show in queries, so after an unknown outcome
// (patient) a miss is looked up once more after SettleDelay.
func (e *Engine) settle(ctx context.Context, ids rdb.DatabaseIDs, db, key string, patient bool) (string, error) {
	pageID, err := e.lookup(ctx, ids, db, key)
	if err != nil || pageID != "" || !patient {
		return pageID, err
	}
	if err := sleep(ctx, e.cfg.SettleDelay); err != nil {
		return "", err
	}
	return e.lookup(ctx, ids, db, key)
}

// settleBackoff is the wait before sending a write again.
func (e *Engine) settleBackoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return d/2 + rand.N(d/2+1)
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

// isTrashedPage recognises Notion's refusal to edit a page in the trash.
func isTrashedPage(err error) bool {
	var ne *notion.Error
	return errors.As(err, &ne) && ne.Status == 400 && containsFold(ne.Message, "archived")
}
