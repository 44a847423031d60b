package executor

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// A page's counters read as counters.created=3 in text logs and as an
// object in JSON logs and the run log, not as Go's map[created:3].
func TestCountersLogged(t *testing.T) {
	c := map[string]int64{"unchanged": 1, "created": 3}
	var text, js strings.Builder
	slog.New(slog.NewTextHandler(&text, nil)).Info("page committed", "counters", countersValue(c))
	slog.New(slog.NewJSONHandler(&js, nil)).Info("page committed", "counters", countersValue(c))
	if !strings.Contains(text.String(), "counters.created=3 counters.unchanged=1") || strings.Contains(text.String(), "map[") {
		t.Errorf("text: %s", text.String())
	}
	if !strings.Contains(js.String(), `"counters":{"created":3,"unchanged":1}`) {
		t.Errorf("JSON: %s", js.String())
	}
	buf := &lineBuffer{}
	h := &runLog{next: slog.DiscardHandler, buf: buf, source: "platform"}
	slog.New(h).InfoContext(context.Background(), "page committed", "counters", countersValue(c))
	lines := buf.take()
	if len(lines) != 1 {
		t.Fatalf("%d run log lines", len(lines))
	}
	if m, ok := lines[0].Attrs["counters"].(map[string]any); !ok || m["created"] != int64(3) {
		t.Errorf("run log attrs: %#v", lines[0].Attrs)
	}
}
