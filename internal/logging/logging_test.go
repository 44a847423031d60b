package logging

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// Text on a terminal, JSON elsewhere: a pipe, a file, /dev/null (a
// character device, but no terminal) or a buffer. SYNQ_LOG_FORMAT wins.
func TestFormat(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, w := range []any{null, &bytes.Buffer{}} {
		if f, _ := ParseFormat("", w.(interface{ Write([]byte) (int, error) })); f != JSON {
			t.Errorf("%T: format %s, want json", w, f)
		}
	}
	if f, _ := ParseFormat("text", null); f != Text {
		t.Errorf("SYNQ_LOG_FORMAT=text gave %s", f)
	}
	if _, err := ParseFormat("yaml", null); err == nil || !strings.Contains(err.Error(), "SYNQ_LOG_FORMAT") {
		t.Errorf("a bad format: %v", err)
	}
	var b bytes.Buffer
	t.Setenv(LevelVar, "warn")
	t.Setenv(FormatVar, "")
	l, err := FromEnv(&b, "")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != 1.0 {
		t.Fatalf("JSON line %q: %v", b.String(), err)
	}
	t.Setenv(LevelVar, "loud")
	if _, err := FromEnv(&b, ""); err == nil || !strings.Contains(err.Error(), LevelVar) {
		t.Errorf("a bad level: %v", err)
	}
}

func TestInstallRestores(t *testing.T) {
	var b bytes.Buffer
	prevOut, prevFlags := log.Writer(), log.Flags()
	restore := Install(New(&b, slog.LevelInfo, JSON))
	log.Print("through slog")
	restore()
	if !strings.Contains(b.String(), `"msg":"through slog"`) {
		t.Errorf("log.Print did not go through the installed logger: %q", b.String())
	}
	if log.Writer() != prevOut || log.Flags() != prevFlags {
		t.Error("the log package's output and flags are not restored")
	}
}
