package executor

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The engine logs with the page's platform logger; user code gets its
// user variant (synq.Logger swaps it): each line, in the run's log and in
// the executor's, says who wrote it.
func TestRunLogTagsPlatformAndUser(t *testing.T) {
	var out bytes.Buffer
	platform, buf := newRunLogger(slog.NewTextHandler(&out, nil), 3)
	platform = platform.With("sync", "ticketsDelta")
	platform.Warn("related rows not written yet")
	h, ok := platform.Handler().(interface{ UserHandler() slog.Handler })
	if !ok {
		t.Fatal("the platform handler has no user variant")
	}
	slog.New(h.UserHandler()).Info("fetching page", "cursor", "c1")

	lines := buf.take()
	if len(lines) != 2 || lines[0].Source != "platform" || lines[1].Source != "user" || lines[1].Attrs["sync"] != "ticketsDelta" || lines[1].Page != 3 {
		t.Fatalf("run log lines = %+v", lines)
	}
	text := out.String()
	if !strings.Contains(text, `msg="related rows not written yet" sync=ticketsDelta source=platform`) ||
		!strings.Contains(text, `msg="fetching page" sync=ticketsDelta cursor=c1 source=user`) {
		t.Fatalf("executor log:\n%s", text)
	}
}

// An executor started by hand against `make dev` without
// NOTION_API_BASE_URL is refused before it calls the real api.notion.com
// with the emulator's token.
func TestEmulatorTokenNeedsTheEmulator(t *testing.T) {
	t.Setenv("NOTION_API_BASE_URL", "")
	err := checkNotionTarget(Settings{NotionToken: LocalEmulatorToken})
	if err == nil || !strings.Contains(err.Error(), "set NOTION_API_BASE_URL to the emulator") {
		t.Fatalf("emulator token, no base URL: %v", err)
	}
	if err := checkNotionTarget(Settings{NotionToken: LocalEmulatorToken, NotionBaseURL: "http://127.0.0.1:7070"}); err != nil {
		t.Fatal(err)
	}
	if err := checkNotionTarget(Settings{NotionToken: "ntn_real"}); err != nil {
		t.Fatal(err)
	}
}
