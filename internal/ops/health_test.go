package ops_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Each health has a reason in words, the one the console and ctl's JSON give.
func TestHealthReason(t *testing.T) {
	manual := ops.SyncInfo{Declared: true}
	manual.Key, manual.Schedule = "articlesSync", spec.Schedule{Kind: spec.Manual, Text: "manual"}
	failed := &rdb.Run{Status: "failed", Error: "helpdesk API: 503", Finished: time.Now()}
	for _, c := range []struct {
		v    ops.View
		want string
	}{
		{ops.View{SyncInfo: manual, Health: ops.Initializing}, "never succeeded yet: a manual sync runs when triggered (ctl trigger articlesSync)"},
		{ops.View{SyncInfo: ops.SyncInfo{Declared: true}, Health: ops.Disabled}, "paused: no new runs until it is resumed"},
		{ops.View{SyncInfo: ops.SyncInfo{Declared: true}, Health: ops.Warning, Status: rdb.SyncStatus{ConsecutiveFailures: 1}, LastRun: failed}, "1 consecutive failed run: helpdesk API: 503"},
		{ops.View{SyncInfo: ops.SyncInfo{Declared: true}, Health: ops.Error, Status: rdb.SyncStatus{ConsecutiveFailures: 3}, LastRun: failed}, "3 consecutive failed runs: helpdesk API: 503"},
		{ops.View{SyncInfo: ops.SyncInfo{}, Health: ops.Healthy}, "no live executor declares it"},
	} {
		if got := c.v.HealthReason(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: reason %q, want %q", c.v.Health, got, c.want)
		}
	}
}

// An unknown key among thousands names a few known ones, not all.
func TestUnknownSyncAmongThousandsNamesAFew(t *testing.T) {
	known := make([]string, 5000)
	for i := range known {
		known[i] = fmt.Sprintf("sync%04d", i)
	}
	msg := (&ops.UnknownSyncError{Key: "tickets", Known: known}).Error()
	if len(msg) > 600 || !strings.Contains(msg, "sync0019") || strings.Contains(msg, "sync0020,") || !strings.Contains(msg, "4980 more") || !strings.Contains(msg, "ctl status 'tic*'") {
		t.Fatalf("message: %s", msg)
	}
}
