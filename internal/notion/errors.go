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

// IsRetryable says whether the call that failed with err may be sent
// again, and the least wait before doing so. 429 and 529 say the request
// was not applied, so they are retryable for writes too; 5xx, timeouts and
// dropped connections are retryable for reads only, since a write may have
// been applied. A connection that was never made is retryable for both.
func IsRetryable(err error, write bool) (bool, time.Duration) {
	if err == nil || errors.Is(err, ErrAmbiguousWrite) || errors.Is(err, context.Canceled) {
		return false, 0
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case 429, 529:
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
