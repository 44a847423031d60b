package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/alerts"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// receiver is a local HTTP endpoint that records what it receives; while
// down it answers 503.
type receiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rc.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) notifications(t *testing.T) []alerts.Notification {
	t.Helper()
	var out []alerts.Notification
	for _, r := range rc.received() {
		n, err := alerts.Decode(r.body)
		if err != nil {
			t.Fatalf("receiver got a body that is not a notification: %s", r.body)
		}
		out = append(out, n)
	}
	return out
}

type fixture struct {
	t    *testing.T
	ops  *ops.Ops
	rdb  *rdb.RDB
	json *receiver
	runs int
}

func newFixture(t *testing.T) *fixture {
	srv := redistest.Start(t)
	o, err := ops.New(ops.Config{Redis: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ops: o, rdb: o.RDB(), json: newReceiver(t)}
}

func (f *fixture) service(leader func() bool, dests ...alerts.Destination) *alerts.Service {
	f.t.Helper()
	if dests == nil {
		dests = []alerts.Destination{{URL: f.json.srv.URL + "/hook", Format: alerts.FormatJSON}}
	}
	s, err := alerts.New(alerts.Config{Ops: f.ops, Leader: leader, Destinations: dests, Secret: []byte("s3cret"),
		ConsoleURL: "http://console.example/", RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, SendTimeout: 2 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// end starts and ends one run of sync with status (succeeded, failed,
// warning) and message.
func (f *fixture) end(sync, status, msg string) string {
	f.t.Helper()
	ctx := context.Background()
	f.runs++
	run := sync + "-r" + string(rune('a'+f.runs))
	res, err := f.rdb.StartRun(ctx, rdb.StartRun{Sync: sync, Run: run, Trigger: "manual", Worker: "w", Queue: "synq:w", Task: run + ":0"})
	if err != nil || !res.Started {
		f.t.Fatalf("start %s: %+v %v", run, res, err)
	}
	if status == rdb.RunFailed {
		if ok, err := f.rdb.FailRun(ctx, rdb.Fail{Sync: sync, Run: run, Message: msg, Page: 0, LogCap: 10}); !ok || err != nil {
			f.t.Fatalf("fail %s: %v %v", run, ok, err)
		}
		return run
	}
	res2, err := f.rdb.CommitPage(ctx, rdb.Commit{Sync: sync, Run: run, Page: 0, Mode: rdb.StateKeep,
		Lifecycle: &rdb.PageDone{LogCap: 10, Outcome: status, Message: msg}})
	if err != nil || res2.Status != status {
		f.t.Fatalf("end %s as %s: %+v %v", run, status, res2, err)
	}
	return run
}

func (f *fixture) detect(s *alerts.Service) {
	f.t.Helper()
	if err := s.Detect(context.Background()); err != nil {
		f.t.Fatalf("detect: %v", err)
	}
}

func (f *fixture) send(s *alerts.Service) {
	f.t.Helper()
	if err := s.Send(context.Background()); err != nil {
		f.t.Fatalf("send: %v", err)
	}
}

func always() bool { return true }

func TestHealthTransitionsNotifyOnceEach(t *testing.T) {
	f := newFixture(t)
	s := f.service(always)
	f.detect(s)
	f.end("tickets", rdb.RunSucceeded, "")
	f.end("tickets", rdb.RunFailed, "page failed after its last attempt: helpdesk answered 502\nmore detail")
	f.detect(s)
	f.end("tickets", rdb.RunFailed, "page failed after its last attempt: helpdesk answered 502")
	f.detect(s)
	f.end("tickets", rdb.RunFailed, "page failed after its last attempt: helpdesk answered 503")
	f.detect(s)
	f.end("tickets", rdb.RunFailed, "page failed after its last attempt: helpdesk answered 503")
	f.detect(s)
	last := f.end("tickets", rdb.RunSucceeded, "")
	f.detect(s)
	f.detect(s) // a second pass finds nothing new
	f.send(s)

	got := f.json.notifications(t)
	var titles []string
	for _, n := range got {
		titles = append(titles, n.Title)
	}
	want := []string{"tickets is WARNING (was HEALTHY)", "tickets is ERROR (was WARNING)", "tickets is HEALTHY again (was ERROR)"}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Fatalf("notifications = %q, want %q", titles, want)
	}
	w, e, h := got[0], got[1], got[2]
	if w.Kind != alerts.KindHealth || w.Severity != alerts.SeverityWarning || w.Sync != "tickets" || w.Health != "WARNING" ||
		w.Error != "page failed after its last attempt: helpdesk answered 502" || w.URL != "http://console.example/syncs/tickets" || w.Run == "" {
		t.Fatalf("WARNING notification = %+v", w)
	}
	if e.Severity != alerts.SeverityError || e.PreviousHealth != "WARNING" || !strings.Contains(e.Text, "3 runs in a row failed") {
		t.Fatalf("ERROR notification = %+v", e)
	}
	if h.Severity != alerts.SeverityResolved || h.Run != last || h.Error != "" {
		t.Fatalf("HEALTHY notification = %+v", h)
	}
	// Signed: HMAC of timestamp "." body.
	r := f.json.received()[0]
	sec := r.header.Get(alerts.HeaderTimestamp)
	unix, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		t.Fatalf("timestamp header %q: %v", sec, err)
	}
	if want := alerts.Sign([]byte("s3cret"), time.Unix(unix, 0), r.body); r.header.Get(alerts.HeaderSignature) != want {
		t.Fatalf("signature %q, want %q", r.header.Get(alerts.HeaderSignature), want)
	}
	if r.header.Get(alerts.HeaderID) != w.ID {
		t.Fatalf("id header %q, want %q", r.header.Get(alerts.HeaderID), w.ID)
	}
}

func TestDeletionGuardAndPermanentErrorsNotifyOncePerProblem(t *testing.T) {
	f := newFixture(t)
	s := f.service(always)
	f.detect(s)
	guard := "deletion guard: the cycle would trash 40 of 60 rows (67%), more than MaxTrashFraction 0.5"
	f.end("customers", rdb.RunWarning, guard)
	f.end("customers", rdb.RunWarning, strings.ReplaceAll(guard, "40", "41")) // same problem, other counts
	f.detect(s)
	f.end("customers", rdb.RunSucceeded, "")
	f.end("projects", rdb.RunFailed, runs.WhyPermanent+`: property "Due": date "tomorrow" is not ISO 8601`)
	f.end("projects", rdb.RunFailed, runs.WhyPermanent+`: property "Owner": email "x" is invalid`)
	f.end("teams", rdb.RunFailed, runs.WhyPermanent+`: property "Due": date "tomorrow" is not ISO 8601`)
	f.end("teams", rdb.RunFailed, runs.WhyPermanent+`: property "Due": date "tomorrow" is not ISO 8601`)
	f.detect(s)
	f.send(s)
	var titles []string
	for _, n := range f.json.notifications(t) {
		titles = append(titles, n.Title)
	}
	want := []string{
		"customers is WARNING (was HEALTHY)",                // the guard's warning end, in the health change
		"customers is HEALTHY again (was WARNING)",          // the next success
		"projects is WARNING (was HEALTHY)",                 // a first permanent error
		"projects failed with an error retrying cannot fix", // another one, health still WARNING
		"teams is WARNING (was HEALTHY)",                    // the same error twice: once
	}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Fatalf("notifications =\n%q\nwant\n%q", titles, want)
	}
	n := f.json.notifications(t)[0]
	if !strings.Contains(n.Text, "--allow-trash") || !strings.HasPrefix(n.Error, "deletion guard") {
		t.Fatalf("guard notification does not say what to do: %+v", n)
	}
}

func TestReceiverDownThenUpDeliversOnce(t *testing.T) {
	f := newFixture(t)
	s := f.service(always)
	f.detect(s)
	f.json.down.Store(true)
	f.end("tickets", rdb.RunFailed, "boom")
	f.detect(s)
	for range 5 {
		f.send(s) // each attempt fails: retried with backoff, never lost
		time.Sleep(60 * time.Millisecond)
	}
	if n := len(f.json.received()); n != 0 {
		t.Fatalf("a down receiver recorded %d deliveries", n)
	}
	recent, err := f.rdb.RecentAlerts(context.Background(), 10)
	if err != nil || len(recent) != 1 || recent[0].Deliveries[0].Status != "retrying" || recent[0].Deliveries[0].Attempts < 2 {
		t.Fatalf("recent while the receiver is down: %+v %v", recent, err)
	}
	f.json.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for len(f.json.received()) == 0 && time.Now().Before(deadline) {
		f.send(s)
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		f.send(s)
		time.Sleep(60 * time.Millisecond)
	}
	if n := len(f.json.received()); n != 1 {
		t.Fatalf("after the receiver came back it got %d deliveries, want 1", n)
	}
	recent, _ = f.rdb.RecentAlerts(context.Background(), 10)
	if d := recent[0].Deliveries[0]; d.Status != "delivered" || d.Delivered.IsZero() {
		t.Fatalf("delivery after recovery: %+v", d)
	}
}

func TestFailoverNeitherRepeatsNorLoses(t *testing.T) {
	f := newFixture(t)
	var aLeads atomic.Bool
	aLeads.Store(true)
	a := f.service(aLeads.Load)
	b := f.service(func() bool { return !aLeads.Load() })
	f.detect(a)
	f.end("tickets", rdb.RunFailed, "boom")
	// The old leader records the transition and dies before sending.
	f.detect(a)
	aLeads.Store(false)
	// The new leader detects again: nothing new. It sends what a left.
	f.detect(b)
	f.send(b)
	// A stale leader that wakes up and detects the same ends changes
	// nothing either: its pass compares the state first.
	f.detect(a)
	f.send(b)
	if n := f.json.notifications(t); len(n) != 1 || n[0].Title != "tickets is WARNING (was HEALTHY)" {
		t.Fatalf("after a failover the receiver got %+v, want one WARNING", n)
	}
}

func TestSenderThatDiesMidSendLeavesItToTheNext(t *testing.T) {
	f := newFixture(t)
	hang := make(chan struct{})
	var hung atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Add(1) == 1 {
			<-hang // the first sender's request never completes
			return
		}
		f.json.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer slow.Close()
	defer close(hang)
	dest := alerts.Destination{URL: slow.URL, Format: alerts.FormatJSON}
	a, err := alerts.New(alerts.Config{Ops: f.ops, Leader: always, Destinations: []alerts.Destination{dest}, SendTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.detect(a)
	f.end("tickets", rdb.RunFailed, "boom")
	f.detect(a)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }() // the leader dies mid-send
	_ = a.Send(ctx)
	b, err := alerts.New(alerts.Config{Ops: f.ops, Leader: always, Destinations: []alerts.Destination{dest}, SendTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(f.json.received()) == 0 && time.Now().Before(deadline) {
		f.send(b)
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(f.json.received()); n != 1 {
		t.Fatalf("the next leader delivered %d, want 1", n)
	}
}

func TestSlackFormatAndTest(t *testing.T) {
	f := newFixture(t)
	slack := newReceiver(t)
	s := f.service(always, alerts.Destination{URL: slack.srv.URL, Format: alerts.FormatSlack},
		alerts.Destination{URL: f.json.srv.URL, Format: alerts.FormatJSON})
	n, res, err := s.SendTest(context.Background(), "")
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("SendTest: %+v %v", res, err)
	}
	var body map[string]string
	if got := slack.received(); len(got) != 1 || json.Unmarshal(got[0].body, &body) != nil || len(body) != 1 || !strings.Contains(body["text"], "synq test notification") {
		t.Fatalf("slack received %+v", slack.received())
	}
	// The leader's sender never sends a test again.
	f.send(s)
	if len(slack.received()) != 1 || len(f.json.received()) != 1 {
		t.Fatalf("a test was sent twice: slack %d, json %d", len(slack.received()), len(f.json.received()))
	}
	recent, _ := f.rdb.RecentAlerts(context.Background(), 5)
	if len(recent) != 1 || recent[0].ID != n.ID || len(recent[0].Deliveries) != 2 || recent[0].Deliveries[0].Status != "delivered" || recent[0].Deliveries[0].Attempts != 1 {
		t.Fatalf("recent after a test: %+v", recent)
	}
	// A dead destination is reported, not hidden.
	dead := f.service(always, alerts.Destination{URL: "http://127.0.0.1:1/hook", Format: alerts.FormatSlack})
	if _, res, err := dead.SendTest(context.Background(), ""); err != nil || res[0].Err == nil {
		t.Fatalf("test to a dead destination: %+v %v", res, err)
	}
	none, _ := alerts.New(alerts.Config{Ops: f.ops, Leader: always})
	if _, _, err := none.SendTest(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "SYNQ_ALERT_WEBHOOK_URL") {
		t.Fatalf("test without destinations: %v", err)
	}
}

func TestParseDestinations(t *testing.T) {
	ds, err := alerts.ParseDestinations("SYNQ_ALERT_WEBHOOK_URL", alerts.FormatSlack, []string{"https://hooks.slack.com/services/T/B/x, http://127.0.0.1:9/a", ""})
	if err != nil || len(ds) != 2 || ds[0].ID() == ds[1].ID() {
		t.Fatalf("ParseDestinations: %+v %v", ds, err)
	}
	if strings.Contains(ds[0].String(), "services") {
		t.Fatalf("String shows the URL's secret path: %s", ds[0])
	}
	_, err = alerts.ParseDestinations("SYNQ_ALERT_WEBHOOK_URL", alerts.FormatSlack, []string{"hooks.slack.com/services/T/B/secret"})
	if err == nil || !strings.Contains(err.Error(), "SYNQ_ALERT_WEBHOOK_URL") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("a URL without scheme: %v", err)
	}
}

func TestRateLimitStep(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	v, a := alerts.RateLimitStep("", 5, at(0))
	if a != "" {
		t.Fatalf("a first look alerted: %q", a)
	}
	// A few 429s, spread out: synq waits them out, nobody is told.
	for i, step := range []int64{8, 12, 15} {
		v, a = alerts.RateLimitStep(v, step, at(time.Duration(i+1)*4*time.Minute))
		if a != "" {
			t.Fatalf("a trickle of 429s alerted at %d: %q", step, a)
		}
	}
	// 20 more within the window: once.
	v, a = alerts.RateLimitStep(v, 40, at(13*time.Minute))
	if a != alerts.SeverityError {
		t.Fatalf("a burst of 429s: %q (%s)", a, v)
	}
	v, a = alerts.RateLimitStep(v, 90, at(14*time.Minute))
	if a != "" {
		t.Fatalf("a second alert for the same burst: %q", a)
	}
	// Quiet for RateLimitedQuiet: resolved, once.
	v, a = alerts.RateLimitStep(v, 90, at(14*time.Minute+alerts.RateLimitedQuiet-time.Second))
	if a != "" {
		t.Fatalf("resolved too early: %q", a)
	}
	v, a = alerts.RateLimitStep(v, 90, at(14*time.Minute+alerts.RateLimitedQuiet))
	if a != alerts.SeverityResolved {
		t.Fatalf("quiet budget: %q (%s)", a, v)
	}
	if _, a = alerts.RateLimitStep(v, 91, at(40*time.Minute)); a != "" {
		t.Fatalf("one 429 after recovery alerted: %q", a)
	}
}
