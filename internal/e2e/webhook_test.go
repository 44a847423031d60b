package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

const webhookSecret = "e2e-webhook-secret"

var webhookAddrRE = regexp.MustCompile(`serving webhooks"? addr=(\S+)`)

// hookExecutor starts a test worker serving webhooks on a free port and
// returns it with the URL of its "events" webhook.
func (s *stack) hookExecutor(env ...string) (*proc, string) {
	s.t.Helper()
	p := s.executor(append([]string{"E2E_WEBHOOK=1", "SYNQ_WEBHOOK_ADDR=127.0.0.1:0", "E2E_WEBHOOK_SECRET=" + webhookSecret}, env...)...)
	var addr string
	s.waitFor(10*time.Second, "the webhook server", func() bool {
		m := webhookAddrRE.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	st, err := s.rdb.Webhook(context.Background(), "events")
	if err != nil || st.Token == "" {
		s.t.Fatalf("webhook events has no token: %+v, %v", st, err)
	}
	return p, "http://" + addr + "/webhooks/events/" + st.Token
}

type hookEvent struct {
	Key     string `json:"key,omitempty"`
	Title   string `json:"title,omitempty"`
	N       int64  `json:"n,omitempty"`
	Fail    int    `json:"fail,omitempty"`
	Sleep   string `json:"sleep,omitempty"`
	Trigger bool   `json:"trigger,omitempty"`
}

var hookClient = &http.Client{Timeout: 30 * time.Second}

// deliver posts ev signed with secret under delivery id (none: "") and
// returns the status.
func deliver(t testing.TB, url, id, secret string, ev hookEvent) int {
	t.Helper()
	body, _ := json.Marshal(ev)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", "sha256="+synq.SignHMACSHA256(secret, body))
	if id != "" {
		req.Header.Set("X-Delivery-Id", id)
	}
	resp, err := hookClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hookedRows returns the rows of the "hooked" database by key.
func (s *stack) hookedRows() map[string]*notion.Page { return s.rowsOf("hooked") }

// rowsOf returns the rows of a database by key.
func (s *stack) rowsOf(db string) map[string]*notion.Page {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), db)
	if err != nil || !ok {
		s.t.Fatalf("%s not provisioned: %v", db, err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	rows := map[string]*notion.Page{}
	err = nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		k := p.Properties["Key"].Text()
		if rows[k] != nil {
			s.t.Errorf("key %q has two rows", k)
		}
		rows[k] = p
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return rows
}

func (s *stack) delivery(id string) rdb.WebhookDeliveryRecord {
	s.t.Helper()
	ds, err := s.rdb.WebhookDeliveries(context.Background(), "events", 0)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d
		}
	}
	return rdb.WebhookDeliveryRecord{}
}

func (s *stack) waitDelivery(id, status string, d time.Duration) rdb.WebhookDeliveryRecord {
	s.t.Helper()
	var got rdb.WebhookDeliveryRecord
	s.waitFor(d, "delivery "+id+" "+status, func() bool {
		got = s.delivery(id)
		return got.Status == status
	})
	return got
}

// TestWebhooks: signed deliveries become rows; bad signatures are
// refused, counted and, five in a row, disable the webhook until `ctl
// webhooks enable`; a replayed delivery id is handled once; a failing
// handler is retried, then writes its row.
func TestWebhooks(t *testing.T) {
	s := newStack(t)
	_, url := s.hookExecutor()
	addr := s.scheduler()

	t.Run("signed delivery writes the row", func(t *testing.T) {
		if code := deliver(t, url, "d-1", webhookSecret, hookEvent{Key: "T-1", Title: "first", N: 1}); code != http.StatusAccepted {
			t.Fatalf("signed delivery answered %d, want 202", code)
		}
		d := s.waitDelivery("d-1", rdb.DeliveryHandled, 30*time.Second)
		rows := s.hookedRows()
		if rows["T-1"] == nil || rows["T-1"].Properties["Title"].Text() != "first" {
			t.Fatalf("row T-1 after the delivery: %+v", rows["T-1"])
		}
		if d.Rows["created"] != 1 || d.Attempts != 1 {
			t.Fatalf("delivery record %+v, want one attempt that created one row", d)
		}
	})

	t.Run("bad signature is rejected and counted", func(t *testing.T) {
		before, _ := s.rdb.Webhook(context.Background(), "events")
		if code := deliver(t, url, "d-bad", "wrong-secret", hookEvent{Key: "T-bad"}); code != http.StatusUnauthorized {
			t.Fatalf("bad signature answered %d, want 401", code)
		}
		after, _ := s.rdb.Webhook(context.Background(), "events")
		if after.Rejected != before.Rejected+1 {
			t.Fatalf("rejected %d → %d, want one more", before.Rejected, after.Rejected)
		}
		if d := s.delivery("d-bad"); d.Status != rdb.DeliveryRejected {
			t.Fatalf("rejected delivery's record: %+v", d)
		}
		time.Sleep(time.Second)
		if s.hookedRows()["T-bad"] != nil {
			t.Fatal("a delivery with a bad signature wrote its row")
		}
		if len(s.marks("webhook:T-bad")) != 0 {
			t.Fatal("a delivery with a bad signature was handled")
		}
	})

	t.Run("replayed delivery id is handled once", func(t *testing.T) {
		for i := range 5 {
			if code := deliver(t, url, "d-replay", webhookSecret, hookEvent{Key: "T-replay", N: int64(i)}); code != http.StatusAccepted {
				t.Fatalf("delivery %d answered %d, want 202", i, code)
			}
		}
		s.waitDelivery("d-replay", rdb.DeliveryHandled, 30*time.Second)
		time.Sleep(2 * time.Second)
		if n := len(s.marks("webhook:T-replay")); n != 1 {
			t.Fatalf("replayed delivery handled %d times, want once", n)
		}
		if r := s.hookedRows()["T-replay"]; r == nil || r.Properties["N"].Number == nil || *r.Properties["N"].Number != 0 {
			t.Fatalf("row T-replay = %+v, want the first delivery's", r)
		}
	})

	t.Run("handler error is retried, then the row", func(t *testing.T) {
		if code := deliver(t, url, "d-flaky", webhookSecret, hookEvent{Key: "T-flaky", Title: "third time", Fail: 2}); code != http.StatusAccepted {
			t.Fatalf("answered %d", code)
		}
		d := s.waitDelivery("d-flaky", rdb.DeliveryHandled, 60*time.Second)
		if d.Attempts != 3 {
			t.Fatalf("delivery %+v, want handled on its third attempt", d)
		}
		if r := s.hookedRows()["T-flaky"]; r == nil || r.Properties["Title"].Text() != "third time" {
			t.Fatalf("row T-flaky = %+v", r)
		}
	})

	t.Run("five bad signatures disable it; ctl webhooks enable", func(t *testing.T) {
		for i := range 5 {
			if code := deliver(t, url, fmt.Sprintf("d-bad-%d", i), "wrong", hookEvent{Key: "T-x"}); code != http.StatusUnauthorized {
				t.Fatalf("bad delivery %d answered %d", i, code)
			}
		}
		if code := deliver(t, url, "d-while-off", webhookSecret, hookEvent{Key: "T-off"}); code != http.StatusServiceUnavailable {
			t.Fatalf("delivery to a disabled webhook answered %d, want 503", code)
		}
		out, errOut, code := s.ctl(addr, "webhooks", "list", "--plain")
		if code != 0 || !strings.Contains(out, "events") || !strings.Contains(out, "disabled") {
			t.Fatalf("ctl webhooks list (exit %d):\n%s%s", code, out, errOut)
		}
		if _, errOut, code := s.ctl(addr, "webhooks", "enable", "events"); code != 0 {
			t.Fatalf("ctl webhooks enable: exit %d: %s", code, errOut)
		}
		// An executor trusts what it read of the webhook for half a second.
		s.waitFor(5*time.Second, "a delivery accepted after enable", func() bool {
			return deliver(t, url, "d-back", webhookSecret, hookEvent{Key: "T-back"}) == http.StatusAccepted
		})
		s.waitDelivery("d-back", rdb.DeliveryHandled, 30*time.Second)
		out, _, _ = s.ctl(addr, "webhooks", "deliveries", "events", "--plain")
		if !strings.Contains(out, "d-back") || !strings.Contains(out, "handled") || !strings.Contains(out, "rejected") {
			t.Fatalf("ctl webhooks deliveries:\n%s", out)
		}
	})

	t.Run("rotate replaces the URL token", func(t *testing.T) {
		if _, errOut, code := s.ctl(addr, "webhooks", "rotate", "events"); code != 0 {
			t.Fatalf("ctl webhooks rotate: exit %d: %s", code, errOut)
		}
		s.waitFor(5*time.Second, "the old URL to answer 404", func() bool {
			return deliver(t, url, "d-old-url", webhookSecret, hookEvent{Key: "T-old"}) == http.StatusNotFound
		})
		out, _, _ := s.ctl(addr, "webhooks", "list", "--plain")
		m := regexp.MustCompile(`http://\S+/webhooks/events/\S+`).FindString(out)
		if m == "" || m == url {
			t.Fatalf("ctl webhooks list shows no new URL:\n%s", out)
		}
		if code := deliver(t, m, "d-new-url", webhookSecret, hookEvent{Key: "T-new"}); code != http.StatusAccepted {
			t.Fatalf("delivery to the new URL %s answered %d", m, code)
		}
	})
}

// TestWebhookRedisOutage: with Redis down a delivery is answered 503,
// never 202; every delivery answered 202 is handled once Redis is back.
func TestWebhookRedisOutage(t *testing.T) {
	s := newStack(t)
	_, url := s.hookExecutor()
	var accepted []string
	for i := range 20 {
		id := fmt.Sprintf("o-%d", i)
		if code := deliver(t, url, id, webhookSecret, hookEvent{Key: "K-" + id, Sleep: "500ms"}); code != http.StatusAccepted {
			t.Fatalf("delivery %s answered %d", id, code)
		}
		accepted = append(accepted, id)
	}
	s.redis.StopSaving()
	var during []int
	for i := range 5 {
		during = append(during, deliver(t, url, fmt.Sprintf("down-%d", i), webhookSecret, hookEvent{Key: fmt.Sprintf("K-down-%d", i)}))
	}
	for _, c := range during {
		if c != http.StatusServiceUnavailable {
			t.Fatalf("deliveries while Redis is down answered %v, want 503 each", during)
		}
	}
	s.redis.Relaunch()
	s.waitFor(4*time.Minute, "every accepted delivery handled", func() bool {
		rows := s.hookedRows()
		for _, id := range accepted {
			if rows["K-"+id] == nil {
				return false
			}
		}
		return true
	})
}

// TestWebhookExecutorKilled: a delivery stored (202) on an executor that
// is killed (kill -9) while it handles it is handled by another.
func TestWebhookExecutorKilled(t *testing.T) {
	s := newStack(t)
	a, url := s.hookExecutor()
	if code := deliver(t, url, "k-1", webhookSecret, hookEvent{Key: "K-killed", Sleep: "2s"}); code != http.StatusAccepted {
		t.Fatalf("answered %d", code)
	}
	s.waitFor(30*time.Second, "the handler to start", func() bool { return len(s.marks("webhook:K-killed")) == 1 })
	a.signal(syscall.SIGKILL)
	s.hookExecutor()
	s.waitFor(3*time.Minute, "the row from another executor", func() bool { return s.hookedRows()["K-killed"] != nil })
	if d := s.delivery("k-1"); d.Status != rdb.DeliveryHandled {
		t.Fatalf("delivery after the kill: %+v", d)
	}
}

// TestWebhookTriggerCoalesced: 1,000 deliveries asking for one sync's run
// start at most one run now and one after it.
func TestWebhookTriggerCoalesced(t *testing.T) {
	s := newStack(t, "E2E_SLOW=20s")
	_, url := s.hookExecutor()
	s.scheduler()
	const n = 1000
	var accepted atomic.Int64
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				if deliver(t, url, fmt.Sprintf("b-%d", i), webhookSecret, hookEvent{Trigger: true}) == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if accepted.Load() != n {
		t.Fatalf("%d of %d deliveries accepted", accepted.Load(), n)
	}
	s.waitFor(3*time.Minute, "every delivery handled", func() bool {
		st, _ := s.rdb.Webhook(context.Background(), "events")
		return st.Handled >= n
	})
	// The run after the first (if any) starts when the first ends.
	s.waitFor(2*time.Minute, "no run active and no request left", func() bool {
		st, _ := s.rdb.GetSyncStatus(context.Background(), "slowSync")
		reqs, _ := s.rdb.TriggerRequests(context.Background())
		return st.ActiveRun == "" && len(reqs) == 0
	})
	time.Sleep(time.Second)
	runs, err := s.ops.Runs(context.Background(), "slowSync", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deliveries asking for slowSync started %d runs", n, len(runs))
	if len(runs) < 1 || len(runs) > 2 {
		t.Fatalf("%d runs of slowSync, want 1 or 2", len(runs))
	}
}
