package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
)

// TestRedisFlushWhileExecutorRunsNeverDuplicatesRows loses all of Redis
// (as a restart without persistence or a failover to an empty replica
// would) between two backfills while the executor keeps running: the
// second backfill rebuilds the index from Notion and writes every row
// once, and its run log says what happened.
func TestRedisFlushWhileExecutorRunsNeverDuplicatesRows(t *testing.T) {
	for _, c := range []struct {
		name      string
		executors int
		lose      func(s *stack)
	}{
		{"flush, one executor", 1, func(s *stack) { s.redis.Client().FlushAll(context.Background()) }},
		{"restart without persistence, two executors", 2, func(s *stack) { s.redis.Restart() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, "E2E_PAGES=4", "E2E_ROWS=25")
			for range c.executors {
				s.executor()
			}
			ctx := context.Background()
			if r := s.waitRun(s.trigger("pagesSync"), 60*time.Second); r.Status != rdb.RunSucceeded || r.Counters["created"] != 100 {
				t.Fatalf("first backfill = %+v", r)
			}
			c.lose(s)
			// The executors republish their manifest within a second.
			run := s.triggerWhenDeclared("pagesSync")
			r := s.waitRun(run, 60*time.Second)
			if r.Status != rdb.RunSucceeded || r.Counters["created"] != 0 {
				t.Fatalf("backfill after losing Redis's data = %+v, want success with no row created", r)
			}
			if n := s.rowCount(); n != 100 { // rowCount fails on a duplicate key
				t.Fatalf("%d rows after losing Redis's data, want 100", n)
			}
			logs, err := s.ops.Logs(ctx, run, 0)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range logs {
				if strings.Contains(l.Message, `Redis lost synq's data: rebuilt the index of database "things" from Notion (100 rows)`) &&
					strings.Contains(l.Message, "so this run starts from scratch") {
					found = true
				}
			}
			if !found {
				t.Fatalf("the run log does not say Redis lost synq's data: %+v", logs)
			}
		})
	}
}
