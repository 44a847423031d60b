package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// tcpProxy forwards TCP connections to a target (an executor's Redis) and
// can cut them: a partition. Cut closes the connections open and holds new
// ones without an answer, as a network that drops packets does, until Heal.
type tcpProxy struct {
	t      testing.TB
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held: never answered, closed by Heal
		}
		go p.pipe(c)
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// Cut partitions the proxy's clients from the target.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.closeAll()
}

// Heal ends the partition: held connections are closed (their clients
// reconnect) and new ones forwarded.
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.closeAll()
}

// notionHold sits between an executor and the Notion emulator and holds
// the first create of one key until Release; the held request then goes
// on whether or not its client still waits for it, as a request already
// on the wire does when a partition heals.
type notionHold struct {
	target  string
	key     string
	srv     *httptest.Server
	once    sync.Once
	held    chan struct{}
	release chan struct{}
	landed  chan struct{}
	relOnce sync.Once
}

func newNotionHold(t testing.TB, target, key string) *notionHold {
	h := &notionHold{target: target, key: key, held: make(chan struct{}), release: make(chan struct{}), landed: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.Release()
		h.srv.Close()
	})
	return h
}

func (h *notionHold) URL() string { return h.srv.URL }

// Release lets the held create go on.
func (h *notionHold) Release() { h.relOnce.Do(func() { close(h.release) }) }

func (h *notionHold) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	hold := false
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/pages") && bytes.Contains(body, []byte(`"`+h.key+`"`)) {
		h.once.Do(func() { hold = true })
	}
	ctx := r.Context()
	if hold {
		close(h.held)
		<-h.release
		ctx = context.Background()
		defer close(h.landed)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, h.target+r.URL.RequestURI(), bytes.NewReader(body))
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
