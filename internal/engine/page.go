package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

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
	counters, seen, err := e.applyRows(ctx, s.Key, rows, log)
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
	if s.Mode == spec.Replace {
		c.Seen = seen
		if final {
			n, err := e.sweep(ctx, s, seen, cycleStart, log)
			if err != nil {
				return PageResult{}, err
			}
			counters[string(Trashed)] += n
			c.Mode, c.State, c.EndCycle = rdb.StateReset, nil, true
		}
	}
	committed, err := e.rdb.CommitPage(ctx, c)
	if err != nil {
		return PageResult{}, err
	}
	if !committed {
		// Another delivery of this page committed while we ran it; our
		// writes were idempotent upserts of the same content.
		return PageResult{AlreadyCommitted: true, HasMore: page.HasMore}, nil
	}
	return PageResult{HasMore: page.HasMore, Counters: counters, Changes: len(page.Changes)}, nil
}

// execute calls the user's Execute with a deadline and the context user
// code expects (logger, pacers).
func (e *Engine) execute(ctx context.Context, s *spec.Sync, req PageRequest, state json.RawMessage, log *slog.Logger) (spec.Page, error) {
	ectx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	ectx = spec.WithExec(ectx, &spec.Exec{Sync: s.Key, Run: req.Run, Page: req.Page, Logger: log, Pacers: req.Pacers})
	page, err := s.Execute(ectx, state)
	if err != nil {
		if ectx.Err() != nil && ctx.Err() == nil {
			return spec.Page{}, fmt.Errorf("sync %q: Execute did not return within its timeout %v: %w", s.Key, s.Timeout, err)
		}
		return spec.Page{}, fmt.Errorf("sync %q: Execute: %w", s.Key, err)
	}
	return page, nil
}

// sweep trashes, after the final page of a replace cycle, the rows of the
// sync's database that the cycle did not see. Rows written after the cycle
// began are kept: another sync sharing the database wrote them.
func (e *Engine) sweep(ctx context.Context, s *spec.Sync, finalSeen []string, cycleStart int64, log *slog.Logger) (int64, error) {
	seen, err := e.rdb.Seen(ctx, s.Key)
	if err != nil {
		return 0, err
	}
	for _, m := range finalSeen {
		seen[m] = struct{}{}
	}
	if _, err := e.database(ctx, s.Database); err != nil {
		return 0, err
	}
	if ok, err := e.sweepable(ctx, s, log); err != nil || !ok {
		return 0, err
	}
	type victim struct{ key, page string }
	var victims []victim
	err = e.rdb.IndexScan(ctx, s.Database, func(key string, en rdb.IndexEntry) error {
		if _, ok := seen[rdb.SeenMember(s.Database, key)]; !ok && en.Written < cycleStart {
			victims = append(victims, victim{key, en.PageID})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range victims {
		if err := e.trash(ctx, s.Database, v.key, v.page); err != nil {
			return n, fmt.Errorf("sync %q: trash row %q not seen in the cycle: %w", s.Key, v.key, err)
		}
		n++
	}
	if n > 0 {
		log.Info("trashed rows not seen in the replace cycle", "database", s.Database, "rows", n)
	}
	return n, nil
}
