package synq

import (
	"fmt"
	"time"
)

// RateLimitError is returned from Execute when the upstream API asked to
// wait (a 429 with Retry-After, say). The page is retried after
// max(RetryAfter, the retry backoff), and the attempt is not held against
// the sync's health beyond the retry.
type RateLimitError struct {
	RetryAfter time.Duration
	// Err is the upstream's error, if any.
	Err error
}

func (e *RateLimitError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("upstream rate limited, retry after %v: %v", e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("upstream rate limited, retry after %v", e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// RetryAfterDuration lets the executor's retry policy honour RetryAfter.
func (e *RateLimitError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// PanicError is a panic in Execute, recovered and turned into an error
// so the page is retried like any other failure.
type PanicError struct {
	Sync  string
	Value any
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("sync %q: Execute panicked: %v", e.Sync, e.Value)
}

// StateError is a stored state that no longer decodes into the sync's state
// type, typically after a deploy changed the type.
type StateError struct {
	Sync string
	Err  error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("sync %q: stored state does not decode into the state type (%v): fix the type or reset the state with `ctl state reset %s`", e.Sync, e.Err, e.Sync)
}

func (e *StateError) Unwrap() error { return e.Err }

// ChangeError is a malformed change returned by Execute.
type ChangeError struct {
	Sync  string
	Index int
	Key   string
	Err   error
}

func (e *ChangeError) Error() string {
	return fmt.Sprintf("sync %q: change %d (key %q): %v", e.Sync, e.Index, e.Key, e.Err)
}

func (e *ChangeError) Unwrap() error { return e.Err }

// Permanent is true: the same Execute output is malformed again on every
// retry, so the page fails at once.
func (e *ChangeError) Permanent() bool { return true }

func (e *StateError) Permanent() bool { return true }
