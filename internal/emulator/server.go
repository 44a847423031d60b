package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// request is one decoded API request.
type request struct {
	http  *http.Request
	body  map[string]any
	token string
	id    string // request_id
}

// handler serves one endpoint. It returns the response object (a map
// that gets the request_id) and, for writes, the id of the resource it
// changed so that a fault can name it as committed.
type handler func(r *request) (resp map[string]any, changed string, err *apiError)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, write bool, h handler) {
		mux.Handle(pattern, s.api(write, h))
	}
	api("POST /v1/databases", true, s.createDatabase)
	api("GET /v1/databases/{id}", false, s.getDatabase)
	api("PATCH /v1/databases/{id}", true, s.updateDatabase)
	api("GET /v1/data_sources/{id}", false, s.getDataSource)
	api("PATCH /v1/data_sources/{id}", true, s.updateDataSource)
	api("POST /v1/data_sources/{id}/query", false, s.queryDataSource)
	api("POST /v1/pages", true, s.createPage)
	api("GET /v1/pages/{id}", false, s.getPage)
	api("PATCH /v1/pages/{id}", true, s.updatePage)
	api("GET /v1/blocks/{id}", false, s.getBlock)
	api("PATCH /v1/blocks/{id}", true, s.updateBlock)
	api("DELETE /v1/blocks/{id}", true, s.deleteBlock)
	api("GET /v1/blocks/{id}/children", false, s.listBlockChildren)
	api("PATCH /v1/blocks/{id}/children", true, s.appendBlockChildren)
	api("GET /v1/users", false, s.listUsers)
	api("GET /v1/users/me", false, s.me)
	api("GET /v1/users/{id}", false, s.getUser)
	api("POST /v1/search", false, s.search)
	// Everything else under /v1 — unknown paths and known paths with the
	// wrong method — is answered as Notion does.
	mux.Handle("/v1/", s.api(false, func(*request) (map[string]any, string, *apiError) { return nil, "", errInvalidURL }))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", s.webIndex)
	mux.HandleFunc("GET /databases/{id}", s.webDatabase)
	mux.HandleFunc("GET /pages/{id}", s.webPageBody)
	return mux
}

// api wraps an endpoint with what every Notion request goes through:
// authentication, the version header, the rate limit, body decoding,
// injected faults, and the error and stats bookkeeping.
func (s *Server) api(write bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		began := time.Now()
		route := hr.Pattern
		if route == "/v1/" {
			route = "unknown"
		}
		r := &request{http: hr, id: newID()}
		s.stats.begin(route)
		status, wrote := s.serve(w, r, write, h)
		s.stats.end(status, wrote)
		s.log.Debug("notion emulator", "method", hr.Method, "path", hr.URL.Path, "status", status, "took", time.Since(began), "request_id", r.id)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *request, write bool, h handler) (status int, wrote bool) {
	hr := r.http
	w.Header().Set("x-notion-request-id", r.id)
	auth := hr.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" || (len(s.tokens) > 0 && !s.tokens[token]) {
		return s.fail(w, r, errUnauthorized), false
	}
	r.token = token
	if hr.Header.Get("Notion-Version") == "" {
		return s.fail(w, r, errMissingVer), false
	}
	now := time.Now()
	if ok, wait := s.limit.allow(token, now); !ok {
		return s.rateLimited(w, r, reasonConnection, wait), false
	}
	// The emulator is one workspace: its budget is shared by every token.
	if ok, wait := s.workspace.allow("workspace", now); !ok {
		return s.rateLimited(w, r, reasonWorkspace, wait), false
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxBodyBytes+1))
	if err != nil {
		return s.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "Could not read the request body."}), false
	}
	if len(body) > maxBodyBytes {
		return s.fail(w, r, errTooLarge), false
	}
	if aerr := decodeBody(body, r); aerr != nil {
		return s.fail(w, r, aerr), false
	}
	// Notion's latency: the request is served after it whatever the
	// client does meanwhile, as a server past its client's deadline still
	// applies a write.
	if d := s.latency.draw(); d > 0 {
		time.Sleep(d)
	}
	f, stall := s.faults.draw(write)
	if f != faultNone {
		s.stats.fault(f)
	}
	switch f {
	case fault429:
		reason, wait := s.faults.rateLimited429()
		return s.rateLimited(w, r, reason, wait), false
	case fault500:
		return s.fail(w, r, errInternal), false
	case fault503:
		return s.fail(w, r, errUnavailable), false
	case faultStall:
		t := time.NewTimer(stall)
		select {
		case <-t.C:
		case <-hr.Context().Done():
			// The client gave up; the request is still served, as a
			// server past its client's deadline still applies a write.
		}
		t.Stop()
	}
	resp, changed, aerr := h(r)
	if aerr != nil {
		return s.fail(w, r, aerr), false
	}
	wrote = write
	if f == faultApplied503 && changed != "" {
		e := *errUnavailable
		e.extra = map[string]any{"committed_resource_id": changed}
		return s.fail(w, r, &e), wrote
	}
	if f == faultApplied500 && changed != "" {
		return s.fail(w, r, errInternal), wrote
	}
	resp["request_id"] = r.id
	return s.reply(w, http.StatusOK, resp), wrote
}

// rateLimited answers 429 rate_limited naming the budget that ran out in
// additional_data.rate_limit_reason, with Retry-After in seconds (whole
// seconds as Notion sends them; decimals under a second, for fast tests).
func (s *Server) rateLimited(w http.ResponseWriter, r *request, reason string, wait time.Duration) int {
	ra := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
	if wait < time.Second {
		ra = strconv.FormatFloat(wait.Seconds(), 'f', -1, 64)
	}
	w.Header().Set("Retry-After", ra)
	e := *errRateLimited
	if reason == reasonBlocked {
		e.message = "API requests are blocked in this workspace: an administrator must allow them."
	}
	e.extra = map[string]any{"rate_limit_reason": reason}
	return s.fail(w, r, &e)
}

func decodeBody(body []byte, r *request) *apiError {
	r.body = map[string]any{}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return errInvalidJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalidJSON
	}
	m, ok := v.(map[string]any)
	if !ok {
		return validationf("body failed validation: body should be an object, instead was `%s`.", jsonShort(v))
	}
	r.body = m
	return nil
}

func (s *Server) fail(w http.ResponseWriter, r *request, e *apiError) int {
	body := map[string]any{"object": "error", "status": e.status, "code": e.code, "message": e.message, "request_id": r.id}
	if e.extra != nil {
		body["additional_data"] = e.extra
	}
	return s.reply(w, e.status, body)
}

func (s *Server) reply(w http.ResponseWriter, status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("emulator: encoding a response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"object":"error","status":500,"code":"internal_server_error","message":"Unexpected error occurred."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
	return status
}

// pathID reads and normalizes the {id} path segment.
func pathID(r *request, kind string) (string, *apiError) {
	raw := r.http.PathValue("id")
	id, ok := normalizeID(raw)
	if !ok {
		return "", validationf("path failed validation: path.%s_id should be a valid uuid, instead was `%s`.", kind, jsonShort(raw))
	}
	return id, nil
}

// paging reads a list request's page_size and start_cursor, from the
// query string (GET) or the body (POST).
func paging(r *request) (size int, cursor string, err *apiError) {
	if size, err = pageSize(r); err != nil {
		return 0, "", err
	}
	cursor, err = startCursor(r)
	return size, cursor, err
}

// pageSize reads page_size (1..100, default 100) from the body or query.
func pageSize(r *request) (int, *apiError) {
	var v any = r.body["page_size"]
	if q := r.http.URL.Query().Get("page_size"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			return 0, validationf("query failed validation: query.page_size should be a number, instead was `%s`.", q)
		}
		v = float64(n)
	}
	if v == nil {
		return 100, nil
	}
	n, ok := v.(float64)
	if !ok || n != float64(int(n)) || n < 1 || n > 100 {
		return 0, validationf("body failed validation: body.page_size should be an integer between 1 and 100, instead was `%s`.", jsonShort(v))
	}
	return int(n), nil
}

func startCursor(r *request) (string, *apiError) {
	if q := r.http.URL.Query().Get("start_cursor"); q != "" {
		return q, nil
	}
	v, ok := r.body["start_cursor"]
	if !ok || v == nil {
		return "", nil
	}
	c, ok := v.(string)
	if !ok {
		return "", validationf("body failed validation: body.start_cursor should be a string, instead was `%s`.", jsonShort(v))
	}
	return c, nil
}

// paginate cuts a page of results at the cursor, which is the id of the
// first result to return (opaque to clients).
func paginate(ids []string, cursor string, size int) (page []string, next string, err *apiError) {
	from := 0
	if cursor != "" {
		from = -1
		for i, id := range ids {
			if id == cursor {
				from = i
				break
			}
		}
		if from < 0 {
			return nil, "", errInvalidCursor
		}
	}
	to := min(from+size, len(ids))
	if to < len(ids) {
		next = ids[to]
	}
	return ids[from:to], next, nil
}

func list(results []any, next, typ string) map[string]any {
	var nc any
	if next != "" {
		nc = next
	}
	return map[string]any{"object": "list", "results": results, "next_cursor": nc, "has_more": next != "", "type": typ, typ: map[string]any{}}
}
