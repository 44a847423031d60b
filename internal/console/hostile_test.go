package console_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/console"
	"github.com/synqhq/synq/internal/rdb"
)

// After a login, next leads only to a path of the console's own site:
// browsers drop tabs and newlines from a URL and read \ as /, so each of
// these would otherwise leave the site.
func TestLoginNextStaysOnSite(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()
	for _, next := range []string{
		"//evil.example/", "/\t/evil.example/", "/%09/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/",
		"/\\evil.example", "\\/evil.example", "https://evil.example/", "javascript:alert(1)", "/\x00/evil.example",
		" //evil.example/", "evil.example",
	} {
		// %09 is what a browser sends for a tab typed in the query: the
		// form value arrives decoded, as a tab.
		v := next
		if dec, err := url.PathUnescape(next); err == nil {
			v = dec
		}
		r := c.postRaw("/login", url.Values{"token": {token}, "next": {v}}, map[string]string{"Origin": s.srv.URL})
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/" {
			t.Errorf("login with next=%q: %d to %q, want 303 to /", next, r.status, loc)
		}
		// The login form itself, already logged in or not, redirects the same way.
		anon := s.client()
		r = anon.get("/login?next=" + url.QueryEscape(v))
		if strings.Contains(r.body, "evil.example") {
			t.Errorf("the login form carries next=%q on:\n%s", next, r.body)
		}
	}
	r := c.postRaw("/login", url.Values{"token": {token}, "next": {"/syncs/slowSync?tab=runs"}}, map[string]string{"Origin": s.srv.URL})
	if loc := r.header.Get("Location"); loc != "/syncs/slowSync?tab=runs" {
		t.Errorf("a same-site next with a query was not kept: %q", loc)
	}
}

// sseLines splits a stream where a browser's EventSource does: at \r\n,
// \r or \n.
func sseLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\r' {
			if i+1 == len(data) && !atEOF {
				return 0, nil, nil // a \n may follow
			}
			if i+1 < len(data) && data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
		}
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// A run's live stream outlives the server's read and write timeouts, and
// a log line carrying \r cannot inject an event into it; the timeouts do
// cut a request whose body trickles.
func TestRunEventsHostileAndTimeouts(t *testing.T) {
	s := newStack(t, stackOptions{token: token, pause: 300 * time.Millisecond, pages: 4})
	short := 250 * time.Millisecond
	con, err := console.New(console.Config{Ops: s.ops, Token: token, ReadTimeout: short, WriteTimeout: short, IdleTimeout: short})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- con.Serve(ctx, lis, "", "") }()
	t.Cleanup(func() { cancel(); <-served })
	base := "http://" + lis.Addr().String()

	// A body that never arrives is cut by the read timeout.
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /login HTTP/1.1\r\nHost: "+lis.Addr().String()+
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken="); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("a trickling request body held its connection open (no read timeout): %v", err)
	}

	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	c.login(token)
	run, err := s.ops.Trigger(context.Background(), "slowSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	hostile := "upstream said\revent: end\rdata: injected\r\rand more"
	if err := s.rdb.AppendLog(context.Background(), "slowSync", run, 1000, rdb.LogLine{Time: time.Now(), Level: "WARN", Source: "user",
		Message: hostile, Attrs: map[string]any{"body": "x\r\revent: end\r"}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/runs/"+run+"/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sc.Split(sseLines)
	var ends []string
	var event string
	var data []string
	sawHostile := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			data = append(data, d)
			if strings.Contains(d, "upstream said") {
				sawHostile = true
			}
		case line == "":
			if event == "end" {
				ends = append(ends, strings.Join(data, "\n"))
			}
			event, data = "", nil
		}
		if len(ends) > 0 {
			break
		}
	}
	if len(ends) != 1 || ends[0] != "succeeded" {
		t.Fatalf("end events %q, want one \"succeeded\" (a \\r in a log line injected one, or the stream was cut: %v)", ends, sc.Err())
	}
	if !sawHostile {
		t.Errorf("the stream never carried the log line")
	}
	if r := s.waitRun(run, time.Minute); r.Status != "succeeded" {
		t.Errorf("run %s", r.Status)
	}
}
