package notion

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds what is read of one response.
const maxResponse = 64 << 20

// call is one API operation.
type call struct {
	method string
	path   string // escaped, with query
	route  string
	body   any
	write  bool
	// committed is the GET route template ("/v1/pages/%s") that reads the
	// resource a write names in a 503's committed_resource_id.
	committed string
}

// do runs c with retries and decodes the response into out.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("notion: %s %s: encode request: %w", cl.method, cl.path, err)
		}
		if len(body) > MaxPayload {
			return &PayloadError{Method: cl.method, Path: cl.path, Size: len(body)}
		}
	}
	req := Request{Method: cl.method, Path: cl.path, Route: cl.route, Write: cl.write}
	for attempt := 0; ; attempt++ {
		status, err := c.attempt(ctx, req, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.final(cl, fmt.Errorf("notion: %s %s: %w", cl.method, cl.path, errors.Join(ctx.Err(), err)), status)
		}
		if cl.write && cl.committed != "" {
			if id, ok := CommittedResourceID(err); ok {
				return c.readCommitted(ctx, cl, id, err, out)
			}
		}
		retry, wait := IsRetryable(err, cl.write)
		var apiErr *Error
		rateLimited := errors.As(err, &apiErr) && apiErr.Status == 429
		if rateLimited && c.cfg.OnRateLimited != nil {
			reason := apiErr.RateLimitReason()
			c.cfg.OnRateLimited(ctx, RateLimit{Budget: BudgetOf(reason), Reason: reason, RetryAfter: apiErr.RetryAfter, Route: cl.route})
		}
		if !retry || attempt >= c.cfg.MaxRetries {
			return c.final(cl, err, status)
		}
		wait = max(wait, c.backoff(attempt))
		c.log.LogAttrs(ctx, levelFor(rateLimited), "notion call failed; retrying",
			slogAttrs(cl, status, attempt+1, wait, err)...)
		if serr := sleep(ctx, wait); serr != nil {
			return c.final(cl, fmt.Errorf("%w (gave up retrying: %w)", err, serr), status)
		}
	}
}

// final marks a write whose outcome is unknown as ambiguous.
func (c *Client) final(cl call, err error, status int) error {
	if !cl.write || status == -1 {
		return err
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		if apiErr.Status >= 500 && apiErr.Status != 529 {
			return fmt.Errorf("%w: %w", ErrAmbiguousWrite, err)
		}
		return err
	}
	if notSent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrAmbiguousWrite, err)
}

// readCommitted turns a 503 for an applied write into the applied resource.
func (c *Client) readCommitted(ctx context.Context, cl call, id string, cause error, out any) error {
	get := call{
		method: http.MethodGet,
		path:   fmt.Sprintf(cl.committed, escape(id)),
		route:  "GET " + fmt.Sprintf(cl.committed, "{id}"),
	}
	c.log.LogAttrs(ctx, levelInfo, "notion write was applied despite an error; reading the committed resource",
		slogAttrs(cl, 503, 0, 0, cause)...)
	if err := c.do(ctx, get, out); err != nil {
		return fmt.Errorf("%w; reading back committed resource %s: %w", cause, id, err)
	}
	return nil
}

// attempt sends one HTTP request. The returned status is the HTTP status,
// 0 when no response arrived, or -1 when nothing was sent.
func (c *Client) attempt(ctx context.Context, r Request, body []byte, out any) (int, error) {
	if c.cfg.Before != nil {
		if err := c.cfg.Before(ctx, r); err != nil {
			return -1, fmt.Errorf("notion: %s %s: before sending: %w", r.Method, r.Path, err)
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(actx, r.Method, c.base+r.Path, rd)
	if err != nil {
		return -1, fmt.Errorf("notion: %s %s: %w", r.Method, r.Path, err)
	}
	hreq.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	hreq.Header.Set("Notion-Version", c.cfg.Version)
	hreq.Header.Set("Accept", "application/json")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	status, err := c.exchange(actx, hreq, r, out)
	if err != nil && status == 0 && actx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("notion: %s %s: no answer within %v: %w", r.Method, r.Path, c.cfg.Timeout, context.DeadlineExceeded)
	}
	if c.cfg.After != nil {
		c.cfg.After(r, status, time.Since(start), err)
	}
	return status, err
}

func (c *Client) exchange(ctx context.Context, hreq *http.Request, r Request, out any) (int, error) {
	resp, err := c.http.Do(hreq)
	if err != nil {
		// url.Error repeats the full URL; the method and path say enough.
		return 0, fmt.Errorf("notion: %s %s: %w", r.Method, r.Path, &transportError{unwrapURL(err)})
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, fmt.Errorf("notion: %s %s: reading the %d response: %w", r.Method, r.Path, resp.StatusCode, &transportError{err})
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil {
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("notion: %s %s: decode %d response: %w", r.Method, r.Path, resp.StatusCode, err)
		}
		return resp.StatusCode, nil
	}
	return resp.StatusCode, decodeError(r, resp, data)
}

// decodeError builds the Error of a non-2xx response. A body that is not
// Notion's error object (a proxy page) is summarised, not copied.
func decodeError(r Request, resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode, Method: r.Method, Path: r.Path}
	var w struct {
		Object         string         `json:"object"`
		Status         int            `json:"status"`
		Code           string         `json:"code"`
		Message        string         `json:"message"`
		RequestID      string         `json:"request_id"`
		AdditionalData map[string]any `json:"additional_data"`
	}
	if json.Unmarshal(data, &w) == nil && w.Object == "error" {
		e.Code, e.Message, e.RequestID, e.AdditionalData = w.Code, w.Message, w.RequestID, w.AdditionalData
	} else {
		e.Message = http.StatusText(resp.StatusCode) + " (not a Notion error body)"
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Notion-Request-Id")
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	return e
}

// parseRetryAfter reads seconds (what Notion sends) or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff is the delay before retry attempt+1: exponential with jitter in
// [d/2, d) so executors that failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.Backoff << min(attempt, 16)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d unless ctx ends first; it refuses to start a wait that
// would outlast ctx's deadline.
func sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("the retry wait of %v outlasts the deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transportError is a failure to exchange a request and response: a
// timeout, a refused or dropped connection.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// unwrapURL drops url.Error's copy of the full URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func escape(id string) string { return url.PathEscape(id) }
