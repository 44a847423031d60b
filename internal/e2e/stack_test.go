package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
)

// TestOneCommandStack runs `make dev`'s program as a new user would, with
// its own redis-server, emulator and demo API: ctl triggers the backfill,
// the emulator ends up with exactly the API's tickets, and changes and
// deletions made in the API arrive through ticketsDelta.
func TestOneCommandStack(t *testing.T) {
	bin := devBinaries(t)
	notionAddr, helpdeskAddr, controlAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	_, redisPort, _ := net.SplitHostPort(freeAddr(t))
	dir := t.TempDir()
	dev := exec.Command(filepath.Join(bin, "dev"), "--dir", dir, "--notion-addr", notionAddr, "--helpdesk-addr", helpdeskAddr,
		"--control-addr", controlAddr, "--console-addr", freeAddr(t), "--redis-port", redisPort, "--metrics-port", "0", "--tickets", "150", "--change-rate", "0")
	dev.Env = append(userEnv(), "SYNQ_NOTION_RATE_LIMIT=0")
	out := &syncBuffer{}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- dev.Wait() }()
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGINT)
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("dev did not stop cleanly on Ctrl-C: %v", err)
			}
		case <-time.After(60 * time.Second):
			_ = dev.Process.Kill()
			t.Errorf("dev did not stop within 60s of Ctrl-C")
		}
		if t.Failed() {
			t.Logf("--- dev output:\n%s", out.String())
		}
	})

	ctl := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "ctl"), append([]string{"--addr", controlAddr}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if err != nil {
			return o.String(), fmt.Errorf("ctl %s: %v: %s", strings.Join(args, " "), err, e.String())
		}
		return o.String(), nil
	}
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor(60*time.Second, "the stack to answer ctl status", func() bool {
		_, err := ctl("status", "--no-watch")
		return err == nil && strings.Contains(out.String(), "synq is running")
	})
	// trigger retries while a scheduled run of the same sync is active.
	trigger := func(sync string) string {
		var run string
		waitFor(60*time.Second, "ctl trigger "+sync+" to be accepted", func() bool {
			o, err := ctl("trigger", sync, "-o", "json")
			var r struct {
				RunID string `json:"run_id"`
			}
			if err != nil || json.Unmarshal([]byte(o), &r) != nil {
				return false
			}
			run = r.RunID
			return run != ""
		})
		waitFor(120*time.Second, "run "+run+" to succeed", func() bool {
			o, err := ctl("runs", "list", sync, "--plain")
			if err != nil {
				return false
			}
			for _, line := range strings.Split(o, "\n") {
				f := strings.Split(line, "\t")
				if len(f) > 3 && f[0] == run {
					if f[3] == "failed" || f[3] == "cancelled" {
						t.Fatalf("run %s: %s", run, line)
					}
					return f[3] == "succeeded"
				}
			}
			return false
		})
		return run
	}

	api := "http://" + helpdeskAddr
	apiTickets := func() map[string]string {
		got := map[string]string{}
		cursor := ""
		for {
			resp, err := http.Get(api + "/v1/tickets?limit=100&cursor=" + cursor)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Data []struct {
					ID, Status string
				}
				NextCursor string `json:"next_cursor"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range page.Data {
				got[tk.ID] = tk.Status
			}
			if cursor = page.NextCursor; cursor == "" {
				return got
			}
		}
	}
	nc, err := notion.New(notion.Config{BaseURL: "http://" + notionAddr, Token: "secret_local_emulator"})
	if err != nil {
		t.Fatal(err)
	}
	notionTickets := func() map[string]string {
		ctx := context.Background()
		var dsID string
		if err := nc.SearchDataSources(ctx, "Tickets", func(d *notion.DataSource) error {
			dsID = d.ID
			return nil
		}); err != nil || dsID == "" {
			t.Fatalf("no Tickets data source in the emulator: %v", err)
		}
		got := map[string]string{}
		if err := nc.QueryAll(ctx, dsID, notion.QueryRequest{}, func(p *notion.Page) error {
			key := p.Properties["Ticket ID"].Text()
			if _, dup := got[key]; dup {
				t.Errorf("ticket %s has two rows", key)
			}
			status := ""
			if s := p.Properties["Status"].Select; s != nil {
				status = s.Name
			}
			got[key] = status
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	same := func(when string) {
		t.Helper()
		want, got := apiTickets(), notionTickets()
		if len(want) != len(got) {
			t.Errorf("%s: the API has %d tickets, the emulator %d rows", when, len(want), len(got))
		}
		for id, st := range want {
			if got[id] != st {
				t.Errorf("%s: ticket %s is %q in the API, %q in Notion", when, id, st, got[id])
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: row %s is in Notion but not in the API", when, id)
			}
		}
	}

	trigger("ticketsBackfill")
	same("after ticketsBackfill")

	// Change one ticket, delete another, add one; the delta brings them.
	req := func(method, path, body string) {
		r, _ := http.NewRequest(method, api+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", method, path, err, resp.Status)
		}
		resp.Body.Close()
	}
	before := apiTickets()
	status := "closed"
	if before["T-00007"] == "closed" {
		status = "open"
	}
	req("PATCH", "/v1/tickets/T-00007", `{"status":"`+status+`"}`)
	req("DELETE", "/v1/tickets/T-00042", "")
	req("POST", "/v1/tickets", `{"title":"Brand new"}`)
	trigger("ticketsDelta")
	same("after ticketsDelta")
	if got := notionTickets(); got["T-00007"] != status || got["T-00042"] != "" || len(got) != len(before) {
		t.Errorf("delta: T-00007 is %q (want %q), T-00042 present %v, %d rows (want %d)", got["T-00007"], status, got["T-00042"] != "", len(got), len(before))
	}
}
