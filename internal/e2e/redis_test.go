package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// Every binary that reads REDIS_URL refuses a bad one at start-up with one
// line that names the variable, the problem and the fix, and no password.
func TestRedisURLFaultsAtStartUp(t *testing.T) {
	s := newStack(t)
	dead := redistest.Start(t)
	dead.Stop()
	locked := redistest.StartConfig(t, redistest.Config{Password: "s3cret"})
	sn := redistest.StartSentinel(t, redistest.SentinelConfig{Replicas: -1, Sentinels: 1})
	for _, tc := range []struct{ name, url, want string }{
		{"unparseable", "redis://:hunter22@localhost:notaport/0", "not a Redis URL"},
		{"nothing listening", "redis://:hunter22@" + dead.Addr() + "/0", "nothing answers at " + dead.Addr()},
		{"AUTH refused", "redis://:hunter22@" + locked.Addr() + "/0", "refused the user name or password"},
		{"unknown master", "redis+sentinel://" + sn.SentinelAddrs()[0] + "/nosuch", `no master named "nosuch"`},
	} {
		for _, bin := range []string{"scheduler", "testworker"} {
			t.Run(tc.name+"/"+bin, func(t *testing.T) {
				p := s.start(bin, "REDIS_URL="+tc.url)
				err, ok := p.exited(20 * time.Second)
				if !ok {
					t.Fatalf("%s still runs 20s after start with a bad REDIS_URL", bin)
				}
				if err == nil {
					t.Fatalf("%s exited 0", bin)
				}
				out := strings.TrimSpace(p.out.String())
				t.Logf("%s: %s", bin, out)
				if strings.Count(out, "\n") != 0 || !strings.Contains(out, "REDIS_URL=") || !strings.Contains(out, tc.want) {
					t.Fatalf("%s said %q; want one line naming REDIS_URL that says %q", bin, out, tc.want)
				}
				if strings.Contains(out, "hunter22") {
					t.Fatalf("%s shows the password: %q", bin, out)
				}
			})
		}
	}
}

// kill -9 of the Redis master in the middle of a backfill: the Sentinels
// promote the replica, executors and scheduler follow it through
// REDIS_URL=redis+sentinel://…, and the run completes with every row once.
func TestSentinelFailoverMidBackfill(t *testing.T) {
	const pages, rows = 10, 20
	// Manifests outlive the failover (the harness's 500ms interval lets
	// them expire in 2 s, and a loaded machine fails over in more: the
	// reaper then fails the run as undeclared).
	s := newSentinelStack(t, "E2E_PAGES=10", "E2E_ROWS=20", "E2E_SLEEP=700ms", "SYNQ_MANIFEST_INTERVAL=5s")
	s.executor()
	s.executor()
	sched := s.start("scheduler")
	run := s.trigger("pagesSync")
	// Kill while the fourth page runs Execute: three pages are committed,
	// and the replica has them (a lagging replica is the index-loss case).
	s.waitFor(60*time.Second, "the fourth page", func() bool { return len(s.marks("pagesSync")) >= 4 })
	s.sentinel.WaitReplicated(2 * time.Second)
	old := s.sentinel.KillMaster()
	killed := time.Now()
	next := s.sentinel.WaitFailover(old, 30*time.Second)
	failedOver := time.Since(killed)
	r := s.waitRun(run, 240*time.Second)
	ended := time.Since(killed)
	t.Logf("master %s killed; %s promoted after %.1fs; the run ended %.1fs after the kill", old.Addr(), next.Addr(), failedOver.Seconds(), ended.Seconds())
	if r.Status != rdb.RunSucceeded || r.Counters["pages"] != pages {
		t.Fatalf("run after the failover = %+v", r)
	}
	// The scheduler kept running and said so once.
	out := sched.out.String()
	// A failover may show as two short outages (the old master gone, then
	// the new one still a replica for a moment): never one line per retry.
	down, back := strings.Count(out, "Redis unreachable at master"), strings.Count(out, "Redis is back after")
	if down < 1 || down > 2 || back != down || strings.Contains(out, "tick failed") {
		t.Errorf("scheduler output: want one warning for the outage, one line when Redis is back, and no failed tick:\n%s", out)
	}
	total, keys := s.rows()
	t.Logf("rows %d, distinct keys %d, duplicates %d (want %d rows, no duplicates); Execute calls %d for %d pages",
		total, keys, total-keys, pages*rows, len(s.marks("pagesSync")), pages)
	if total != pages*rows || keys != pages*rows {
		t.Fatalf("%d rows with %d distinct keys, want %d once each", total, keys, pages*rows)
	}
}

// rows counts the live rows of the "things" database and their distinct
// keys.
func (s *stack) rows() (total, keys int) {
	s.t.Helper()
	ids, ok, err := s.rdb.GetDatabase(context.Background(), "things")
	if err != nil || !ok {
		s.t.Fatalf("things not provisioned: %v", err)
	}
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	seen := map[string]bool{}
	err = nc.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		total++
		seen[p.Properties["Key"].Text()] = true
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return total, len(seen)
}
