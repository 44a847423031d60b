package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ctl runs the ctl binary and returns stdout, stderr and the exit code.
func (s *stack) ctl(addr string, args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binaries(s.t), "ctl"), args...)
	cmd.Env = []string{"SYNQ_ADDR=" + addr, "SYNQ_TOKEN=" + controlToken, "PATH=/usr/bin:/bin"}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var runIDRE = regexp.MustCompile(`pagesSync-\d{8}T\d{6}-[0-9a-f]{6}`)

func TestCtl(t *testing.T) {
	s := newStack(t, "E2E_PAGES=3", "E2E_ROWS=2", "E2E_SLEEP=200ms")
	s.executor()
	addr := s.scheduler()
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := s.ctl(addr, args...)
		if code != 0 {
			t.Fatalf("ctl %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}

	// --help exits 0 and names the commands.
	if out := must("--help"); !strings.Contains(out, "trigger") || !strings.Contains(out, "capabilities") {
		t.Fatalf("--help:\n%s", out)
	}

	// status: JSON when piped, a table with -o table.
	var list struct {
		Syncs []struct {
			Key    string `json:"key"`
			Health string `json:"health"`
		} `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(must("status")), &list); err != nil || len(list.Syncs) != 7 {
		t.Fatalf("status JSON: %v %+v", err, list)
	}
	if out := must("status", "pagesSync", "-o", "table"); !strings.Contains(out, "SYNC") || !strings.Contains(out, "pagesSync") || !strings.Contains(out, "INITIALIZING") {
		t.Fatalf("status table:\n%s", out)
	}

	// trigger, runs list, logs --follow.
	out := must("trigger", "pagesSync", "-o", "table")
	run := runIDRE.FindString(out)
	if run == "" || !strings.Contains(out, "ctl runs logs") {
		t.Fatalf("trigger:\n%s", out)
	}
	logs := must("runs", "logs", run, "--follow", "-o", "table")
	if !strings.Contains(logs, "fetching page") || !strings.Contains(logs, "run "+run+" succeeded") {
		t.Fatalf("runs logs --follow:\n%s", logs)
	}
	if out := must("runs", "list", "pagesSync", "--plain"); !strings.HasPrefix(out, run+"\tpagesSync\tmanual\tsucceeded") {
		t.Fatalf("runs list --plain:\n%q", out)
	}
	if out := must("runs", "list", "-o", "table"); !strings.Contains(out, "RUN") || !strings.Contains(out, "+6 ~0 =0 -0 !0") {
		t.Fatalf("runs list table:\n%s", out)
	}
	var runs struct {
		Runs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(must("runs", "list")), &runs); err != nil || runs.Runs[0].Status != "succeeded" {
		t.Fatalf("runs list JSON: %v %+v", err, runs)
	}
	// JSON for scripts: lowercase enum names, counters as numbers.
	var counted struct {
		Runs []struct {
			Trigger  string `json:"trigger"`
			Counters struct {
				Pages   int `json:"pages"`
				Created int `json:"created"`
				Skipped int `json:"skipped"`
			} `json:"counters"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(must("runs", "list", "pagesSync")), &counted); err != nil || counted.Runs[0].Trigger != "manual" ||
		counted.Runs[0].Counters.Pages != 3 || counted.Runs[0].Counters.Created != 6 {
		t.Fatalf("runs list JSON counters: %v %+v", err, counted)
	}
	if !strings.Contains(must("status", "pagesSync"), `"health": "healthy"`) {
		t.Fatalf("status JSON health is not lowercase:\n%s", must("status", "pagesSync"))
	}

	// The latest run by sync key; a run's log followed from its trigger.
	if out := must("runs", "logs", "pagesSync", "-o", "table"); !strings.Contains(out, "run "+run+" (the latest of pagesSync, succeeded)") || !strings.Contains(out, "fetching page") {
		t.Fatalf("runs logs KEY:\n%s", out)
	}
	out = must("trigger", "pagesSync", "--follow", "-o", "table")
	if second := runIDRE.FindString(out); second == "" || second == run || !strings.Contains(out, "run "+second+" succeeded: 3 pages") || !strings.Contains(out, "=6") {
		t.Fatalf("trigger --follow:\n%s", out)
	}
	if _, errOut, code := s.ctl(addr, "runs", "logs", "noopSync"); code != 1 || !strings.Contains(errOut, "has no runs yet") {
		t.Fatalf("runs logs of a sync without runs: exit %d %q", code, errOut)
	}
	// Legend under every table with row counters.
	if out := must("runs", "list", "-o", "table"); !strings.Contains(out, "!skipped") {
		t.Fatalf("runs list without a legend:\n%s", out)
	}
	// Output to /dev/null is no terminal: status prints once and exits.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd := exec.Command(filepath.Join(binaries(t), "ctl"), "status")
	cmd.Env = []string{"SYNQ_ADDR=" + addr, "SYNQ_TOKEN=" + controlToken}
	cmd.Stdout = devnull
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ctl status > /dev/null: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("ctl status > /dev/null opened the live view (still running after 15s)")
	}

	// preview and state.
	// The counts come first; unchanged rows are counted, not listed (and
	// leave no gap of blank lines).
	if out := must("sync", "trigger", "pagesSync", "--preview", "--state", `{"page":1}`, "-o", "table"); !strings.HasPrefix(out, "0 created · 0 updated · 2 unchanged · 0 trashed\n\nhas_more: true") ||
		strings.Contains(out, "pagesSync-001-000") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("preview:\n%s", out)
	}
	if out := must("state", "get", "pagesSync"); !strings.Contains(out, `"state": null`) {
		t.Fatalf("state get after a completed replace cycle:\n%s", out)
	}
	must("trigger", "scheduledSync")
	time.Sleep(1500 * time.Millisecond)
	// The scheduler may have run scheduledSync once already (page 3 after
	// it); incremental state carries over, so the manual run ends at 4.
	if out := must("sync", "state", "get", "scheduledSync", "-o", "table"); !strings.Contains(out, `"page": 3`) && !strings.Contains(out, `"page": 4`) {
		t.Fatalf("incremental state:\n%s", out)
	}
	must("state", "reset", "scheduledSync")
	if out := must("state", "get", "scheduledSync"); !strings.Contains(out, "null") {
		t.Fatalf("state after reset:\n%s", out)
	}

	// pause / resume and the ntn spellings.
	if out := must("pause", "pagesSync", "-o", "table"); !strings.Contains(out, "paused") {
		t.Fatalf("pause:\n%s", out)
	}
	if _, errOut, code := s.ctl(addr, "trigger", "pagesSync"); code != 1 || !strings.Contains(errOut, "is paused") {
		t.Fatalf("trigger while paused: exit %d %s", code, errOut)
	}
	must("resume", "pagesSync")
	must("capabilities", "disable", "noopSync")
	if out := must("status", "noopSync", "-o", "table"); !strings.Contains(out, "DISABLED") {
		t.Fatalf("after capabilities disable:\n%s", out)
	}
	must("capabilities", "enable", "noopSync")

	// Errors: one line, the right exit code.
	if _, errOut, code := s.ctl(addr, "trigger", "nope"); code != 1 || !strings.Contains(errOut, "known syncs are") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("unknown sync: exit %d %q", code, errOut)
	}
	if _, errOut, code := s.ctl(addr, "cancel", "nope"); code != 1 || !strings.Contains(errOut, "known syncs are") {
		t.Fatalf("cancel an unknown sync: exit %d %q", code, errOut)
	}
	if out, errOut, code := s.ctl(addr, "cancel", "noopSync", "-o", "table"); code != 0 || !strings.Contains(out, "noopSync: no active run to cancel") {
		t.Fatalf("cancel a sync without an active run: exit %d %q %q", code, out, errOut)
	}
	if _, _, code := s.ctl(addr, "trigger"); code != 2 {
		t.Fatalf("missing argument: exit %d, want 2", code)
	}
	if _, _, code := s.ctl(addr, "status", "--bogus"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
	if _, errOut, code := s.ctl("127.0.0.1:1", "status"); code != 1 || !strings.Contains(errOut, "cannot reach the scheduler at 127.0.0.1:1") {
		t.Fatalf("unreachable: exit %d %q", code, errOut)
	}
	if _, errOut, code := s.ctl(addr, "status", "--token", "wrong"); code != 1 || !strings.Contains(errOut, "wrong token") {
		t.Fatalf("wrong token: exit %d %q", code, errOut)
	}
}
