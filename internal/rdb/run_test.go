package rdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func TestOneActiveRunPerSync(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	now := time.Now()

	active, ok, err := r.StartRun(ctx, "s", "r1", "manual", now)
	if err != nil || !ok || active != "r1" {
		t.Fatalf("first start: %q %v %v", active, ok, err)
	}
	active, ok, _ = r.StartRun(ctx, "s", "r2", "schedule", now)
	if ok || active != "r1" {
		t.Fatalf("second start while r1 active: started=%v active=%q", ok, active)
	}
	if done, _ := r.FinishRun(ctx, "s", "r1", rdb.RunFailed, "boom", now); !done {
		t.Fatal("finish r1 returned false")
	}
	if done, _ := r.FinishRun(ctx, "s", "r1", rdb.RunSucceeded, "", now); done {
		t.Fatal("a finished run was finished again")
	}
	st, _ := r.GetSyncStatus(ctx, "s")
	if st.ActiveRun != "" || st.ConsecutiveFailures != 1 || st.LastRun != "r1" {
		t.Fatalf("status after failure: %+v", st)
	}
	if _, ok, _ := r.StartRun(ctx, "s", "r2", "schedule", now.Add(time.Second)); !ok {
		t.Fatal("could not start r2 after r1 ended")
	}
	r.FinishRun(ctx, "s", "r2", rdb.RunSucceeded, "", now)
	st, _ = r.GetSyncStatus(ctx, "s")
	if st.ConsecutiveFailures != 0 || st.LastSuccess.IsZero() {
		t.Fatalf("status after success: %+v", st)
	}
	runs, _ := r.ListRuns(ctx, "s", 0, 10)
	if len(runs) != 2 || runs[0].ID != "r2" || runs[1].Error != "boom" {
		t.Fatalf("runs = %+v", runs)
	}
	if err := r.TrimRuns(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.GetRun(ctx, "s", "r1"); ok {
		t.Fatal("r1 survived retention of 1")
	}
}

func TestRunLogIsCapped(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := r.AppendLog(ctx, "s", "r", 3, rdb.LogLine{Message: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	lines, _ := r.ReadLog(ctx, "s", "r", 0)
	if len(lines) != 3 || lines[0].Message != "c" || lines[2].Message != "e" {
		t.Fatalf("log = %+v, want the newest 3 (c, d, e)", lines)
	}
}

func TestLeaderLease(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	a, _ := r.AcquireOrRenewLeader(ctx, "a", time.Second)
	b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second)
	if !a || b {
		t.Fatalf("a=%v b=%v, want only a", a, b)
	}
	if again, _ := r.AcquireOrRenewLeader(ctx, "a", time.Second); !again {
		t.Fatal("leader could not renew")
	}
	r.ReleaseLeader(ctx, "b") // not the holder
	if b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second); b {
		t.Fatal("b took the lease after releasing someone else's")
	}
	r.ReleaseLeader(ctx, "a")
	if b, _ := r.AcquireOrRenewLeader(ctx, "b", time.Second); !b {
		t.Fatal("b could not take a released lease")
	}
}
