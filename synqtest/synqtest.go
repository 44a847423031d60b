// Package synqtest tests syncs: one Execute offline, checked as an
// executor checks it, or whole runs against a throwaway Redis and an
// in-process Notion emulator, with the rows as Notion then holds them.
//
// Execute calls a sync's Execute once, from a state, and checks every
// change with the validation an executor applies before it writes
// anything (the same code): the database schema, Notion's limits (2000
// characters per text item, 100 items per list, 500 KB per row), page
// content converted from Markdown. It needs nothing installed:
//
//	page := synqtest.Execute(t, w, "ticketsDelta", &DeltaState{Since: t0})
//	if len(page.Changes) != 2 || page.Changes[0].Properties["Status"] != "open" { … }
//
// Run runs whole runs of a sync — every page, the replace sweep, relations
// resolved and filled in, incremental state carried from run to run —
// against a private redis-server and the Notion emulator synq's own tests
// use, and returns the rows of the sync's database (and of every other)
// as Notion holds them:
//
//	res := synqtest.Run(t, w, "ticketsBackfill")
//	if got := res.Rows["T-1"].Properties["Status"]; got != "open" { … }
//
// NewEnv keeps one Redis and one emulator for several runs, of one sync or
// several (a sync that relates to rows another sync writes; an
// incremental sync run again after the upstream changed):
//
//	env := synqtest.NewEnv(t, w)
//	env.Run("customersSync")
//	env.Run("ticketsDelta")
//	api.UpdateTicket("T-1", …)
//	res := env.Run("ticketsDelta")
//
// Run and NewEnv need redis-server on PATH (or REDIS_SERVER_BIN); without
// it they fail the test with how to install it, never skip it.
//
// # Values
//
// Properties hold plain Go values, one Go type per property type:
//
//	title, rich text, select, status,   string ("" when empty)
//	url, email, phone number
//	number                              float64, nil when empty (compare with 3.0, not 3)
//	checkbox                            bool
//	multi-select                        []string of option names
//	people                              []string of emails
//	relation                            []string of the related rows' primary keys
//	date                                builder.DateValue, nil when empty
//	files                               []builder.FileValue
//	place                               builder.PlaceValue, nil when empty
//
// Lists are never nil: an empty one is a list of length 0. Text is plain
// (links and styles left out); a row's page body (Row.Content) is
// Markdown in one spelling: "-" bullets, "**bold**", "*italic*", fenced
// code with its language.
//
// # What differs from an executor
//
// Runs happen in the test's goroutine, one page after the other, without
// the task queue, the scheduler or run records. A page that fails is
// retried at once, up to the sync's MaxAttempts, without the executor's
// backoff and without waiting a RateLimitError's RetryAfter; an error that
// retrying cannot fix (an invalid change, Notion's 400) fails the run at
// once, as on an executor. Notion calls are not paced, and pacers wait
// only on their own budget (Pacer.Wait outside an executor).
package synqtest

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TB is what synqtest needs of a test: *testing.T, *testing.B and
// *testing.F are TBs (so is testing.TB).
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

var _ TB = testing.TB(nil)

// logger returns a logger whose lines go to tb.Logf until tb's cleanups
// have run: a line logged after that (by an Execute left running past its
// timeout) is dropped rather than failing the test binary.
func logger(tb TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.close) // registered first: runs after every other cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct {
	mu     sync.Mutex
	tb     TB
	closed bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.tb.Logf("%s", strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
