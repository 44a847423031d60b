package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// Each role exports its own metrics only: no "leader 0" on executors, no
// empty queue lag on schedulers.
func TestRoles(t *testing.T) {
	x, s := NewExecutor(), NewScheduler()
	x.QueueLag.Observe(1)
	x.Leader.Set(1) // not registered: never exported
	s.Leader.Set(1)
	s.QueueLag.Observe(1)
	names := func(m *Metrics) string {
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			out = append(out, mf.GetName())
		}
		return strings.Join(out, " ")
	}
	if n := names(x); !strings.Contains(n, "synq_queue_lag_seconds") || strings.Contains(n, "synq_scheduler_leader") {
		t.Errorf("executor exports %s", n)
	}
	if n := names(s); strings.Contains(n, "synq_queue_lag_seconds") || !strings.Contains(n, "synq_scheduler_leader") {
		t.Errorf("scheduler exports %s", n)
	}
}

func TestHealthz(t *testing.T) {
	m := NewExecutor()
	srv, err := m.Listen("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Start(t.Context())
	defer srv.Stop(t.Context())
	get := func() (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != 200 {
		t.Errorf("healthz without a check: %d", code)
	}
	srv.SetHealth(func() error { return errors.New("starting") })
	if code, body := get(); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("healthz while starting: %d %q", code, body)
	}
	srv.SetHealth(func() error { return nil })
	if code, _ := get(); code != 200 {
		t.Errorf("healthz when ready: %d", code)
	}
}
