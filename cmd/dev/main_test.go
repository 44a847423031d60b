package main

import (
	"context"
	"strings"
	"testing"

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
