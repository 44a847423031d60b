package rdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func TestCommitPageIsAtomicAndIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()

	c := rdb.Commit{Sync: "s", Run: "r1", Page: 0, Mode: rdb.StateSet, HasMore: true, State: []byte(`{"cursor":1}`),
		Seen: []string{rdb.SeenMember("db", "a")}, Counters: map[string]int64{"created": 2}}
	res, err := r.CommitPage(ctx, c)
	if err != nil || !res.Committed {
		t.Fatalf("first commit: %+v err=%v", res, err)
	}
	// A redelivered task for the same page changes nothing.
	c.State = []byte(`{"cursor":99}`)
	res, err = r.CommitPage(ctx, c)
	if err != nil || res.Committed {
		t.Fatalf("second commit of page 0: %+v err=%v, want already committed", res, err)
	}
	st, _ := r.GetSync(ctx, "s")
	if string(st.State) != `{"cursor":1}` || st.RunPages != 1 || st.Run != "r1" || !st.RunMore {
		t.Fatalf("state after redelivery = %+v", st)
	}
	counters, _ := r.RunCounters(ctx, "s", "r1")
	if counters["created"] != 2 || counters["pages"] != 1 {
		t.Fatalf("counters = %v, want created=2 pages=1", counters)
	}
	// Skipping a page is refused.
	_, err = r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r1", Page: 2, Mode: rdb.StateKeep})
	if !errors.Is(err, rdb.ErrOutOfOrder) {
		t.Fatalf("commit of page 2 after 0: err=%v, want ErrOutOfOrder", err)
	}
	// The final page of a replace cycle resets state and the seen set.
	if _, err := r.BeginCycle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	res, err = r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r1", Page: 1, Mode: rdb.StateReset, EndCycle: true})
	if err != nil || !res.Committed {
		t.Fatalf("final commit: %+v err=%v", res, err)
	}
	st, _ = r.GetSync(ctx, "s")
	seen, _ := r.Seen(ctx, "s")
	if st.State != nil || len(seen) != 0 || !st.CycleStarted.IsZero() {
		t.Fatalf("after cycle end: state=%q seen=%v cycle=%v", st.State, seen, st.CycleStarted)
	}
	// A new run starts at page 0 and may not start elsewhere.
	if _, err := r.CommitPage(ctx, rdb.Commit{Sync: "s", Run: "r2", Page: 1, Mode: rdb.StateKeep}); !errors.Is(err, rdb.ErrOutOfOrder) {
		t.Fatalf("new run starting at page 1: err=%v", err)
	}
}

func TestClaims(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	won, _ := r.Claim(ctx, "tickets", "k", "t1", time.Minute)
	lost, _ := r.Claim(ctx, "tickets", "k", "t2", time.Minute)
	if !won || lost {
		t.Fatalf("claims: first=%v second=%v", won, lost)
	}
	_ = r.Release(ctx, "tickets", "k", "t2") // not the holder: no effect
	if again, _ := r.Claim(ctx, "tickets", "k", "t3", time.Minute); again {
		t.Fatal("release with the wrong token freed the claim")
	}
	_ = r.Release(ctx, "tickets", "k", "t1")
	if again, _ := r.Claim(ctx, "tickets", "k", "t3", time.Minute); !again {
		t.Fatal("claim not free after release by its holder")
	}
}

func TestOutageIsMarkedUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	srv.Stop()
	_, err := r.GetSync(context.Background(), "s")
	if !errors.Is(err, rdb.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}
