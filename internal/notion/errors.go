package notion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// Error is an error response from Notion (or a proxy in front of it).
type Error struct {
	Status         int
	Code           string
	Message        string
	RequestID      string
	AdditionalData map[string]any
	// RetryAfter is the wait the Retry-After header asked for (429, 529).
	RetryAfter time.Duration
	Method     string
	Path       string
}

// Error reads "notion: PATCH /v1/pages/…: 400 validation_error: … (request_id …)".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notion: %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id " + e.RequestID + ")")
	}
	return b.String()
}

// Error codes Notion returns.
const (
	CodeValidation     = "validation_error"
	CodeObjectNotFound = "object_not_found"
	CodeUnauthorized   = "unauthorized"
	CodeRateLimited    = "rate_limited"
	CodeConflict       = "conflict_error"
)

// ErrAmbiguousWrite marks a write whose outcome is unknown: it timed out,
// the connection dropped after sending, or Notion answered 5xx without
// naming a committed resource. It may have been applied: look before
// creating again.
var ErrAmbiguousWrite = errors.New("notion: write outcome unknown, it may have been applied")

// IsNotFound says whether err is Notion's object_not_found (404): the
// object does not exist or is not shared with the integration.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == 404 || e.Code == CodeObjectNotFound)
}

// IsValidation says whether err is Notion's validation_error: the request
// was refused as written and must be changed before trying again.
func IsValidation(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeValidation
}

// IsArchived says whether err is Notion refusing to change an object that
// is in the trash ("Can't edit block that is archived"): deleting a block
// twice, or appending under a trashed block or page.
func IsArchived(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeValidation && strings.Contains(strings.ToLower(e.Message), "archived")
}

// CommittedResourceID returns the id of the resource a failed write in
// fact committed: Notion answers 503 with
// additional_data.committed_resource_id when the write was applied.
func CommittedResourceID(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Status != 503 {
		return "", false
	}
	id, ok := e.AdditionalData["committed_resource_id"].(string)
	return id, ok && id != ""
}

// Permanent says whether retrying the same request cannot succeed: Notion
// refused it as written (400 validation_error and the other 4xx), the
// token is not allowed (401, 403), the object is not there (404), or the
// workspace blocks API requests (429 public_api_request_blocked). 408,
// 409 and the other 429s are transient. Callers (the executor's page
// retries, provisioning at start-up) fail at once on a permanent error
// instead of burning attempts.
func (e *Error) Permanent() bool {
	switch {
	case e.Status == 429:
		return BudgetOf(e.RateLimitReason()) == BudgetBlocked
	case e.Status == 408 || e.Status == 409:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// RetryAfterDuration is the wait Notion asked for on a 429 or 529, so a
// page retried after the client gave up waits it out too (queue.RetryAfterer).
func (e *Error) RetryAfterDuration() time.Duration {
	if e.Status == 429 || e.Status == 529 {
		return e.RetryAfter
	}
	return 0
}

// RateLimitReason is additional_data.rate_limit_reason of a 429: which of
// Notion's budgets ran out. "" when Notion did not say.
func (e *Error) RateLimitReason() string {
	r, _ := e.AdditionalData["rate_limit_reason"].(string)
	return r
}

// Budget is one of Notion's request budgets a 429 can name.
type Budget string

// Notion's budgets (developers.notion.com/reference/request-limits).
const (
	// BudgetConnection is the integration token's own budget (per
	// connection); its Retry-After is at most a minute.
	BudgetConnection Budget = "connection"
	// BudgetWorkspace is shared by every connection of the workspace; its
	// Retry-After may exceed a minute.
	BudgetWorkspace Budget = "workspace"
	// BudgetEndpoint is one endpoint's own limit.
	BudgetEndpoint Budget = "endpoint"
	// BudgetBlocked means the workspace blocks API requests: waiting does
	// not help, an administrator must lift the block.
	BudgetBlocked Budget = "blocked"
)

// Rate-limit reasons as the emulator sends them. Notion documents the
// three budgets and public_api_request_blocked, and says other values may
// appear; BudgetOf reads a reason by the budget it names.
const (
	ReasonConnection = "connection_rate_limit"
	ReasonWorkspace  = "workspace_rate_limit"
	ReasonEndpoint   = "endpoint_rate_limit"
	ReasonBlocked    = "public_api_request_blocked"
)

// BudgetOf maps a rate_limit_reason to the budget it names. A reason it
// does not know (or none) is treated as the connection's, the budget a
// 429 named when Notion had only one.
func BudgetOf(reason string) Budget {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "blocked"):
		return BudgetBlocked
	case strings.Contains(r, "workspace"):
		return BudgetWorkspace
	case strings.Contains(r, "endpoint"):
		return BudgetEndpoint
	}
	return BudgetConnection
}

// RateLimit is a 429 as OnRateLimited sees it.
type RateLimit struct {
	Budget Budget
	// Reason is Notion's rate_limit_reason as sent ("" when absent).
	Reason string
	// RetryAfter is Notion's Retry-After (0 when absent).
	RetryAfter time.Duration
	// Route is the templated route of the call ("PATCH /v1/pages/{id}"),
	// which names the budget of an endpoint limit.
	Route string
}

// MaxPayload is Notion's limit on a request body (500 KB).
const MaxPayload = 500 * 1000

// PayloadError is a request over Notion's payload limit, refused before
// sending: Notion would answer 413, whatever the retries.
type PayloadError struct {
	Method, Path string
	Size         int
}

func (e *PayloadError) Error() string {
	return fmt.Sprintf("notion: %s %s: the request body is %d KB, over Notion's %d KB limit (nothing was sent): make the row's values smaller",
		e.Method, e.Path, (e.Size+999)/1000, MaxPayload/1000)
}

// Permanent is true: the same request is always too large.
func (e *PayloadError) Permanent() bool { return true }

// IsRetryable says whether the call that failed with err may be sent
// again, and the least wait before doing so. 429 and 529 say the request
// was not applied, so they are retryable for writes too (except a 429 for
// a workspace that blocks API requests); 5xx, timeouts and dropped
// connections are retryable for reads only, since a write may have been
// applied. A connection that was never made is retryable for both.
func IsRetryable(err error, write bool) (bool, time.Duration) {
	if err == nil || errors.Is(err, ErrAmbiguousWrite) || errors.Is(err, context.Canceled) {
		return false, 0
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case 429, 529:
			if e.Permanent() {
				return false, 0
			}
			return true, e.RetryAfter
		case 500, 502, 503, 504:
			if _, committed := CommittedResourceID(err); committed {
				return false, 0
			}
			return !write, e.RetryAfter
		}
		return false, 0
	}
	if notSent(err) {
		return true, 0
	}
	if isTransport(err) {
		return !write, 0
	}
	return false, 0
}

// notSent recognises a connection that was never established, so the
// request cannot have reached Notion.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED)
}

// isTransport recognises timeouts and broken connections.
func isTransport(err error) bool {
	var ne net.Error
	var te *transportError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.As(err, &te) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
