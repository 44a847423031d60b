package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
)

// Key claims fence Notion writes (docs/state_machine.md, "Key claims").
//
// A writer holds a key's claim while it writes the key's row. The claim
// has a context (keyClaim.ctx) that every Notion call made under it uses;
// the keep-alive cancels it the moment the claim is lost — another writer
// claimed the key, or the claim could not be renewed (Redis unreachable)
// before it would have expired — so the request in flight is cancelled
// with it. Before each create, update, trash and body write the claim is
// validated and renewed in one script call (check); the commit of the
// row's index entry checks it too and refuses a writer whose claim is no
// longer its own. A refused writer discards its work: a page it created
// that the index does not name is trashed (or, when the index names no
// page yet, left to a doubt check), one line says why, and the row is
// decided again under a fresh claim.
//
// A claim is its own holder's as long as no other writer claimed the key
// since: one that merely expired (a slow write, a short outage) is renewed
// by the next check. A claim token is "<engine>/<attempt>#<n>" for a page
// attempt: an earlier claim of the same attempt that a Redis outage left
// behind is taken over at once, not waited out.

// errClaimLost marks a write refused or cancelled because the writer's
// claim on the key is no longer its own.
var errClaimLost = errors.New("lost the claim on the key")

// attemptKey carries a page attempt's identity (PageRequest.Attempt).
type attemptKey struct{}

// withAttempt names the page attempt the claims taken under ctx belong to.
func withAttempt(ctx context.Context, attempt string) context.Context {
	if attempt == "" {
		return ctx
	}
	return context.WithValue(ctx, attemptKey{}, attempt)
}

// claimToken is a new claim token for a writer under ctx: the engine, the
// page attempt (when ctx names one) and a sequence number.
func (e *Engine) claimToken(ctx context.Context) string {
	seq := strconv.FormatInt(e.claims.Add(1), 36)
	if a, _ := ctx.Value(attemptKey{}).(string); a != "" {
		return e.token + "/" + a + "#" + seq
	}
	return e.token + ":" + seq
}

// claimMargin is how long before its expiry a claim that could not be
// renewed is given up: the local clock measures from the renewal's
// sending, which is before Redis set the expiry, so this only absorbs
// clock rate differences.
func claimMargin(ttl time.Duration) time.Duration { return ttl / 10 }

// keyClaim is one writer's hold on one key: while it holds it, no other
// writer writes the key's row to Notion or its index entry. The claim
// expires after ClaimTTL (a crashed writer frees the key) and is kept
// alive while a write takes longer (pacer waits, Retry-After, retries).
type keyClaim struct {
	e        *Engine
	db, key  string
	token    string
	state    rdb.RowClaim
	intended bool // the claim recorded a create intent
	// tomb is the tombstone a commit deleting the entry keeps (an
	// explicit delete: the row's newest upstream time; 0: none).
	tomb int64
	log  *slog.Logger

	// ctx is the writer's context for its Notion calls: cancelled, with
	// the reason, when the claim is lost.
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu sync.Mutex
	// until is when the claim may expire, by the local clock: the last
	// renewal's sending plus the TTL, less a margin.
	until time.Time
	lost  bool

	stop       chan struct{}
	done       sync.WaitGroup
	finished   bool // keep-alive stopped
	released   bool // the claim was freed (by commit)
	createSent bool // a create was sent: its intent must stay until settled
	// sent says a Notion write of the key went out under this claim: a
	// claim freed without committing it keeps its fencing record.
	sent bool
	// created is the page a create of this writer made.
	created string
	// resent says a create was sent again after one whose outcome was
	// unknown: the first may still land.
	resent bool
	// redo is the update this writer sent, kept for a doubt check.
	redo *redo
	// bodyInFlight says the key's last writer never finished and had
	// marked a body write: a block write of it may still land.
	bodyInFlight bool
}

// claimKey takes the claim of db/key, waiting while another writer holds
// it, and returns it with the key's entry as it is now.
func (e *Engine) claimKey(ctx context.Context, db, key string, intendCreate bool, log *slog.Logger) (*keyClaim, error) {
	token := e.claimToken(ctx)
	for {
		sent := time.Now()
		st, err := e.rdb.ClaimRow(ctx, db, key, token, e.cfg.ClaimTTL, intendCreate)
		if err != nil {
			return nil, err
		}
		if st.Got {
			cctx, cancel := context.WithCancelCause(ctx)
			cl := &keyClaim{e: e, db: db, key: key, token: token, state: st, log: log, stop: make(chan struct{}),
				intended: intendCreate && !st.Known && !st.Intent, ctx: cctx, cancel: cancel,
				bodyInFlight: st.Dirty && st.Entry.Body.Writing,
				until:        sent.Add(e.cfg.ClaimTTL - claimMargin(e.cfg.ClaimTTL))}
			if st.TakenOver {
				log.Info("took over this page attempt's own claim on a key, left behind by a Redis outage", "database", db, "key", key)
			}
			cl.done.Add(1)
			go cl.keepAlive()
			return cl, nil
		}
		// Another writer holds the key; its claim lasts while it writes.
		if err := sleep(ctx, 20*time.Millisecond+rand.N(30*time.Millisecond)); err != nil {
			return nil, fmt.Errorf("waiting for another writer of the key: %w", err)
		}
	}
}

// renewed records a renewal sent at sent.
func (cl *keyClaim) renewed(sent time.Time) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if u := sent.Add(cl.e.cfg.ClaimTTL - claimMargin(cl.e.cfg.ClaimTTL)); u.After(cl.until) {
		cl.until = u
	}
}

func (cl *keyClaim) deadline() time.Time {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.until
}

// lose cancels the writer's context with why (once) and logs it.
func (cl *keyClaim) lose(why error) error {
	cl.mu.Lock()
	first := !cl.lost
	cl.lost = true
	cl.mu.Unlock()
	if first {
		cl.cancel(why)
		cl.log.Warn("lost the claim on a key while writing it: its Notion request is cancelled and its write discarded", "database", cl.db, "key", cl.key, "why", why)
	}
	return context.Cause(cl.ctx)
}

// keepAlive renews the claim every third of its TTL and cancels the
// writer's context when it is lost: another writer claimed the key, or it
// could not be renewed before it would expire.
func (cl *keyClaim) keepAlive() {
	defer cl.done.Done()
	ttl := cl.e.cfg.ClaimTTL
	t := time.NewTimer(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-cl.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		// A renewal stuck on an unreachable Redis gives up when the claim
		// may expire.
		rctx, cancel := context.WithDeadline(context.WithoutCancel(cl.ctx), cl.deadline())
		ok, err := cl.e.rdb.ExtendClaim(rctx, cl.db, cl.key, cl.token, ttl)
		cancel()
		switch {
		case err == nil && ok:
			cl.renewed(sent)
			t.Reset(ttl / 3)
		case err == nil:
			cl.lose(fmt.Errorf("%w: another writer claimed the key (this one stalled for longer than the claim's TTL, %v)", errClaimLost, ttl))
			return
		case !time.Now().Before(cl.deadline()):
			cl.lose(fmt.Errorf("%w: it could not be renewed before it expired: %w", errClaimLost, err))
			return
		default:
			t.Reset(min(ttl/10, time.Until(cl.deadline())))
		}
	}
}

// check validates and renews the claim immediately before a Notion write
// (one script call): an error means the write must not be sent.
func (cl *keyClaim) check() error {
	if cl.ctx.Err() != nil {
		return context.Cause(cl.ctx)
	}
	sent := time.Now()
	ok, err := cl.e.rdb.ExtendClaim(cl.ctx, cl.db, cl.key, cl.token, cl.e.cfg.ClaimTTL)
	if err != nil {
		if cl.ctx.Err() != nil {
			return context.Cause(cl.ctx)
		}
		return err
	}
	if !ok {
		return cl.lose(fmt.Errorf("%w: another writer claimed the key", errClaimLost))
	}
	cl.renewed(sent)
	return nil
}

// wrote marks a Notion write as sent under the claim (after check).
func (cl *keyClaim) wrote() { cl.sent = true }

// lostErr is err, or the reason the claim was lost when that is why err
// happened (a request cancelled with the claim's context).
func (cl *keyClaim) lostErr(err error) error {
	if err == nil || cl.ctx.Err() == nil || errors.Is(err, errClaimLost) {
		return err
	}
	return fmt.Errorf("%w (%w)", context.Cause(cl.ctx), err)
}

func (cl *keyClaim) stopKeepAlive() {
	if !cl.finished {
		cl.finished = true
		close(cl.stop)
		cl.done.Wait()
	}
}

// commit is commitBody leaving the row's body record as it is (dropped
// with the entry when next is nil).
func (cl *keyClaim) commit(ctx context.Context, next *rdb.IndexEntry) (rdb.RowState, error) {
	return cl.commitBody(ctx, next, rdb.BodyKeep)
}

// doubt is the doubt the commit records about the key: a create sent
// while an earlier create's outcome was in doubt (an intent this writer
// did not find in Notion, or its own create sent again), or any write
// over a claim whose last holder never finished (it may still land) —
// with its body checked when that holder had a body write in flight.
func (cl *keyClaim) doubt() *rdb.Doubt {
	create := cl.createSent && (cl.state.Intent || cl.resent || cl.state.Dirty)
	dirty := cl.state.Dirty && cl.sent
	if !create && !dirty {
		return nil
	}
	d := &rdb.Doubt{Create: create || (dirty && !cl.state.Known), Body: dirty && cl.bodyInFlight, Delay: cl.e.cfg.DoubtFirst}
	if cl.redo != nil {
		d.Redo, _ = json.Marshal(cl.redo)
	}
	return d
}

// commitBody stores the key's new entry (nil: the row is gone) and does
// body to its body record, clears its create intent and releases the
// claim, in one round trip, fenced: the claim must still be this
// writer's. The entry was read under the claim, so the compare holds
// unless something outside the write path changed it (an index rebuild);
// then the entry is merged: the newest upstream time wins and the content
// hash is forgotten, so the next upsert rewrites the row, and the body
// record is forgotten, so the next body write reads the body back first.
// A writer whose claim is no longer its own stores nothing (discard) and
// returns an error wrapping errClaimLost.
func (cl *keyClaim) commitBody(ctx context.Context, next *rdb.IndexEntry, body rdb.BodyOp) (rdb.RowState, error) {
	cl.stopKeepAlive()
	if next != nil {
		n := *next
		n.Body = body.After(cl.state.Entry.Body)
		next = &n
	}
	// The Notion write is done: record it even if ctx ended meanwhile.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	expected := cl.state.RowState
	d := cl.doubt()
	for range 5 {
		tomb := int64(0)
		if next == nil {
			tomb = cl.tomb
		}
		res, err := cl.e.rdb.CommitRow(cctx, cl.db, cl.key, expected, next, cl.token, body, tomb, d)
		if err != nil {
			return expected, err
		}
		if res.OK {
			cl.released = true
			cl.state.RowState = rdb.RowState{}
			if next != nil {
				cl.state.RowState = rdb.RowState{Entry: *next, Known: true}
			}
			return cl.state.RowState, nil
		}
		if res.Stale {
			return res.Current, cl.discard(cctx, res.Current)
		}
		expected = res.Current
		if next != nil {
			merged := *next
			merged.Hash = ""
			merged.Body = rdb.BodyState{}
			body = rdb.BodyForget
			if expected.Known {
				merged.Upstream = max(merged.Upstream, expected.Entry.Upstream)
			}
			next = &merged
		}
	}
	return expected, fmt.Errorf("database %q: key %q: the index entry kept changing under the key's claim", cl.db, cl.key)
}

// discard drops the work of a writer whose claim is no longer its own:
// the index is left to the writer that holds the key now. A page this
// writer created that the index names another page instead of is trashed;
// when the index names no page yet (the other writer is still writing),
// the key is left in doubt, so a check trashes whichever page the index
// does not name once it does.
func (cl *keyClaim) discard(ctx context.Context, cur rdb.RowState) error {
	cl.released = true // nothing of ours to free: the claim is another's
	why := fmt.Errorf("%w: another writer claimed the key while this one wrote it; this write is discarded", errClaimLost)
	if cl.created == "" {
		cl.log.Warn("discarding a write: another writer claimed the key while this one wrote it", "database", cl.db, "key", cl.key)
		return why
	}
	switch {
	case cur.Known && cur.Entry.PageID == cl.created:
		cl.log.Warn("discarding a write: another writer claimed the key and kept the page this one created", "database", cl.db, "key", cl.key, "page_id", cl.created)
	case cur.Known:
		cl.log.Warn("discarding a write: another writer claimed the key and wrote it to another page; trashing the page this one created", "database", cl.db, "key", cl.key, "page_id", cl.created, "index_page_id", cur.Entry.PageID)
		if err := cl.e.trashPage(ctx, cl.created, nil, cl.log); err != nil {
			return errors.Join(why, fmt.Errorf("trash page %s: %w", cl.created, err))
		}
	default:
		cl.log.Warn("discarding a write: another writer claimed the key before this one recorded the page it created; the key is checked again once that writer is done", "database", cl.db, "key", cl.key, "page_id", cl.created)
		if err := cl.e.rdb.AddDoubt(ctx, cl.db, cl.key, rdb.Doubt{Create: true, Delay: cl.e.cfg.DoubtFirst}); err != nil {
			return errors.Join(why, err)
		}
	}
	return why
}

// release frees the claim of a writer that wrote nothing (or failed),
// and forgets the create intent it recorded if no create was sent. A
// writer that sent a Notion write it did not commit keeps the claim's
// fencing record: the next writer of the key knows that write may land.
func (cl *keyClaim) release() {
	cl.stopKeepAlive()
	cl.cancel(context.Canceled)
	if cl.released {
		return
	}
	cl.released = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cl.intended && !cl.createSent {
		_ = cl.e.rdb.ClearIntent(ctx, cl.db, cl.key)
	}
	_ = cl.e.rdb.ReleaseClaim(ctx, cl.db, cl.key, cl.token, cl.sent || (cl.state.Dirty && !cl.sent))
}

// redo is a row's newest update as its writer sent it, for a doubt check
// to send again while the index still names it.
type redo struct {
	Page       string                          `json:"p"`
	Hash       string                          `json:"h,omitempty"`
	Properties map[string]notion.PropertyValue `json:"q,omitempty"`
	Icon       *notion.Icon                    `json:"i,omitempty"`
	ClearIcon  bool                            `json:"ci,omitempty"`
	Cover      *notion.Icon                    `json:"c,omitempty"`
	ClearCover bool                            `json:"cc,omitempty"`
}

func (r *redo) request() notion.UpdatePageRequest {
	return notion.UpdatePageRequest{Properties: r.Properties, Icon: r.Icon, ClearIcon: r.ClearIcon, Cover: r.Cover, ClearCover: r.ClearCover}
}
