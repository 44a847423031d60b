package rdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func TestCapText(t *testing.T) {
	if got := rdb.CapText("short", 100); got != "short" {
		t.Errorf("a text under the cap changed: %q", got)
	}
	long := strings.Repeat("é", 5000) // 10,000 bytes, two a character
	got := rdb.CapText(long, 1000)
	if len(got) > 1000 || !utf8.ValidString(got) {
		t.Errorf("cut text: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	kept := strings.Index(got, " … [")
	if want := fmt.Sprintf(" … [%d of 10000 bytes cut]", 10000-kept); !strings.HasSuffix(got, want) {
		t.Errorf("cut text ends %q, want %q", got[kept:], want)
	}
}

// Run errors and log lines from user code or an upstream's answer can be
// any size: what a run stores is capped, and says what was cut.
func TestRunErrorsAndLogLinesAreCapped(t *testing.T) {
	r := rdb.New(redistest.Start(t).Client())
	ctx := context.Background()
	start(t, r, "s", "r1")
	huge := "upstream said: " + strings.Repeat("x", 1<<20)
	if err := r.PageAttemptFailed(ctx, "s", "r1", huge); err != nil {
		t.Fatal(err)
	}
	if got := getRun(t, r, "s", "r1"); len(got.LastError) > rdb.MaxErrorBytes || !strings.HasPrefix(got.LastError, "upstream said: xxx") || !strings.Contains(got.LastError, "bytes cut]") {
		t.Errorf("last error stored: %d bytes, ends %q", len(got.LastError), got.LastError[max(len(got.LastError)-40, 0):])
	}
	attrs := map[string]any{"small": 1, "body": strings.Repeat("y", 100_000), "list": []string{strings.Repeat("z", 5000)}}
	for i := range 40 {
		attrs[fmt.Sprintf("k%02d", i)] = strings.Repeat("w", 500)
	}
	line := rdb.LogLine{Level: "ERROR", Source: "user", Message: huge, Attrs: attrs}
	if ok, err := r.FailRun(ctx, rdb.Fail{Sync: "s", Run: "r1", Message: huge, Page: 0, LogCap: 10, Lines: []rdb.LogLine{line}}); !ok || err != nil {
		t.Fatalf("fail: %v %v", ok, err)
	}
	if got := getRun(t, r, "s", "r1"); len(got.Error) > rdb.MaxErrorBytes || !strings.Contains(got.Error, "bytes cut]") {
		t.Errorf("run error stored: %d bytes", len(got.Error))
	}
	if err := r.AppendLog(ctx, "s", "r1", 10, line); err != nil {
		t.Fatal(err)
	}
	lines, err := r.ReadLog(ctx, "s", "r1", 0)
	if err != nil || len(lines) != 2 {
		t.Fatalf("log: %d lines, %v", len(lines), err)
	}
	for _, l := range lines {
		if len(l.Message) > rdb.MaxLogMessageBytes || !strings.Contains(l.Message, "bytes cut]") {
			t.Errorf("log message stored: %d bytes", len(l.Message))
		}
		if s, _ := l.Attrs["body"].(string); len(s) > rdb.MaxLogAttrBytes || !strings.Contains(s, "bytes cut]") {
			t.Errorf("attribute body stored: %d bytes", len(s))
		}
		if l.Attrs["small"] != float64(1) {
			t.Errorf("a small attribute changed: %v", l.Attrs["small"])
		}
		if s, _ := l.Attrs[rdb.LogCutAttr].(string); !strings.Contains(s, "attributes") {
			t.Errorf("attributes past the line's cap dropped without a note: %d attributes kept", len(l.Attrs))
		}
		if n := len(fmt.Sprint(l.Attrs)); n > 2*rdb.MaxLogLineBytes {
			t.Errorf("attributes stored: %d bytes", n)
		}
	}
}
