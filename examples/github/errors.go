package ghissues

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/synqhq/synq"
)

const (
	// defaultRateLimitWait is how long to wait when GitHub says "slow down"
	// without saying for how long: GitHub's documentation asks for at least
	// a minute.
	defaultRateLimitWait = time.Minute
	// resetSlack pads a wait until X-RateLimit-Reset, which GitHub gives in
	// whole seconds by its own clock, so the retry lands after the reset
	// rather than just before it.
	resetSlack = time.Second
	// minRateLimitWait keeps a reset that, by our clock, has already passed
	// from turning into an immediate retry.
	minRateLimitWait = time.Second
)

// explain turns a failed listing into the error Execute returns: a
// *synq.RateLimitError when GitHub asked to wait, so the executor retries the
// page after the wait, and otherwise the error wrapped with what to check.
func (s *issuesSync) explain(err error, page int) error {
	what := fmt.Sprintf("github issues: list issues of %s/%s, page %d", s.owner, s.repo, max(page, 1))
	if wait, ok := rateLimitWait(err, time.Now()); ok {
		return &synq.RateLimitError{RetryAfter: wait, Err: fmt.Errorf("%s: %w", what, err)}
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		if hint := s.hint(er.Response.StatusCode); hint != "" {
			return fmt.Errorf("%s: %w: %s", what, err, hint)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// hint says what to do about an HTTP status GitHub answered the listing with.
func (s *issuesSync) hint(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "GitHub rejected the token: check that GITHUB_TOKEN (Config.Token) is valid and not expired"
	case status == http.StatusForbidden:
		return fmt.Sprintf("the token may not read issues of %s/%s: give it read access to the repository's issues", s.owner, s.repo)
	case status == http.StatusNotFound:
		return fmt.Sprintf("check the repository name %s/%s; a private repository also needs a token with access to it", s.owner, s.repo)
	case status == http.StatusGone:
		return fmt.Sprintf("issues are disabled on %s/%s: enable them in the repository's settings or remove this sync", s.owner, s.repo)
	case status >= 500:
		return "GitHub failed to answer; the page is retried"
	}
	return ""
}

// rateLimitWait reports whether err is GitHub rate limiting and how long it
// asked to wait. GitHub signals its limits in several ways, and go-github
// types only some of them:
//
//   - the primary limit (requests per hour) is a 403 or a 429 with
//     X-RateLimit-Remaining: 0 and X-RateLimit-Reset, the Unix time the
//     budget refills; go-github returns a 403 of that kind, and its own
//     refusal to send while the budget is spent, as *github.RateLimitError;
//   - a secondary limit (bursts, concurrency) is a 403 or a 429, usually
//     with Retry-After in seconds; go-github returns the 403s whose
//     documentation_url names secondary limits as *github.AbuseRateLimitError;
//   - everything else is a *github.ErrorResponse, whose headers are read
//     here: a 429 is always a rate limit, a 403 only with the headers above
//     (a plain 403 is a permission problem, which waiting would not fix).
func rateLimitWait(err error, t time.Time) (time.Duration, bool) {
	var primary *github.RateLimitError
	if errors.As(err, &primary) {
		if reset := primary.Rate.Reset.Time; !reset.IsZero() {
			return untilReset(reset, t), true
		}
		if primary.Response != nil {
			if wait, ok := headerWait(primary.Response.Header, t); ok {
				return wait, true
			}
		}
		return defaultRateLimitWait, true
	}
	var secondary *github.AbuseRateLimitError
	if errors.As(err, &secondary) {
		if secondary.RetryAfter != nil {
			return max(*secondary.RetryAfter, minRateLimitWait), true
		}
		if secondary.Response != nil {
			if wait, ok := headerWait(secondary.Response.Header, t); ok {
				return wait, true
			}
		}
		return defaultRateLimitWait, true
	}
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return 0, false
	}
	switch er.Response.StatusCode {
	case http.StatusTooManyRequests:
		if wait, ok := headerWait(er.Response.Header, t); ok {
			return wait, true
		}
		return defaultRateLimitWait, true
	case http.StatusForbidden:
		return headerWait(er.Response.Header, t)
	}
	return 0, false
}

// headerWait reads the wait from a response's rate-limit headers:
// Retry-After first (GitHub's explicit instruction), then an exhausted
// X-RateLimit-Remaining with its X-RateLimit-Reset.
func headerWait(h http.Header, t time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return max(time.Duration(secs)*time.Second, minRateLimitWait), true
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(t), minRateLimitWait), true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && secs > 0 {
			return untilReset(time.Unix(secs, 0), t), true
		}
		return defaultRateLimitWait, true
	}
	return 0, false
}

func untilReset(reset, t time.Time) time.Duration {
	return max(reset.Sub(t)+resetSlack, minRateLimitWait)
}
