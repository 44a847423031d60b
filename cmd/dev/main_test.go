package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/logging"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// A REDIS_URL that does not work stops dev before it starts anything, with
// one line that names the variable and hides the password.
func TestBadRedisURLIsOneLine(t *testing.T) {
	dead := redistest.Start(t)
	dead.Stop()
	for url, want := range map[string]string{
		"redis//:hunter22@localhost":                      "not a Redis URL",
		"redis://:hunter22@" + dead.Addr() + "/0":         "nothing answers at " + dead.Addr(),
		"redis+sentinel://:hunter22@" + dead.Addr() + "/": "no master name",
	} {
		t.Setenv("REDIS_URL", url)
		dir := t.TempDir()
		err := run(context.Background(), options{dir: dir, binDir: dir, executors: 1})
		if err == nil {
			t.Fatalf("dev ran with REDIS_URL=%s", url)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "REDIS_URL=") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") || strings.Contains(msg, "hunter22") {
			t.Errorf("REDIS_URL=%s: %q, want one line naming REDIS_URL that says %q without the password", url, msg, want)
		}
	}
}

// In JSON, what a child printed as it died (not a log record) and dev's
// own last error are ERROR records, not INFO.
func TestDeathIsAnError(t *testing.T) {
	var b strings.Builder
	o := newOutput(&b, logging.JSON)
	o.child("my-worker", `my-worker: worker "w" cannot start: sync "a" is already declared by worker "synq-demo"`)
	o.fail("dev: my-worker exited: exit status 1")
	o.child("executor", `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"executor started"}`)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, l := range lines[:2] {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] != "ERROR" {
			t.Errorf("line %d is not an ERROR record (%v): %s", i, err, l)
		}
	}
	if !strings.Contains(lines[2], `"process":"executor"`) || !strings.Contains(lines[2], `"level":"INFO"`) {
		t.Errorf("a child's own record changed: %s", lines[2])
	}
}

// --fresh removes the emulator's and Redis's data together, and leaves
// the logs and built workers.
func TestResetDataRemovesBoth(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"notion", "redis", "logs", "workers"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := resetData(dir); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{"notion": false, "redis": false, "logs": true, "workers": true} {
		if _, err := os.Stat(filepath.Join(dir, d, "f")); (err == nil) != want {
			t.Errorf("%s kept: %v, want %v", d, err == nil, want)
		}
	}
}
