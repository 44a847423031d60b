// Package holdproxy is an HTTP proxy for tests that holds one request on
// its way to Notion until the test releases it. The held request then goes
// on whether or not its client still waits for it, as a request already on
// the wire does when a partition heals or a frozen writer wakes up.
package holdproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Proxy forwards every request to its target and holds the first one that
// matches.
type Proxy struct {
	target  string
	match   func(r *http.Request, body []byte) bool
	srv     *httptest.Server
	once    sync.Once
	relOnce sync.Once
	held    chan struct{}
	release chan struct{}
	landed  chan struct{}
}

// New starts a Proxy in front of target (a base URL) that holds the first
// request match accepts; it is released and closed when the test ends.
func New(t testing.TB, target string, match func(r *http.Request, body []byte) bool) *Proxy {
	p := &Proxy{target: target, match: match, held: make(chan struct{}), release: make(chan struct{}), landed: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.Release()
		p.srv.Close()
	})
	return p
}

// CreateOf matches the create of the page whose body names key.
func CreateOf(key string) func(*http.Request, []byte) bool {
	return func(r *http.Request, body []byte) bool {
		return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/pages") && bytes.Contains(body, []byte(`"`+key+`"`))
	}
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return p.srv.URL }

// Held is closed when the matching request is being held.
func (p *Proxy) Held() <-chan struct{} { return p.held }

// Landed is closed once the target answered the held request.
func (p *Proxy) Landed() <-chan struct{} { return p.landed }

// Release lets the held request go on.
func (p *Proxy) Release() { p.relOnce.Do(func() { close(p.release) }) }

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	hold := false
	if p.match(r, body) {
		p.once.Do(func() { hold = true })
	}
	ctx := r.Context()
	if hold {
		close(p.held)
		<-p.release
		ctx = context.Background() // the writer may be gone: the request goes on
		defer close(p.landed)
	}
	Forward(ctx, w, r, p.target, body)
}

// Forward sends r, whose body was read as body, to target (a base URL)
// under ctx and copies the answer to w: a 502 when target cannot be
// reached.
func Forward(ctx context.Context, w http.ResponseWriter, r *http.Request, target string, body []byte) {
	req, err := http.NewRequestWithContext(ctx, r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
