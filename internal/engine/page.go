package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// PageRequest names one page of one run.
type PageRequest struct {
	Sync string
	Run  string
	Page int
	// Logger receives the page's platform and user log lines; default the
	// engine's logger.
	Logger *slog.Logger
	// Pacers is passed to user code for SDK pacer handles (nil: local).
	Pacers spec.PacerWaiter
	// AllowTrash lifts the deletion guard for this run (ctl trigger
	// --allow-trash).
	AllowTrash bool
	// Commit, when set, commits the page instead of a plain commit: the
	// runtime moves the run on in the same step (internal/runs). end says
	// how the run ends if this page is its last.
	Commit func(ctx context.Context, c rdb.Commit, end RunEnd) (rdb.CommitResult, error)
	// Attempt identifies this delivery of the page (the task id and its
	// retry count): key claims taken under it are this attempt's own, and a
	// claim an earlier try of the same attempt left behind in a Redis
	// outage is taken over at once instead of waited out. "" (tests,
	// RunCycle) never takes one over.
	Attempt string
	// BeginSweep, when set, is asked before the final page of a replace
	// cycle trashes rows. false (the run was cancelled meanwhile) skips
	// the sweep and keeps the cycle open: the next run resumes it.
	BeginSweep func(ctx context.Context) (bool, error)
	// Fence, when set, is asked after Execute and before the page's first
	// Notion write: an error (the attempt's fencing token is stale: the
	// run was cancelled and another started, the state was reset, a newer
	// attempt took the page over) ends the page without writing anything.
	Fence func(ctx context.Context) error
}

// RunEnd is how a run ends when its final page commits.
type RunEnd struct {
	Status  string // rdb.RunSucceeded or rdb.RunWarning
	Message string
}

// PageResult is what running a page did.
type PageResult struct {
	// AlreadyCommitted means the page had been committed before (a
	// redelivered task): nothing was called or written.
	AlreadyCommitted bool
	// HasMore says whether page+1 must run.
	HasMore  bool
	Counters Counters
	Changes  int
	// Commit is what the commit did (the next task, park, end).
	Commit rdb.CommitResult
	// Held is set when the deletion guard kept the final sweep from
	// trashing rows; it says why.
	Held string
	// SweepSkipped is set when the run was cancelled before its final
	// sweep: nothing was trashed and the cycle stays open.
	SweepSkipped bool
}

// RunPage runs one page of a run: Execute from the committed state,
// validate, apply, commit. A page already committed does nothing and
// reports the HasMore it committed, so the caller can make sure the next
// task exists. Errors are returned for the caller to retry the page;
// ValidationError (IsValidation) fails it for good.
func (e *Engine) RunPage(ctx context.Context, req PageRequest) (PageResult, error) {
	s, err := e.sync(req.Sync)
	if err != nil {
		return PageResult{}, err
	}
	log := req.Logger
	if log == nil {
		log = e.log.With("sync", req.Sync, "run", req.Run, "page", req.Page)
	}
	// The page's Notion calls name the sync too: the pacer splits the
	// token's budget between the syncs writing at once.
	ctx = spec.WithExec(ctx, &spec.Exec{Sync: s.Key, Run: req.Run, Page: req.Page, Logger: log})
	ctx = withAttempt(ctx, req.Attempt)
	st, err := e.rdb.GetSync(ctx, req.Sync)
	if err != nil {
		return PageResult{}, err
	}
	if st.Run == req.Run && st.RunPages > req.Page {
		more := st.RunMore || st.RunPages > req.Page+1
		return PageResult{AlreadyCommitted: true, HasMore: more}, nil
	}
	if (st.Run == req.Run && st.RunPages != req.Page) || (st.Run != req.Run && req.Page != 0) {
		return PageResult{}, fmt.Errorf("sync %q: run %s page %d arrived out of order (committed: run %s, %d pages): %w", req.Sync, req.Run, req.Page, st.Run, st.RunPages, rdb.ErrOutOfOrder)
	}
	// A sync without committed state is on its first run, or Redis lost it.
	ctx, _ = withPageInfo(ctx, st.Run == "" && st.State == nil, log)
	var cycleStart int64
	if s.Mode == spec.Replace {
		t, err := e.rdb.BeginCycle(ctx, req.Sync) // the Redis server's clock
		if err != nil {
			return PageResult{}, err
		}
		cycleStart = t.UnixNano()
	}

	page, err := e.execute(ctx, s, req, st.State, log)
	if err != nil {
		return PageResult{}, err
	}
	rows, err := prepare(e.set, s, page.Changes)
	if err != nil {
		return PageResult{}, err
	}
	if req.Fence != nil {
		// Execute may have run for minutes: whoever took the page over
		// since must not find this attempt's older values written over
		// theirs.
		if err := req.Fence(ctx); err != nil {
			return PageResult{}, err
		}
	}
	counters, seen, err := e.applyRows(ctx, s.Key, req.Run, rows, log)
	if err != nil {
		return PageResult{}, err
	}
	if err := e.settleRelations(ctx, s, rows, !page.HasMore, log, counters); err != nil {
		log.Warn("could not settle relations waiting for rows; they stay waiting", "err", err)
	}
	final := !page.HasMore
	c := rdb.Commit{Sync: req.Sync, Run: req.Run, Page: req.Page, HasMore: page.HasMore, Counters: counters, Mode: rdb.StateKeep}
	if page.NextState != nil {
		c.Mode, c.State = rdb.StateSet, page.NextState
	}
	out := PageResult{HasMore: page.HasMore, Counters: counters, Changes: len(page.Changes)}
	end := RunEnd{Status: rdb.RunSucceeded}
	if s.Mode == spec.Replace {
		c.Seen = seen
		if final {
			sweep := true
			if req.BeginSweep != nil {
				if sweep, err = req.BeginSweep(ctx); err != nil {
					return PageResult{}, err
				}
			}
			if sweep {
				n, held, err := e.sweep(ctx, s, seen, cycleStart, req.AllowTrash, log)
				if err != nil {
					return PageResult{}, err
				}
				counters[string(Trashed)] += n
				if held != "" {
					out.Held, end = held, RunEnd{Status: rdb.RunWarning, Message: held}
				}
				c.Mode, c.State, c.EndCycle = rdb.StateReset, nil, true
			} else {
				out.SweepSkipped = true
				log.Info("the run was cancelled before its final sweep: nothing is trashed, and the next run resumes this cycle")
			}
		}
	}
	var res rdb.CommitResult
	if req.Commit != nil {
		res, err = req.Commit(ctx, c, end)
	} else {
		res, err = e.rdb.CommitPage(ctx, c)
	}
	if err != nil {
		return PageResult{}, err
	}
	if !res.Committed {
		// Another delivery of this page committed while we ran it; our
		// writes were idempotent upserts of the same content.
		return PageResult{AlreadyCommitted: true, HasMore: page.HasMore}, nil
	}
	out.Commit = res
	return out, nil
}

// executeGrace is how long Execute may keep running after its deadline
// before the page stops waiting for it.
const executeGrace = 5 * time.Second

// execute calls the user's Execute for a page of a run (see Execute).
func (e *Engine) execute(ctx context.Context, s *spec.Sync, req PageRequest, state json.RawMessage, log *slog.Logger) (spec.Page, error) {
	return Execute(ctx, s, spec.Exec{Sync: s.Key, Run: req.Run, Page: req.Page, Logger: log, Pacers: req.Pacers}, state)
}

// Execute calls the user's Execute of s from state with the sync's
// Timeout and the context user code expects (x: its logger, its pacers),
// as every page of a run and every preview does; synqtest calls it too.
// An Execute that ignores its context and runs past its deadline is
// abandoned (its goroutine runs on, its result is dropped): it must not
// hold a page slot for the task's whole lease.
func Execute(ctx context.Context, s *spec.Sync, x spec.Exec, state json.RawMessage) (spec.Page, error) {
	ectx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	ectx = spec.WithExec(ectx, &x)
	type result struct {
		page spec.Page
		err  error
	}
	done := make(chan result, 1)
	go func() {
		page, err := s.Execute(ectx, state)
		done <- result{page, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ectx.Done():
		grace := time.NewTimer(executeGrace)
		defer grace.Stop()
		select {
		case r = <-done:
		case <-grace.C:
			if ctx.Err() != nil {
				return spec.Page{}, fmt.Errorf("sync %q: Execute: %w", s.Key, ctx.Err())
			}
			return spec.Page{}, fmt.Errorf("sync %q: Execute did not return within its timeout %v and ignored its context's cancellation for %v: make Execute return when ctx is done (pass ctx to every call), or raise Timeout: %w",
				s.Key, s.Timeout, executeGrace, context.DeadlineExceeded)
		}
	}
	if r.err != nil {
		if ectx.Err() != nil && ctx.Err() == nil {
			return spec.Page{}, fmt.Errorf("sync %q: Execute did not return within its timeout %v: %w", s.Key, s.Timeout, r.err)
		}
		return spec.Page{}, fmt.Errorf("sync %q: Execute: %w", s.Key, r.err)
	}
	return r.page, nil
}

// sweep trashes, after the final page of a replace cycle, the rows of the
// sync's database that the cycle did not see. Rows written after the cycle
// began are kept: another sync sharing the database wrote them.
//
// The deletion guard: a cycle that would trash more than the sync's
// MaxTrashFraction of the database's rows (above spec.GuardMinRows rows)
// trashes nothing, unless the run allows it. An empty or truncated
// upstream answer must never wipe a database people have annotated. held
// says why the guard held the sweep back ("" when it did not).
func (e *Engine) sweep(ctx context.Context, s *spec.Sync, finalSeen []string, cycleStart int64, allowTrash bool, log *slog.Logger) (n int64, held string, err error) {
	seen, err := e.rdb.Seen(ctx, s.Key)
	if err != nil {
		return 0, "", err
	}
	for _, m := range finalSeen {
		seen[m] = struct{}{}
	}
	if _, err := e.database(ctx, s.Database); err != nil {
		return 0, "", err
	}
	if ok, err := e.sweepable(ctx, s, log); err != nil || !ok {
		return 0, "", err
	}
	type victim struct{ key, page string }
	var victims []victim
	rows := 0
	err = e.rdb.IndexScan(ctx, s.Database, func(key string, en rdb.IndexEntry) error {
		rows++
		if _, ok := seen[rdb.SeenMember(s.Database, key)]; !ok && en.Written < cycleStart {
			victims = append(victims, victim{key, en.PageID})
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	if frac := s.TrashFraction(); len(victims) > 0 && rows > spec.GuardMinRows && float64(len(victims)) > frac*float64(rows) {
		msg := fmt.Sprintf("deletion guard: this replace cycle of sync %q would trash %d of the %d rows of database %q (%.0f%%, over its MaxTrashFraction of %.0f%%), so it trashed none. If the upstream really lost those rows, run `ctl trigger %s --allow-trash` (for one run) or raise the sync's MaxTrashFraction; if not, check the upstream (an outage answered with an empty list, an expired token)",
			s.Key, len(victims), rows, s.Database, 100*float64(len(victims))/float64(rows), 100*frac, s.Key)
		if !allowTrash {
			log.Warn(msg, "would_trash", len(victims), "rows", rows)
			return 0, msg, nil
		}
		log.Warn("deletion guard lifted for this run (--allow-trash): trashing the rows the cycle did not see", "would_trash", len(victims), "rows", rows)
	}
	for _, v := range victims {
		trashed, err := e.sweepRow(ctx, s.Database, v.key, cycleStart, log)
		if err != nil {
			return n, "", fmt.Errorf("sync %q: trash row %q not seen in the cycle: %w", s.Key, v.key, err)
		}
		if trashed {
			n++
		}
	}
	if n > 0 {
		log.Info("trashed rows not seen in the replace cycle", "database", s.Database, "rows", n)
	}
	return n, "", nil
}

// sweepRow trashes a row the cycle did not see, under the key's claim: a
// writer that wrote the row since the scan (another sync sharing the
// database) keeps it.
func (e *Engine) sweepRow(ctx context.Context, db, key string, cycleStart int64, log *slog.Logger) (bool, error) {
	cl, err := e.claimKey(ctx, db, key, false, log)
	if err != nil {
		return false, err
	}
	defer cl.release()
	cur := cl.state.RowState
	if !cur.Known || cur.Entry.Written >= cycleStart {
		return false, nil
	}
	if err := e.trashPage(ctx, cur.Entry.PageID, cl, log); err != nil {
		return false, err
	}
	_, err = cl.commit(ctx, nil)
	return err == nil, err
}
