package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// Relations name related rows by primary key. A related row that is not
// written yet leaves the relation incomplete: the row is written with the
// keys that resolve, and a waiter is filed under each missing key in the
// related database's wait buckets (rdb.Waiter). A page that writes rows
// reads the waiters of exactly the keys it wrote (one round trip) and
// completes their relations (one update per waiting row, fenced by the
// row's key claim: completeRelation). Waiters older
// than Config.PendingTTL are dropped at the end of a run, with one warning.
// The row's content hash is the one of its intended content, so a row
// whose only difference is a still-missing relation costs no write.

// pageInfo is what a page's steps tell each other through its context:
// whether the sync's state was empty (for the log line about lost Redis
// data) and the relation values left waiting.
type pageInfo struct {
	fresh bool
	log   *slog.Logger

	mu      sync.Mutex
	waiting []waiting
}

// waiting is a relation value a page wrote with missing related rows.
type waiting struct {
	db, key, prop, related string
	missing                []string
	// appeared are missing keys found in the related index right after
	// the row was indexed: written meanwhile by another page, which may
	// not have seen our waiter.
	appeared []string
}

type pageInfoKey struct{}

// withPageInfo starts a page's notes; fresh says the sync had no committed
// state (a first run, or Redis lost it); log is the page's (run) logger.
func withPageInfo(ctx context.Context, fresh bool, log *slog.Logger) (context.Context, *pageInfo) {
	pi := &pageInfo{fresh: fresh, log: log}
	return context.WithValue(ctx, pageInfoKey{}, pi), pi
}

// pageLog is the logger of the page ctx belongs to, else def.
func pageLog(ctx context.Context, def *slog.Logger) *slog.Logger {
	if pi := pageInfoOf(ctx); pi != nil && pi.log != nil {
		return pi.log
	}
	return def
}

func pageInfoOf(ctx context.Context) *pageInfo {
	pi, _ := ctx.Value(pageInfoKey{}).(*pageInfo)
	return pi
}

// stateClause ends the log line about a rebuilt index with what it means
// for the sync whose page noticed.
func stateClause(ctx context.Context) string {
	switch pi := pageInfoOf(ctx); {
	case pi == nil:
		return ""
	case pi.fresh:
		return "; the sync's state was lost with it (or it never ran), so this run starts from scratch"
	default:
		return "; the sync's committed state survived, so this run goes on from it"
	}
}

// encodeRelationRow resolves a row's relation value and, when related rows
// are missing, files a waiter under each of them before the row is written,
// so that no writer of those rows can miss it.
func (e *Engine) encodeRelationRow(ctx context.Context, r row, name string, keys []string) (notion.PropertyValue, []string, error) {
	p := r.db.Schema[name]
	nv, missing, err := e.encodeRelation(ctx, p, keys)
	if err != nil || len(missing) == 0 {
		return nv, nil, err
	}
	w := rdb.Waiter{Database: r.db.Key, Key: r.change.Key, Property: name, Hash: r.hash, Related: keys}
	if err := e.rdb.AddWaiter(ctx, p.Relation.Database, w, missing); err != nil {
		return nv, nil, err
	}
	return nv, missing, nil
}

// recordPending is called once a row is written and indexed, with the
// related keys it is missing by property. It checks them once more: a row
// written since our lookup may have been indexed before our waiter was
// filed, and then its writer did not see it; the page completes those.
func (e *Engine) recordPending(ctx context.Context, db, key string, pending map[string][]string) error {
	if len(pending) == 0 {
		return nil
	}
	d := e.set.Databases[db]
	pi := pageInfoOf(ctx)
	for _, name := range slices.Sorted(mapsKeys(pending)) {
		missing := pending[name]
		p, ok := d.Schema[name]
		if !ok || p.Relation == nil || len(missing) == 0 {
			continue
		}
		w := waiting{db: db, key: key, prop: name, related: p.Relation.Database, missing: missing}
		m, err := e.rdb.IndexGet(ctx, w.related, missing)
		if err != nil {
			return err
		}
		for _, k := range missing {
			if _, ok := m[k]; ok {
				w.appeared = append(w.appeared, k)
			}
		}
		if pi != nil {
			pi.mu.Lock()
			pi.waiting = append(pi.waiting, w)
			pi.mu.Unlock()
		}
	}
	return nil
}

// relationTargets returns the databases some relation property points to.
func (e *Engine) relationTargets() map[string]bool {
	out := map[string]bool{}
	for _, d := range e.set.Databases {
		for _, p := range d.Schema {
			if p.Type == schema.TypeRelation && p.Relation != nil {
				out[p.Relation.Database] = true
			}
		}
	}
	return out
}

// settleRelations runs after a page's rows are written: it completes the
// relations that waited for the rows the page wrote (and for rows other
// pages wrote meanwhile), counts and logs in one line the relation values
// still waiting, and at the end of a run drops the waiters older than the
// TTL with one warning. Counters: relations_completed, unresolved (values
// this page left waiting), relations_dropped.
func (e *Engine) settleRelations(ctx context.Context, s *spec.Sync, rows []row, final bool, log *slog.Logger, counters Counters) error {
	pi := pageInfoOf(ctx)
	var noted []waiting
	if pi != nil {
		pi.mu.Lock()
		noted = pi.waiting
		pi.mu.Unlock()
	}
	targets := map[string]map[string]bool{}
	add := func(db, key string) {
		if targets[db] == nil {
			targets[db] = map[string]bool{}
		}
		targets[db][key] = true
	}
	isTarget := e.relationTargets()
	for _, r := range rows {
		if !r.change.Delete && isTarget[r.db.Key] {
			add(r.db.Key, r.change.Key)
		}
	}
	for _, w := range noted {
		for _, k := range w.appeared {
			add(w.related, k)
		}
	}
	completed := map[string]bool{} // db\x00key\x00prop of the values completed
	var errs []error
	for _, db := range slices.Sorted(mapsKeys(targets)) {
		ws, err := e.rdb.Waiters(ctx, db, slices.Sorted(mapsKeys(targets[db])))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done, err := e.completeWaiters(ctx, db, ws, log)
		for id := range done {
			completed[id] = true
		}
		counters["relations_completed"] += int64(len(done))
		if err != nil {
			errs = append(errs, err)
		}
	}
	// One line for the values this page left waiting, naming a few.
	var still []waiting
	n := 0
	for _, w := range noted {
		if completed[w.db+"\x00"+w.key+"\x00"+w.prop] {
			continue
		}
		still = append(still, w)
		n += len(w.missing)
	}
	if n > 0 {
		counters["unresolved"] += int64(n)
		log.Info(fmt.Sprintf("%d related rows are not written yet; their relations are completed when they are, or given up after %s", n, shortDuration(e.cfg.PendingTTL)),
			"waiting", describeWaiting(still, 5))
	}
	if final {
		if err := e.expireWaiters(ctx, s, log, counters); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("relations: %w", errs[0])
	}
	return nil
}

// completeWaiters completes the relation values of waiters found under
// keys of db: one Notion update per waiting row whose content is still the
// one written (same hash) and whose relation gained rows. Stale waiters
// (row rewritten or gone) are forgotten. It returns the ids
// (db\x00key\x00prop) of the values updated.
func (e *Engine) completeWaiters(ctx context.Context, related string, ws []rdb.Waiter, log *slog.Logger) (map[string]bool, error) {
	done := map[string]bool{}
	if len(ws) == 0 {
		return done, nil
	}
	// The waiting rows, by database.
	rowKeys := map[string][]string{}
	relKeys := map[string]bool{}
	for _, w := range ws {
		rowKeys[w.Database] = append(rowKeys[w.Database], w.Key)
		for _, k := range w.Related {
			relKeys[k] = true
		}
	}
	rowsIdx := map[string]map[string]rdb.IndexEntry{}
	for db, keys := range rowKeys {
		if _, ok := e.set.Databases[db]; !ok {
			continue // a database no longer declared: its waiters go
		}
		m, err := e.rdb.IndexGet(ctx, db, keys)
		if err != nil {
			return done, err
		}
		rowsIdx[db] = m
	}
	relIdx, err := e.rdb.IndexGet(ctx, related, slices.Sorted(mapsKeys(relKeys)))
	if err != nil {
		return done, err
	}
	var forget []rdb.Waiter
	failed := map[string]bool{}
	var firstErr error
	for _, w := range ws {
		id := w.Database + "\x00" + w.Key + "\x00" + w.Property
		en, ok := rowsIdx[w.Database][w.Key]
		d := e.set.Databases[w.Database]
		if !ok || en.Hash != w.Hash || d == nil || d.Schema[w.Property].Relation == nil {
			forget = append(forget, w) // stale: the row changed or is gone
			continue
		}
		if _, ok := relIdx[w.Target]; !ok {
			continue // not written yet after all
		}
		if done[id] {
			forget = append(forget, w) // the same value, found under another key
			continue
		}
		if failed[id] {
			continue
		}
		st, err := e.completeRelation(ctx, related, w, log)
		switch {
		case err != nil:
			failed[id] = true
			if firstErr == nil {
				firstErr = fmt.Errorf("database %q: key %q: complete relation %q: %w", w.Database, w.Key, w.Property, err)
			}
			continue
		case st == relWaiting:
			continue
		case st == relStale:
			forget = append(forget, w)
			continue
		}
		done[id] = true
		forget = append(forget, w)
	}
	if err := e.rdb.RemoveWaiters(ctx, related, forget); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		log.Warn("could not complete some relations; they stay waiting and are retried when their related rows are written again or at the end of a later run", "err", firstErr)
	}
	return done, firstErr
}

// relState is what became of one waiting relation value.
type relState int

const (
	relDone    relState = iota // completed in Notion
	relStale                   // the row was rewritten or is gone: the waiter goes
	relWaiting                 // the related row is not indexed after all
)

// completeRelation sends one waiting row's completed relation value, fenced
// like every other write of the row: under the row's key claim, validated
// right before the send and cancelled if the claim is lost. The row's
// entry and the related rows' entries are read again under the claim, so a
// completion that stalled (a frozen VM, a partition) before taking it
// never writes an old value over a newer write of the row — whose hash
// differs from the waiter's: the waiter is stale. One whose request was
// already sent when it stalled leaves the claim's fencing record behind:
// the next writer of the row finds it Dirty and leaves the key in doubt,
// so its own newer write is sent again after the late one lands.
func (e *Engine) completeRelation(ctx context.Context, related string, w rdb.Waiter, log *slog.Logger) (relState, error) {
	cl, err := e.claimKey(ctx, w.Database, w.Key, false, log)
	if err != nil {
		return relWaiting, err
	}
	defer cl.release()
	cur := cl.state.RowState
	if !cur.Known || cur.Entry.Hash != w.Hash {
		return relStale, nil // rewritten or deleted since the waiter was read
	}
	relIdx, err := e.rdb.IndexGet(cl.ctx, related, w.Related)
	if err != nil {
		return relWaiting, cl.lostErr(err)
	}
	if _, ok := relIdx[w.Target]; !ok {
		return relWaiting, nil
	}
	pageIDs := make([]string, 0, len(w.Related))
	for _, k := range w.Related {
		if re, ok := relIdx[k]; ok {
			pageIDs = append(pageIDs, re.PageID)
		}
	}
	value := notion.RelationValue(pageIDs...)
	req := notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{w.Property: value}}
	err = e.updateSettled(ctx, cur.Entry.PageID, req, cl, log)
	if err != nil && (notion.IsNotFound(err) || isTrashedPage(err)) {
		return relStale, nil // deleted in Notion meanwhile
	}
	if errors.Is(err, errClaimLost) {
		// Another writer took the row over (said in one line by the
		// claim): the waiter is judged again next time, most likely stale.
		return relWaiting, nil
	}
	if err != nil {
		return relWaiting, err // sent or not: the fencing record stays
	}
	// Settled while the claim held: nothing of it is left to land.
	cl.sent = false
	if err := e.completedInDoubt(cl, w.Property, value); err != nil {
		// The waiter stays: a later completion sends it again.
		return relWaiting, err
	}
	return relDone, nil
}

// completedInDoubt keeps a relation value just completed in the write that
// a doubt check of the row would send again: sent again as it was stored,
// with the relation still incomplete, that write would undo the
// completion. When the row's last writer never finished (Dirty) and no
// write is stored, the completion is: a late write of that writer is then
// followed by it. Called under the row's claim, so no other writer stores
// a write in between.
func (e *Engine) completedInDoubt(cl *keyClaim, prop string, value notion.PropertyValue) error {
	cur := cl.state.Entry
	raw, inDoubt, err := e.rdb.DoubtRedo(cl.ctx, cl.db, cl.key)
	if err != nil {
		return cl.lostErr(err)
	}
	var rd redo
	switch {
	case len(raw) > 0:
		if err := json.Unmarshal(raw, &rd); err != nil || rd.Page != cur.PageID || rd.Hash != cur.Hash {
			return nil // unreadable, or not the row's newest write: not sent again
		}
	case inDoubt || cl.state.Dirty:
		rd = redo{Page: cur.PageID, Hash: cur.Hash}
	default:
		return nil
	}
	if rd.Properties == nil {
		rd.Properties = map[string]notion.PropertyValue{}
	}
	rd.Properties[prop] = value
	enc, err := json.Marshal(rd)
	if err != nil {
		return err
	}
	if len(raw) > 0 {
		_, err = e.rdb.SetDoubtRedo(cl.ctx, cl.db, cl.key, raw, enc)
		return cl.lostErr(err)
	}
	return cl.lostErr(e.rdb.AddDoubt(cl.ctx, cl.db, cl.key, rdb.Doubt{Redo: enc, Delay: e.cfg.DoubtFirst}))
}

// expireWaiters drops, at the end of a run, the waiters older than the TTL
// in the wait buckets of the databases the sync's relations point to and
// of its own (a bounded slice of them per run, round-robin). A waiter whose related row
// did arrive is completed instead; one that is stale is forgotten quietly;
// the others are given up with one warning naming a few.
func (e *Engine) expireWaiters(ctx context.Context, s *spec.Sync, log *slog.Logger, counters Counters) error {
	d := e.set.Databases[s.Database]
	if d == nil {
		return nil
	}
	// The databases its relations wait for, and its own (relations of
	// other databases waiting for its rows, so that they expire even if
	// the syncs that filed them are gone).
	relDBs := map[string]bool{}
	if e.relationTargets()[s.Database] {
		relDBs[s.Database] = true
	}
	for _, p := range d.Schema {
		if p.Type == schema.TypeRelation && p.Relation != nil {
			relDBs[p.Relation.Database] = true
		}
	}
	var gaveUp []rdb.Waiter
	total := 0
	for _, db := range slices.Sorted(mapsKeys(relDBs)) {
		dropped, n, err := e.rdb.ExpireWaiters(ctx, db, e.cfg.PendingTTL, expireBucketsPerRun, 1000)
		if err != nil {
			return err
		}
		total += n - len(dropped) // dropped beyond what was returned
		if len(dropped) == 0 {
			continue
		}
		// Those that can be completed now are; dropping removed them from
		// Redis already, so completeWaiters forgets nothing more.
		done, err := e.completeWaiters(ctx, db, dropped, log)
		counters["relations_completed"] += int64(len(done))
		if err != nil {
			return err
		}
		live := e.liveWaiters(ctx, dropped)
		for _, w := range live {
			if !done[w.Database+"\x00"+w.Key+"\x00"+w.Property] {
				gaveUp = append(gaveUp, w)
				total++
			}
		}
	}
	if total > 0 {
		counters["relations_dropped"] += int64(total)
		log.Warn(fmt.Sprintf("gave up on %d relation values whose related rows never arrived within %v; those rows keep the related rows that did arrive", total, e.cfg.PendingTTL),
			"relations", describeWaiters(gaveUp, 5))
	}
	return nil
}

// expireBucketsPerRun bounds the wait buckets one run's end walks (about
// 50 keys each).
const expireBucketsPerRun = 64

// liveWaiters keeps the waiters whose row still has the content they were
// filed with (the others are stale, not given up).
func (e *Engine) liveWaiters(ctx context.Context, ws []rdb.Waiter) []rdb.Waiter {
	byDB := map[string][]string{}
	for _, w := range ws {
		byDB[w.Database] = append(byDB[w.Database], w.Key)
	}
	idx := map[string]map[string]rdb.IndexEntry{}
	for db, keys := range byDB {
		if m, err := e.rdb.IndexGet(ctx, db, keys); err == nil {
			idx[db] = m
		}
	}
	var out []rdb.Waiter
	seen := map[string]bool{}
	for _, w := range ws {
		id := w.Database + "\x00" + w.Key + "\x00" + w.Property
		if en, ok := idx[w.Database][w.Key]; ok && en.Hash == w.Hash && !seen[id] {
			seen[id] = true
			out = append(out, w)
		}
	}
	return out
}

// migratePending moves the pending relations of synq versions before the
// wait buckets into them, and completes those whose rows exist now.
func (e *Engine) migratePending(ctx context.Context, db string, log *slog.Logger) error {
	old, err := e.rdb.LegacyPending(ctx, db)
	if err != nil || len(old) == 0 {
		return err
	}
	d := e.set.Databases[db]
	keys := make([]string, 0, len(old))
	for _, p := range old {
		keys = append(keys, p.Key)
	}
	rows, err := e.rdb.IndexGet(ctx, db, keys)
	if err != nil {
		return err
	}
	byRelated := map[string][]string{}
	for _, p := range old {
		prop, ok := d.Schema[p.Property]
		en, indexed := rows[p.Key]
		if !ok || prop.Relation == nil || !indexed {
			continue
		}
		w := rdb.Waiter{Database: db, Key: p.Key, Property: p.Property, Hash: en.Hash, Related: p.Related}
		if err := e.rdb.AddWaiter(ctx, prop.Relation.Database, w, p.Related); err != nil {
			return err
		}
		byRelated[prop.Relation.Database] = append(byRelated[prop.Relation.Database], p.Related...)
	}
	for related, keys := range byRelated {
		ws, err := e.rdb.Waiters(ctx, related, keys)
		if err != nil {
			return err
		}
		if _, err := e.completeWaiters(ctx, related, ws, log); err != nil {
			log.Warn("could not complete some migrated pending relations; they stay waiting", "database", db, "err", err)
		}
	}
	return e.rdb.DropLegacyPending(ctx, db)
}

func describeWaiting(ws []waiting, n int) string {
	parts := make([]string, 0, n+1)
	for i, w := range ws {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(ws)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %q.%s → %s %s", w.db, w.key, w.prop, w.related, quoteAll(w.missing, 3)))
	}
	return strings.Join(parts, "; ")
}

func describeWaiters(ws []rdb.Waiter, n int) string {
	parts := make([]string, 0, n+1)
	for i, w := range ws {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(ws)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %q.%s → %q (waiting since %s)", w.Database, w.Key, w.Property, w.Target, w.Since.UTC().Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}

func quoteAll(keys []string, n int) string {
	q := make([]string, 0, n+1)
	for i, k := range keys {
		if i == n {
			q = append(q, fmt.Sprintf("+%d", len(keys)-n))
			break
		}
		q = append(q, fmt.Sprintf("%q", k))
	}
	return strings.Join(q, ", ")
}

// shortDuration spells d without its zero tail: 24h, not 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
