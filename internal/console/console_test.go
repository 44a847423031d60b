package console_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/console"
	"github.com/synqhq/synq/internal/rdb"
)

const token = "s3cret-control-token"

// With a token: every page but the login form needs a session; the cookie
// is HttpOnly and SameSite=Strict (Secure over TLS); a forged or expired
// cookie is no session; logging out ends it.
func TestLoginAndSessions(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()

	r := c.get("/syncs/slowSync")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fsyncs%2FslowSync" {
		t.Fatalf("anonymous GET: %d to %q, want 303 to the login form", r.status, r.header.Get("Location"))
	}
	r = c.get("/login")
	want(t, "login form", r, 200, `name="token"`, "SYNQ_CONTROL_TOKEN")
	if strings.Contains(r.body, "Log out") || strings.Contains(r.body, `href="/pacers"`) {
		t.Fatal("the login form offers Log out or the navigation before a login")
	}
	want(t, "an asset without a session", c.get("/static/console.css"), 200, "--fg")
	r = c.postRaw("/login", url.Values{"token": {"wrong"}}, map[string]string{"Origin": s.srv.URL})
	want(t, "wrong token", r, http.StatusUnauthorized, "Wrong token")
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("a wrong token set a cookie: %v", r.header.Values("Set-Cookie"))
	}
	// An anonymous state change is refused, not redirected.
	want(t, "anonymous POST", c.postRaw("/syncs/slowSync/pause", nil, nil), http.StatusUnauthorized, "Log in")

	r = c.postRaw("/login", url.Values{"token": {token}, "next": {"/syncs/slowSync"}}, map[string]string{"Origin": s.srv.URL})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/syncs/slowSync" {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	ck := r.header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, attr) {
			t.Errorf("session cookie %q lacks %s", ck, attr)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP (the browser would drop it)", ck)
	}
	want(t, "overview after login", c.get("/"), 200, "Syncs by health", "Log out")

	// An open redirect through next is refused.
	r = c.postRaw("/login", url.Values{"token": {token}, "next": {"//evil.example/"}}, map[string]string{"Origin": s.srv.URL})
	if r.header.Get("Location") != "/" {
		t.Fatalf("login with next=//evil.example/ redirects to %q", r.header.Get("Location"))
	}

	// Over TLS the cookie is Secure.
	req := httptest.NewRequest(http.MethodPost, "https://console.example/login", strings.NewReader("token="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.con.ServeHTTP(rec, req)
	if ck := rec.Header().Get("Set-Cookie"); !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") {
		t.Fatalf("session cookie over TLS: %q, want Secure and HttpOnly", ck)
	}

	// A cookie whose signature does not match is no session.
	forged := s.client()
	u, _ := url.Parse(s.srv.URL)
	val := strings.TrimPrefix(strings.Split(ck, ";")[0], "synq_console=")
	forged.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "synq_console", Value: "9999999999" + val[strings.IndexByte(val, '.'):]}})
	if r := forged.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("a forged cookie (later expiry, same signature) was accepted: %d", r.status)
	}
	// A session of another token (another console) is refused.
	other, err := console.New(console.Config{Ops: s.ops, Token: "another token"})
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", strings.Split(ck, ";")[0])
	rec = httptest.NewRecorder()
	other.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("a session of another token was accepted: %d", rec.Code)
	}
	// Sessions expire.
	later, _ := console.New(console.Config{Ops: s.ops, Token: token, Now: func() time.Time { return time.Now().Add(13 * time.Hour) }})
	rec = httptest.NewRecorder()
	later.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("a session 13 hours old was accepted: %d", rec.Code)
	}

	// Logging out ends the session.
	c.get("/")
	r = c.post("/logout", nil)
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.status)
	}
}

// Every state-changing request needs the session's CSRF token and must not
// come from another site.
func TestCSRF(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()
	c.login(token)
	c.get("/syncs/slowSync")
	good := c.csrf
	if good == "" {
		t.Fatal("the sync page has no CSRF token")
	}
	paused := func() bool {
		st, err := s.rdb.GetSyncStatus(context.Background(), "slowSync")
		if err != nil {
			t.Fatal(err)
		}
		return st.Paused
	}
	want(t, "POST without a token", c.post("/syncs/slowSync/pause", url.Values{"csrf": {""}}), http.StatusForbidden, "CSRF")
	want(t, "POST with a wrong token", c.post("/syncs/slowSync/pause", url.Values{"csrf": {"AAAA"}}), http.StatusForbidden, "CSRF")
	// Another session's token does not fit this one.
	c2 := s.client()
	c2.login(token)
	c2.get("/syncs/slowSync")
	if c2.csrf == good {
		t.Fatal("two sessions have the same CSRF token")
	}
	want(t, "POST with another session's token", c.post("/syncs/slowSync/pause", url.Values{"csrf": {c2.csrf}}), http.StatusForbidden, "CSRF")
	// From another site, even with the right token.
	r := c.postRaw("/syncs/slowSync/pause", url.Values{"csrf": {good}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	want(t, "cross-site POST", r, http.StatusForbidden, "another site")
	r = c.postRaw("/syncs/slowSync/pause", url.Values{"csrf": {good}}, map[string]string{"Origin": "https://evil.example"})
	want(t, "POST with a foreign Origin", r, http.StatusForbidden, "another site")
	if paused() {
		t.Fatal("a refused request paused the sync")
	}
	// The header form works too (scripts).
	r = c.postRaw("/syncs/slowSync/pause", nil, map[string]string{"X-CSRF-Token": good, "Sec-Fetch-Site": "same-origin"})
	if r.status != http.StatusSeeOther || !paused() {
		t.Fatalf("POST with the token in X-CSRF-Token: %d, paused %v", r.status, paused())
	}
}

// Without a token the console serves loopback names only (no DNS
// rebinding), asks for no login, and still checks CSRF.
func TestWithoutATokenLoopbackOnly(t *testing.T) {
	s := newStack(t, stackOptions{})
	c := s.client()
	want(t, "overview", c.get("/"), 200, "Syncs by health")
	if r := c.get("/login"); r.status != http.StatusSeeOther {
		t.Fatalf("login page without a token: %d, want a redirect", r.status)
	}
	for _, host := range []string{"evil.example", "evil.example:80", "10.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/", nil)
		req.Host = host
		want(t, "Host "+host, c.do(req), http.StatusForbidden, "loopback")
	}
	for _, host := range []string{"localhost:7078", "[::1]:7078", "127.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/", nil)
		req.Host = host
		want(t, "Host "+host, c.do(req), 200)
	}
	want(t, "POST without a token", c.post("/syncs/slowSync/pause", url.Values{"csrf": {""}}), http.StatusForbidden, "CSRF")
	c.get("/syncs/slowSync")
	if r := c.post("/syncs/slowSync/pause", nil); r.status != http.StatusSeeOther {
		t.Fatalf("pause: %d\n%s", r.status, r.body)
	}
}

// Every screen answers, bad ids are 404 with a message that says what to
// do, and the syncs table filters.
func TestScreens(t *testing.T) {
	s := newStack(t, stackOptions{token: token, pages: 2, second: true})
	s.retire("retiredSync")
	c := s.client()
	c.login(token)
	run, err := s.ops.Trigger(context.Background(), "slowSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	s.waitRun(run, 30*time.Second)
	fail, err := s.ops.Trigger(context.Background(), "failSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	s.waitRun(fail, 30*time.Second)

	want(t, "overview", c.get("/"), 200, "Syncs by health", "HEALTHY", "WARNING", "Failures in the last 24 hours", fail, "upstream says no",
		"Notion budget", "of 6000 a minute", "test-scheduler", "(this scheduler)", "UNDECLARED")
	want(t, "syncs", c.get("/syncs"), 200, "slowSync", "notesSync", "failSync", "retiredSync", "no live executor", "5 of 5 syncs", "manual", "secondSync", "every 1h")
	r := c.get("/syncs?health=warning")
	want(t, "syncs by health", r, 200, "failSync", "1 of 5 syncs")
	if strings.Contains(r.body, `data-key="slowSync"`) {
		t.Fatal("the health filter kept slowSync")
	}
	want(t, "syncs by words", c.get("/syncs?q=slow+manual"), 200, `data-key="slowSync"`, "1 of 5 syncs")
	want(t, "no match", c.get("/syncs?q=nothing-like-it"), 200, "No sync matches")

	// The database link opens the emulator's page of the database.
	r = c.get("/syncs/slowSync")
	want(t, "sync detail", r, 200, "slowSync", "HEALTHY", "Trigger run", "Pause", "Reset state", run, "succeeded", "6 rows", "open in Notion", "upstream", "State")
	if strings.Contains(r.body, `id="forget"`) {
		t.Fatal("a declared sync offers Forget")
	}
	link := regexpFind(t, r.body, `href="(`+s.emu.URL()+`/databases/[^"]+)"`)
	resp, err := http.Get(link)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the database link %s: %v %v", link, err, resp)
	}
	resp.Body.Close()
	want(t, "undeclared sync", c.get("/syncs/retiredSync"), 200, "no live executor declares it", "Forget", "ctl forget retiredSync")

	want(t, "run detail", c.get("/runs/"+run), 200, run, "succeeded", "fetching page", "created 6", "Pages")
	want(t, "failed run", c.get("/runs/"+fail), 200, "error-box", "upstream says no", "row-err")
	want(t, "pacers", c.get("/pacers"), 200, "sdk:upstream", "100 requests a second (6000 a minute)", `href="/syncs/slowSync"`, "notion:", "6000 requests a minute", "worker consoletest, second")
	// Notion's budget is split between the syncs writing: each page's
	// calls count for its sync.
	pacers, err := s.ops.Pacers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pacers {
		if p.Kind == "notion" {
			if _, ok := p.Stats.PerConsumer["slowSync"]; !ok {
				t.Fatalf("the Notion pacer's consumers are %v, want slowSync among them", keys(p.Stats.PerConsumer))
			}
		}
	}
	want(t, "executors", c.get("/executors"), 200, "consoletest", "synq:consoletest", "synq:second", "test-scheduler", "Queues")
	want(t, "syncs by worker", c.get("/syncs?q=second"), 200, `data-key="secondSync"`, "1 of 5 syncs")

	// Unknown things are 404 with a message.
	want(t, "unknown sync", c.get("/syncs/nope"), 404, "No such sync", "unknown sync &#34;nope&#34;", "known syncs are")
	want(t, "action on an unknown sync", c.post("/syncs/nope/trigger", nil), 404, "unknown sync")
	want(t, "malformed run id", c.get("/runs/garbage"), 404, "is not a run id")
	want(t, "unknown run", c.get("/runs/slowSync-20200101T000000-abcdef"), 404, "not found")
	want(t, "events of an unknown run", c.get("/runs/slowSync-20200101T000000-abcdef/events"), 404, "not found")
	want(t, "no such page", c.get("/nowhere"), 404, "no page at /nowhere")
	want(t, "unknown asset", c.get("/static/nope.js"), 404)
}

// Every action goes through ops, answers with a redirect and a message, or
// with a status and a message that says why it was refused.
func TestActions(t *testing.T) {
	s := newStack(t, stackOptions{token: token, pause: 300 * time.Millisecond, pages: 50})
	s.retire("retiredSync")
	c := s.client()
	c.login(token)
	c.get("/syncs/slowSync")

	r := c.post("/syncs/slowSync/trigger", nil)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/slowSync-") || !strings.HasSuffix(loc, "?done=triggered") {
		t.Fatalf("trigger: %d to %q\n%s", r.status, loc, r.body)
	}
	run := strings.TrimSuffix(strings.TrimPrefix(loc, "/runs/"), "?done=triggered")
	want(t, "run page after trigger", c.get(loc), 200, "Run started.", "running", "Cancel run")
	want(t, "second trigger", c.post("/syncs/slowSync/trigger", nil), http.StatusConflict, "Refused", run)
	want(t, "reset while a run is active", c.post("/syncs/slowSync/reset", url.Values{"confirm": {"yes"}}), http.StatusConflict, run)

	// Pause parks the run; resume continues it.
	r = c.post("/syncs/slowSync/pause", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/syncs/slowSync?done=paused" {
		t.Fatalf("pause: %d to %q", r.status, r.header.Get("Location"))
	}
	want(t, "paused sync", c.get("/syncs/slowSync?done=paused"), 200, "Sync paused", "DISABLED", "Resume")
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := s.ops.Run(context.Background(), run)
		if got.Status == rdb.RunParked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not park: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want(t, "parked run", c.get("/runs/"+run), 200, "parked", "resume the sync to continue")
	if r := c.post("/syncs/slowSync/resume", nil); r.status != http.StatusSeeOther {
		t.Fatalf("resume: %d\n%s", r.status, r.body)
	}
	if got, _ := s.ops.Run(context.Background(), run); got.Status != rdb.RunRunning {
		t.Fatalf("after resume the run is %s", got.Status)
	}

	// Let a page commit, so there is a state to reset later.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got, _ := s.ops.Run(context.Background(), run); got.Counters["pages"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no page committed after resume")
		}
	}

	// Cancel asks first; a flash names what happened.
	want(t, "cancel confirmation", c.get("/runs/"+run+"/cancel"), 200, "Cancel run "+run+"?", `name="confirm" value="yes"`)
	want(t, "cancel without confirming", c.post("/runs/"+run+"/cancel", nil), 200, "Cancel run "+run+"?")
	if got, _ := s.ops.Run(context.Background(), run); got.Status != rdb.RunRunning {
		t.Fatalf("an unconfirmed cancel cancelled the run: %s", got.Status)
	}
	r = c.post("/runs/"+run+"/cancel", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?done=cancelled") {
		t.Fatalf("cancel: %d to %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	if got := s.waitRun(run, 20*time.Second); got.Status != rdb.RunCancelled {
		t.Fatalf("cancelled run is %s", got.Status)
	}
	want(t, "cancel an ended run", c.post("/runs/"+run+"/cancel", url.Values{"confirm": {"yes"}}), http.StatusConflict, "Refused")

	// State reset asks first, then clears the state.
	// The page in flight when the run was cancelled commits its state.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, _ := s.ops.State(context.Background(), "slowSync"); st != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no state to reset")
		}
	}
	want(t, "reset confirmation", c.get("/syncs/slowSync/reset"), 200, "Reset the state of slowSync?")
	want(t, "reset without confirming", c.post("/syncs/slowSync/reset", nil), 200, "Reset the state of slowSync?")
	if r := c.post("/syncs/slowSync/reset", url.Values{"confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", r.status, r.body)
	}
	if st, _ := s.ops.State(context.Background(), "slowSync"); st != nil {
		t.Fatalf("state after reset: %s", st)
	}

	// Lifting the deletion guard asks first.
	want(t, "trigger with allow trash", c.post("/syncs/notesSync/trigger", url.Values{"allow_trash": {"1"}}), 200, "without the deletion guard")
	r = c.post("/syncs/notesSync/trigger", url.Values{"allow_trash": {"1"}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirmed trigger with allow trash: %d\n%s", r.status, r.body)
	}
	got := s.waitRun(strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/runs/"), "?done=triggered"), 20*time.Second)
	if !got.AllowTrash || got.Status != rdb.RunSucceeded {
		t.Fatalf("run with allow trash: %+v", got)
	}

	// Forget: refused for a declared sync, done for a retired one.
	want(t, "forget a declared sync", c.post("/syncs/slowSync/forget", url.Values{"confirm": {"yes"}}), http.StatusConflict, "still declared")
	want(t, "trigger an undeclared sync", c.post("/syncs/retiredSync/trigger", nil), http.StatusConflict, "not declared by any live executor")
	want(t, "forget confirmation", c.get("/syncs/retiredSync/forget"), 200, "Forget retiredSync?")
	r = c.post("/syncs/retiredSync/forget", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/syncs?done=forgotten" {
		t.Fatalf("forget: %d to %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	want(t, "forgotten sync", c.get("/syncs/retiredSync"), 404, "unknown sync")
	want(t, "flash after forget", c.get("/syncs?done=forgotten"), 200, "Sync forgotten")
	// A flash is one of a fixed set: a link cannot make the console say anything.
	if r := c.get("/syncs?done=%3Cb%3Eyour+account+is+locked%3C%2Fb%3E"); strings.Contains(r.body, "account is locked") {
		t.Fatal("the flash shows text from the link")
	}
}

// A run's event stream sends its summary, pages and log as they change,
// resumes after the last line it sent, and ends with the run.
func TestRunEvents(t *testing.T) {
	s := newStack(t, stackOptions{token: token, pause: 150 * time.Millisecond, pages: 4})
	c := s.client()
	c.login(token)
	run, err := s.ops.Trigger(context.Background(), "slowSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/runs/"+run+"/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := map[string][]string{}
	var lastID, event string
	var data []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	summaries := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			lastID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case line == "" && event != "":
			events[event] = append(events[event], strings.Join(data, "\n"))
			if event == "summary" {
				summaries++
			}
			event, data = "", nil
		}
		if len(events["end"]) > 0 {
			break
		}
	}
	if got := events["end"]; len(got) != 1 || got[0] != "succeeded" {
		t.Fatalf("end events %v, want one \"succeeded\" (events: %v)", got, keys(events))
	}
	if summaries < 2 || !strings.Contains(events["summary"][0], "running") || !strings.Contains(events["summary"][summaries-1], "succeeded") {
		t.Fatalf("%d summaries, first %q", summaries, events["summary"][0])
	}
	log := strings.Join(events["log"], "\n")
	if n := strings.Count(log, "fetching page"); n != 4 {
		t.Fatalf("the stream sent %d \"fetching page\" lines, want 4:\n%s", n, log)
	}
	lastPages := events["pages"][len(events["pages"])-1]
	if n := strings.Count(lastPages, "<tr"); n != 4 {
		t.Fatalf("the last page table has %d rows, want 4:\n%s", n, lastPages)
	}
	// A browser that reconnects resumes after the last line it got.
	req, _ = http.NewRequest(http.MethodGet, s.srv.URL+"/runs/"+run+"/events", nil)
	req.Header.Set("Last-Event-ID", lastID)
	r := c.do(req)
	if strings.Contains(r.body, "event: log") || !strings.Contains(r.body, "event: end") {
		t.Fatalf("a resumed stream after id %s:\n%s", lastID, r.body)
	}
}

// A preview shows created, updated (old → new) and unchanged rows, and
// what it would not say.
func TestPreviewDiff(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()
	c.login(token)
	run, err := s.ops.Trigger(context.Background(), "notesSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	s.waitRun(run, 30*time.Second)
	s.source.mu.Lock()
	s.source.items["b"] = "beta, edited"
	s.source.items["d"] = "delta"
	s.source.mu.Unlock()

	want(t, "preview form", c.get("/syncs/notesSync/preview"), 200, "Run preview", "writes nothing")
	r := c.post("/syncs/notesSync/preview", nil)
	want(t, "preview", r, 200, "1 created", "1 updated", "2 unchanged", "<del>beta</del>", "<ins>beta, edited</ins>", "delta", "the last page")
	want(t, "preview from a bad state", c.post("/syncs/notesSync/preview", url.Values{"state": {"{not json"}}), http.StatusBadRequest, "not valid JSON")
	want(t, "preview of an unknown sync", c.post("/syncs/nope/preview", nil), 404, "unknown sync")
	// Nothing was written.
	if rows := s.rowsOf("notes"); rows["b"] != "beta" || rows["d"] != "" {
		t.Fatalf("the preview wrote to Notion: %v", rows)
	}
}

// The overview is light: its HTML, stylesheet and script, compressed as a
// browser asks for them, stay within a budget.
func TestOverviewWeight(t *testing.T) {
	s := newStack(t, stackOptions{token: token})
	c := s.client()
	c.login(token)
	raw := &http.Client{Jar: c.hc.Jar, Transport: &http.Transport{DisableCompression: true}}
	total := 0
	for _, p := range []string{"/", "/static/console.css", "/static/console.js", "/static/favicon.svg"} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		t.Logf("%s: %d bytes (%s)", p, len(b), resp.Header.Get("Content-Encoding"))
		total += len(b)
	}
	t.Logf("overview page weight: %.1f KB transferred", float64(total)/1024)
	if total > 40<<10 {
		t.Fatalf("the overview transfers %d bytes, over the 40 KB budget", total)
	}
}

// A sync into a database people already have: its page says so, with the
// owned and other columns and the rows adopted or left alone.
func TestExistingDatabaseShown(t *testing.T) {
	s := newStack(t, stackOptions{token: token, existing: true})
	c := s.client()
	c.login(token)
	// The executor adopted the rows before it started (Provision).
	r := c.get("/syncs/backlogSync")
	want(t, "existing database", r, 200, "people already have this database", "Owned columns: Name, Points",
		"Other columns (people's, never written): Estimate, Notes, Priority, Reviewed, Status",
		"Rows adopted: 50 with a key", "5 with an empty key", "2 whose key an older row has", ">T-003<", ">T-007<")
}
