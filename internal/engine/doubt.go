package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/rdb"
)

// Doubt checks. Notion has no idempotency keys, so a write whose writer
// gave up on it (a timeout, a claim lost to a stall or a partition) can
// land later, after another writer wrote the key: a second page for the
// key, or an older value over a newer one. The writer that writes a key
// while such a write may be in flight — it found a create intent it could
// not find in Notion, or the fencing record of a writer that never
// finished — records a doubt with its commit (rdb.Doubt), and so does a
// stale writer that created a page the index does not name yet. Every
// executor checks the doubts of its databases that are due (RunDoubtChecks:
// one script call per database every DoubtPollDefault): under the key's
// claim, a check trashes the key's pages that the index does not name,
// sends the newest write (the redo) again while the index still names it,
// and, when the writer the key was taken from had a body write in flight,
// holds the row's body in Notion to its record (checkBody).
// A doubt is checked DoubtFirst after it was recorded, then DoubtFactor
// times later each time, until DoubtWindow: a write held in the network
// for longer than that is the one case left.

// DoubtPollDefault is how often RunDoubtChecks looks for due doubts.
const DoubtPollDefault = 2 * time.Second

// doubtBatch bounds the doubts of one database checked per poll.
const doubtBatch = 16

// RunDoubtChecks runs CheckDoubts every poll (DoubtPollDefault when 0)
// until ctx ends. Executors run it.
func (e *Engine) RunDoubtChecks(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = DoubtPollDefault
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.CheckDoubts(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, rdb.ErrUnavailable) {
			e.log.Warn("could not check the keys left in doubt; retrying", "err", err)
		}
	}
}

// CheckDoubts runs the due checks of the keys in doubt in the databases
// the engine declares (see above) and returns how many it ran.
func (e *Engine) CheckDoubts(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	sched := rdb.DoubtSchedule{First: e.cfg.DoubtFirst, Factor: e.cfg.DoubtFactor, Window: e.cfg.DoubtWindow}
	for _, db := range e.set.DatabaseOrder {
		due, err := e.rdb.DoubtsDue(ctx, db, doubtBatch, sched)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(due) == 0 {
			continue
		}
		ids, err := e.database(ctx, db)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range due {
			if err := e.checkDoubt(ctx, db, ids, d); err != nil {
				// The next check is scheduled already.
				errs = append(errs, fmt.Errorf("database %q: key %q: check of a write in doubt: %w", db, d.Key, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// checkDoubt runs one check of a key in doubt, under its claim.
func (e *Engine) checkDoubt(ctx context.Context, db string, ids rdb.DatabaseIDs, d rdb.DueDoubt) error {
	log := e.log.With("database", db, "key", d.Key)
	// A writer holding the key finishes first (its claim lasts while it
	// writes); one that holds it for long leaves the check to the next.
	cctx, cancel := context.WithTimeout(ctx, e.cfg.ClaimTTL)
	defer cancel()
	cl, err := e.claimKey(cctx, db, d.Key, false, log)
	if err != nil {
		return err
	}
	defer cl.release()
	cur := cl.state.RowState
	if d.Create {
		pages, err := e.pagesOfKey(cl.ctx, ids, db, d.Key)
		if err != nil {
			return cl.lostErr(err)
		}
		for _, p := range pages {
			if cur.Known && p == cur.Entry.PageID {
				continue
			}
			log.Warn("trashing a page of a key that the index does not name: a create its writer gave up on landed after another writer created the key", "page_id", p, "index_page_id", cur.Entry.PageID)
			if err := e.trashPage(ctx, p, cl, log); err != nil {
				return fmt.Errorf("trash page %s: %w", p, err)
			}
		}
	}
	if len(d.Redo) > 0 {
		var rd redo
		if err := json.Unmarshal(d.Redo, &rd); err != nil {
			return fmt.Errorf("the stored write is unreadable: %w", err)
		}
		// Only the newest write is sent again: a writer since has the
		// row's content in the index, and its own doubts.
		if cur.Known && cur.Entry.PageID == rd.Page && cur.Entry.Hash == rd.Hash {
			log.Debug("sending the newest write of a key in doubt again", "page_id", rd.Page, "check", d.Check)
			if err := e.updateSettled(ctx, rd.Page, rd.request(), cl, log); err != nil && !notion.IsNotFound(err) && !isTrashedPage(err) {
				return fmt.Errorf("update page %s: %w", rd.Page, err)
			}
		}
	}
	if d.Body {
		if err := e.checkBody(ctx, cl, log); err != nil {
			return err
		}
	}
	// The check's own writes are settled: they leave nothing in doubt.
	cl.sent = false
	return nil
}

// checkBody holds the row's body in Notion to its record, for a key whose
// earlier writer had a body write in flight when another writer took the
// key over: a block append of it that lands late leaves blocks the record
// does not name, and they are deleted. A body that differs otherwise (a
// late block update or delete: the record keeps no block's content) is
// left for the next write of the row, which rewrites it whole: the row's
// content hash and body record are forgotten, so its next upsert is
// written, and its body read back first (ApplyOptions.Verify).
func (e *Engine) checkBody(ctx context.Context, cl *keyClaim, log *slog.Logger) error {
	cur := cl.state
	if !cur.Known || cur.Entry.Body.Hash == "" || cur.Entry.Body.Writing {
		// No record to hold the body to: the next body write reads the
		// body back from Notion first anyway.
		return nil
	}
	want, err := pagecontent.DecodeRefs(cur.Refs)
	if err != nil {
		return e.forgetBody(ctx, cl, log, "its stored blocks are unreadable")
	}
	got, err := pagecontent.ReadRefs(cl.ctx, e.notion, cur.Entry.PageID)
	if err != nil {
		if notion.IsNotFound(err) || isTrashedPage(err) || notion.IsArchived(err) {
			return nil // the row's page is gone: its next write creates it again
		}
		return cl.lostErr(err)
	}
	if sameRefs(want, got) {
		return nil
	}
	known := map[string]bool{}
	for _, r := range want {
		known[r.ID] = true
	}
	var extra []string
	rest := make([]pagecontent.Ref, 0, len(got))
	for _, r := range got {
		if known[r.ID] {
			rest = append(rest, r)
		} else {
			extra = append(extra, r.ID)
		}
	}
	if known[""] || !sameRefs(want, rest) {
		return e.forgetBody(ctx, cl, log, "it differs from the body recorded")
	}
	log.Warn("deleting blocks of a row's body that its record does not name: a body write its writer gave up on landed after another writer wrote the body", "page_id", cur.Entry.PageID, "blocks", len(extra))
	for _, id := range extra {
		if err := cl.check(); err != nil {
			return err
		}
		cl.wrote()
		if _, err := e.notion.DeleteBlock(cl.ctx, id); err != nil && !notion.IsNotFound(err) && !notion.IsArchived(err) {
			return fmt.Errorf("delete block %s of page %s: %w", id, cur.Entry.PageID, cl.lostErr(err))
		}
	}
	return nil
}

// forgetBody makes the row's next write rewrite it whole, its body read
// back from Notion first (see checkBody).
func (e *Engine) forgetBody(ctx context.Context, cl *keyClaim, log *slog.Logger, why string) error {
	log.Warn("the body of a row in Notion may hold a late write its writer gave up on ("+why+"); the row's next write rewrites it whole", "page_id", cl.state.Entry.PageID)
	next := cl.state.Entry
	next.Hash = ""
	_, err := cl.commitBody(ctx, &next, rdb.BodyForget)
	return err
}

// sameRefs says whether two bodies have the same top-level blocks, in
// order; a block whose id a record does not know (written with a page
// create) matches by hash.
func sameRefs(want, got []pagecontent.Ref) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i].Hash != got[i].Hash || want[i].ID != "" && want[i].ID != got[i].ID {
			return false
		}
	}
	return true
}

// pagesOfKey returns the live pages whose primary key is key (one query;
// a key has at most a few).
func (e *Engine) pagesOfKey(ctx context.Context, ids rdb.DatabaseIDs, db, key string) ([]string, error) {
	d := e.set.Databases[db]
	filter := notion.TextEquals(d.PrimaryKey, string(d.Schema[d.PrimaryKey].Type), key)
	list, err := e.notion.QueryDataSource(ctx, ids.DataSourceID, notion.QueryRequest{Filter: filter, PageSize: 100})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list.Results))
	for _, p := range list.Results {
		if !p.InTrash && !p.Archived {
			out = append(out, p.ID)
		}
	}
	return out, nil
}
