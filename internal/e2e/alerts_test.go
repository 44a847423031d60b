package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/alerts"
)

// alertReceiver is a local endpoint that records the alerts it took; in
// hold mode it keeps every request waiting (a receiver that hangs while
// the leader sends).
type alertReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []alerts.Notification
	raw  [][]byte
	hold chan struct{}
}

func newAlertReceiver(t *testing.T) *alertReceiver {
	rc := &alertReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		hold := rc.hold
		rc.mu.Unlock()
		if hold != nil {
			<-hold
			http.Error(w, "held", http.StatusServiceUnavailable)
			return
		}
		n, err := alerts.Decode(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, n)
		rc.raw = append(rc.raw, b)
		rc.mu.Unlock()
	}))
	t.Cleanup(func() {
		rc.release()
		rc.srv.Close()
	})
	return rc
}

func (rc *alertReceiver) holdAll() {
	rc.mu.Lock()
	rc.hold = make(chan struct{})
	rc.mu.Unlock()
}

func (rc *alertReceiver) release() {
	rc.mu.Lock()
	if rc.hold != nil {
		close(rc.hold)
		rc.hold = nil
	}
	rc.mu.Unlock()
}

func (rc *alertReceiver) titles() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, n := range rc.got {
		out = append(out, n.Title)
	}
	return out
}

// A sync that fails three times gives one WARNING and one ERROR at the
// receiver, then HEALTHY after a success — sent once by the next leader
// when the leader dies mid-send — and `ctl alerts test` sends one.
func TestAlertsEndToEnd(t *testing.T) {
	rc := newAlertReceiver(t)
	s := newStack(t, "E2E_FLIP=1", "SYNQ_ALERT_JSON_URL="+rc.srv.URL+"/synq", "SYNQ_ALERT_SECRET=alert-secret", "SYNQ_CONSOLE_URL=http://console.example:7078/")
	s.executor()
	a := s.start("scheduler", "SYNQ_CONTROL_TOKEN="+controlToken)
	s.waitFor(30*time.Second, "the first scheduler leads", func() bool { return strings.Contains(a.out.String(), "leadership changed") })
	broken := s.mark + ".broken"
	if err := os.WriteFile(broken, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	trigger := func() string {
		t.Helper()
		run, err := s.ops.Trigger(t.Context(), "flipSync", "manual")
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	var runs []string
	for i := range 3 {
		run := trigger()
		if r := s.waitRun(run, 60*time.Second); r.Status != "failed" {
			t.Fatalf("run %d of the broken sync: %s", i+1, r.Status)
		}
		runs = append(runs, run)
	}
	s.waitFor(60*time.Second, "WARNING and ERROR at the receiver", func() bool { return len(rc.titles()) >= 2 })
	time.Sleep(3 * time.Second) // nothing else arrives
	if got := rc.titles(); strings.Join(got, "|") != "flipSync is WARNING (was HEALTHY)|flipSync is ERROR (was WARNING)" {
		t.Fatalf("after three failures the receiver has %q", got)
	}
	rc.mu.Lock()
	w, e, raw := rc.got[0], rc.got[1], rc.raw[0]
	rc.mu.Unlock()
	if w.Kind != alerts.KindHealth || w.Severity != "warning" || w.Sync != "flipSync" || w.Run != runs[0] || w.Health != "WARNING" ||
		!strings.Contains(w.Error, "helpdesk answered 502 Bad Gateway") || w.URL != "http://console.example:7078/syncs/flipSync" || w.ID == "" {
		t.Fatalf("the WARNING notification: %+v\n%s", w, raw)
	}
	if e.Severity != "error" || e.Run != runs[2] || e.PreviousHealth != "WARNING" || !strings.Contains(e.Text, "3 runs in a row failed") {
		t.Fatalf("the ERROR notification: %+v", e)
	}

	// The leader records the recovery, then dies while sending it.
	rc.holdAll()
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	if r := s.waitRun(trigger(), 60*time.Second); r.Status != "succeeded" {
		t.Fatalf("the mended sync's run: %s", r.Status)
	}
	s.waitFor(60*time.Second, "the leader sending HEALTHY", func() bool {
		recent, err := s.rdb.RecentAlerts(t.Context(), 1)
		return err == nil && len(recent) == 1 && len(recent[0].Deliveries) == 1 && recent[0].Deliveries[0].Status == "sending"
	})
	a.signal(syscall.SIGKILL)
	if _, ok := a.exited(10 * time.Second); !ok {
		t.Fatal("the killed leader did not exit")
	}
	rc.release()
	addr := s.scheduler() // the next leader
	s.waitFor(90*time.Second, "HEALTHY from the next leader", func() bool { return len(rc.titles()) >= 3 })
	time.Sleep(3 * time.Second)
	if got := rc.titles(); len(got) != 3 || got[2] != "flipSync is HEALTHY again (was ERROR)" {
		t.Fatalf("after the failover the receiver has %q, want WARNING, ERROR and one HEALTHY", got)
	}

	out, errOut, code := s.ctl(addr, "alerts", "test")
	if code != 0 || !strings.Contains(out, "delivered") {
		t.Fatalf("ctl alerts test: %d\n%s\n%s", code, out, errOut)
	}
	s.waitFor(10*time.Second, "the test notification", func() bool { return len(rc.titles()) == 4 })
	if got := rc.titles()[3]; got != "synq test notification" {
		t.Fatalf("ctl alerts test sent %q", got)
	}
	out, errOut, code = s.ctl(addr, "alerts", "list", "-o", "table")
	if code != 0 || !strings.Contains(out, "flipSync is HEALTHY again (was ERROR)") || !strings.Contains(out, "delivered") {
		t.Fatalf("ctl alerts list: %d\n%s\n%s", code, out, errOut)
	}
}
