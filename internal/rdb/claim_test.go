package rdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// The claim fences the commit: a writer whose claim another writer took
// stores nothing (and sees what the index holds); one whose claim merely
// expired, with nobody claiming the key since, is still the holder — its
// check renews the claim and its commit goes through.
func TestClaimFencesTheCommit(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()

	a, err := r.ClaimRow(ctx, "db", "k", "A#1", 50*time.Millisecond, true)
	if err != nil || !a.Got || a.Dirty {
		t.Fatalf("A's claim = %+v, %v", a, err)
	}
	time.Sleep(100 * time.Millisecond) // A stalls past its claim's TTL
	// Nobody claimed the key since: A's check renews the claim.
	if ok, err := r.ExtendClaim(ctx, "db", "k", "A#1", time.Minute); err != nil || !ok {
		t.Fatalf("A's check after its claim expired unclaimed = %v, %v; want still A's", ok, err)
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "B#1", time.Minute, true); c.Got {
		t.Fatal("B claimed a key A's check had renewed")
	}
	// A stalls again; this time B claims the key and commits page p2.
	srv.Client().Del(ctx, rdb.ClaimKey("db", "k"))
	b, err := r.ClaimRow(ctx, "db", "k", "B#1", time.Minute, true)
	if err != nil || !b.Got || !b.Dirty || !b.Intent {
		t.Fatalf("B's claim after A stalled = %+v, %v; want dirty, with A's create intent", b, err)
	}
	if ok, err := r.ExtendClaim(ctx, "db", "k", "A#1", time.Minute); err != nil || ok {
		t.Fatalf("A's check with B holding the key = %v, %v; want lost", ok, err)
	}
	if ok, err := r.MarkBodyWriteClaimed(ctx, "db", "k", "A#1", time.Minute); err != nil || ok {
		t.Fatalf("A's body mark with B holding the key = %v, %v; want refused", ok, err)
	}
	if _, _, writing, _ := r.Body(ctx, "db", "k"); writing {
		t.Fatal("a refused body mark was recorded")
	}
	pa := rdb.IndexEntry{PageID: pageID(1), Hash: "aaaaaaaaaaaaaaaa"}
	pb := rdb.IndexEntry{PageID: pageID(2), Hash: "bbbbbbbbbbbbbbbb"}
	res, err := r.CommitRow(ctx, "db", "k", rdb.RowState{}, &pa, "A#1", rdb.BodyKeep, 0, nil)
	if err != nil || res.OK || !res.Stale || res.Current.Known {
		t.Fatalf("A's commit while B holds the key = %+v, %v; want stale", res, err)
	}
	d := &rdb.Doubt{Create: true, Delay: time.Hour}
	if res, err := r.CommitRow(ctx, "db", "k", rdb.RowState{}, &pb, "B#1", rdb.BodyKeep, 0, d); err != nil || !res.OK {
		t.Fatalf("B's commit = %+v, %v", res, err)
	}
	// B's commit freed the claim and its record: A is still stale (its
	// record is gone), and sees B's page.
	res, err = r.CommitRow(ctx, "db", "k", rdb.RowState{}, &pa, "A#1", rdb.BodyKeep, 0, nil)
	if err != nil || !res.Stale || !res.Current.Known || res.Current.Entry.PageID != pb.PageID {
		t.Fatalf("A's late commit = %+v, %v; want stale, seeing B's page", res, err)
	}
	if keys, _ := r.Doubts(ctx, "db"); len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("doubts = %v, want k (recorded by B's commit)", keys)
	}
	// The next writer finds the key clean.
	if c, err := r.ClaimRow(ctx, "db", "k", "C#1", time.Minute, false); err != nil || !c.Got || c.Dirty || c.Intent {
		t.Fatalf("C's claim = %+v, %v; want clean", c, err)
	}
	// A writer that sent a write it did not commit keeps its record when it
	// releases: the next writer knows.
	if err := r.ReleaseClaim(ctx, "db", "k", "C#1", true); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "D#1", time.Minute, false); !c.Got || !c.Dirty {
		t.Fatalf("D's claim after C released a write it sent = %+v; want dirty", c)
	}
	if err := r.ReleaseClaim(ctx, "db", "k", "D#1", false); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "E#1", time.Minute, false); !c.Got || c.Dirty {
		t.Fatalf("E's claim after D released cleanly = %+v; want clean", c)
	}
}

// A claim held by an earlier token of the same holder (a page attempt
// whose first try met a Redis outage) is taken over at once; another
// holder's is not.
func TestClaimOfTheSameHolderIsTakenOver(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	if c, _ := r.ClaimRow(ctx, "db", "k", "engine1/run:0:0#1", time.Minute, true); !c.Got {
		t.Fatal("first claim refused")
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "engine1/run:0:1#2", time.Minute, true); c.Got {
		t.Fatal("another attempt took the claim over")
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "engine2/run:0:0#1", time.Minute, true); c.Got {
		t.Fatal("another process took the claim over")
	}
	if c, _ := r.ClaimRow(ctx, "db", "k", "plain", time.Minute, true); c.Got {
		t.Fatal("a token without a holder took the claim over")
	}
	c, err := r.ClaimRow(ctx, "db", "k", "engine1/run:0:0#7", time.Minute, true)
	if err != nil || !c.Got || !c.TakenOver || !c.Intent {
		t.Fatalf("the same attempt's claim = %+v, %v; want taken over, with its create intent", c, err)
	}
	if ok, _ := r.ExtendClaim(ctx, "db", "k", "engine1/run:0:0#1", time.Minute); ok {
		t.Fatal("the orphaned token still holds the claim")
	}
}

// Doubts are merged, handed out when due with their next check scheduled
// (never twice at once), and forgotten after the window.
func TestDoubtSchedule(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	sched := rdb.DoubtSchedule{First: 100 * time.Millisecond, Factor: 2, Window: 400 * time.Millisecond}
	if err := r.AddDoubt(ctx, "db", "k", rdb.Doubt{Create: true, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddDoubt(ctx, "db", "k", rdb.Doubt{Redo: []byte(`{"p":"x"}`), Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddDoubt(ctx, "db", "k", rdb.Doubt{Body: true, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if due, err := r.DoubtsDue(ctx, "db", 10, sched); err != nil || len(due) != 0 {
		t.Fatalf("due before the first check = %+v, %v", due, err)
	}
	// The stored write is replaced only while it is the one read.
	if redo, ok, err := r.DoubtRedo(ctx, "db", "k"); err != nil || !ok || string(redo) != `{"p":"x"}` {
		t.Fatalf("stored write = %q %v %v", redo, ok, err)
	}
	if ok, err := r.SetDoubtRedo(ctx, "db", "k", []byte(`{"p":"other"}`), []byte(`{"p":"y"}`)); err != nil || ok {
		t.Fatalf("replaced a write that is not stored: %v %v", ok, err)
	}
	if ok, err := r.SetDoubtRedo(ctx, "db", "k", []byte(`{"p":"x"}`), []byte(`{"p":"x|y"}`)); err != nil || !ok {
		t.Fatalf("replace the stored write: %v %v", ok, err)
	}
	if _, ok, _ := r.DoubtRedo(ctx, "db", "nokey"); ok {
		t.Fatal("a key never in doubt has a doubt")
	}
	time.Sleep(80 * time.Millisecond)
	due, err := r.DoubtsDue(ctx, "db", 10, sched)
	if err != nil || len(due) != 1 || !due[0].Create || !due[0].Body || string(due[0].Redo) != `{"p":"x|y"}` || due[0].Check != 1 || due[0].Last {
		t.Fatalf("first check = %+v, %v; want the merged doubt", due, err)
	}
	if again, _ := r.DoubtsDue(ctx, "db", 10, sched); len(again) != 0 {
		t.Fatalf("a doubt handed out twice: %+v", again)
	}
	var last rdb.DueDoubt
	deadline := time.Now().Add(5 * time.Second)
	for !last.Last && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		due, err := r.DoubtsDue(ctx, "db", 10, sched)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) == 1 {
			last = due[0]
		}
	}
	if !last.Last || last.Check < 2 {
		t.Fatalf("the doubt was not checked to the end of its window: %+v", last)
	}
	if keys, _ := r.Doubts(ctx, "db"); len(keys) != 0 {
		t.Fatalf("doubts after the window = %v", keys)
	}
}
