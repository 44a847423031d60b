package rdb_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

func TestClaimRowAndIndexCAS(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()

	// A new key: claimed, no entry, and the intent to create is recorded.
	c, err := r.ClaimRow(ctx, "db", "k", "w1", time.Minute, true)
	if err != nil || !c.Got || c.Known || c.Intent {
		t.Fatalf("first claim = %+v, %v", c, err)
	}
	if ok, _ := r.HasIntent(ctx, "db", "k"); !ok {
		t.Fatal("no create intent recorded for a new key")
	}
	// Another writer is refused while the claim is held.
	if c2, err := r.ClaimRow(ctx, "db", "k", "w2", time.Minute, true); err != nil || c2.Got {
		t.Fatalf("second claim = %+v, %v", c2, err)
	}
	// A compare-and-set without the claim is refused while w1 holds it.
	first := rdb.IndexEntry{PageID: "p1", Hash: "h1", Upstream: 10}
	if res, err := r.IndexCAS(ctx, "db", "k", rdb.RowState{}, &first, "", false); err != nil || !res.Busy {
		t.Fatalf("CAS by a non-holder = %+v, %v; want busy", res, err)
	}
	// The holder stores the entry, clears the intent and releases.
	if res, err := r.IndexCAS(ctx, "db", "k", rdb.RowState{}, &first, "w1", true); err != nil || !res.OK {
		t.Fatalf("holder's CAS = %+v, %v", res, err)
	}
	if ok, _ := r.HasIntent(ctx, "db", "k"); ok {
		t.Fatal("the create intent survived the write")
	}
	// The next writer sees the entry and an unchanged intent flag.
	c, err = r.ClaimRow(ctx, "db", "k", "w2", time.Minute, true)
	if err != nil || !c.Got || !c.Known || !same(c.Entry, first) || c.Intent {
		t.Fatalf("claim after the write = %+v, %v", c, err)
	}
	if ok, _ := r.HasIntent(ctx, "db", "k"); ok {
		t.Fatal("an intent was recorded for a key that has an entry")
	}
	// A stale expectation fails and returns what is stored.
	next := rdb.IndexEntry{PageID: "p1", Hash: "h2", Upstream: 20}
	res, err := r.IndexCAS(ctx, "db", "k", rdb.RowState{Known: true, Entry: rdb.IndexEntry{PageID: "p1"}}, &next, "w2", false)
	if err != nil || res.OK || res.Busy || !res.Current.Known || !same(res.Current.Entry, first) {
		t.Fatalf("CAS on a stale expectation = %+v, %v", res, err)
	}
	// With the stored value it succeeds; without release the claim stays.
	if res, err := r.IndexCAS(ctx, "db", "k", res.Current, &next, "w2", false); err != nil || !res.OK {
		t.Fatalf("CAS = %+v, %v", res, err)
	}
	if ok, err := r.ExtendClaim(ctx, "db", "k", "w2", time.Minute); err != nil || !ok {
		t.Fatalf("extend own claim = %v, %v", ok, err)
	}
	if ok, err := r.ExtendClaim(ctx, "db", "k", "w1", time.Minute); err != nil || ok {
		t.Fatalf("extend someone else's claim = %v, %v", ok, err)
	}
	// Deleting with the claim, then releasing.
	got, _ := r.IndexGet(ctx, "db", []string{"k"})
	if !same(got["k"], next) || got["k"].Written == 0 {
		t.Fatalf("index holds %+v, want %+v", got["k"], next)
	}
	if res, err := r.IndexCAS(ctx, "db", "k", rdb.RowState{Known: true, Entry: got["k"]}, nil, "w2", true); err != nil || !res.OK {
		t.Fatalf("delete CAS = %+v, %v", res, err)
	}
	if got, _ := r.IndexGet(ctx, "db", []string{"k"}); len(got) != 0 {
		t.Fatalf("entry after delete: %v", got)
	}
	// An intent left by a writer that never recorded its create is seen.
	if err := r.SetIntent(ctx, "db", "lost"); err != nil {
		t.Fatal(err)
	}
	if c, err := r.ClaimRow(ctx, "db", "lost", "w3", time.Minute, true); err != nil || !c.Got || !c.Intent {
		t.Fatalf("claim of a key with a leftover intent = %+v, %v", c, err)
	}
	// A claim expires.
	if c, err := r.ClaimRow(ctx, "db", "short", "w4", 50*time.Millisecond, false); err != nil || !c.Got {
		t.Fatal(c, err)
	}
	time.Sleep(100 * time.Millisecond)
	if c, err := r.ClaimRow(ctx, "db", "short", "w5", time.Minute, false); err != nil || !c.Got {
		t.Fatalf("claim after expiry = %+v, %v", c, err)
	}
}

func TestWarnOnce(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	fresh, err := r.WarnOnce(ctx, "s", "run1", "people", []string{"a@x", "b@x"})
	if err != nil || !slices.Equal(fresh, []string{"a@x", "b@x"}) {
		t.Fatalf("first warning = %v, %v", fresh, err)
	}
	fresh, err = r.WarnOnce(ctx, "s", "run1", "people", []string{"b@x", "c@x"})
	if err != nil || !slices.Equal(fresh, []string{"c@x"}) {
		t.Fatalf("second warning = %v, %v; want only the new email", fresh, err)
	}
	if fresh, _ := r.WarnOnce(ctx, "s", "run1", "relations", []string{"a@x"}); !slices.Equal(fresh, []string{"a@x"}) {
		t.Fatalf("another kind = %v", fresh)
	}
	if fresh, _ := r.WarnOnce(ctx, "s", "run2", "people", []string{"a@x"}); !slices.Equal(fresh, []string{"a@x"}) {
		t.Fatalf("another run = %v", fresh)
	}
	if ttl := srv.Client().TTL(ctx, rdb.RunWarnedKey("s", "run1")).Val(); ttl <= 0 {
		t.Fatalf("warned set TTL = %v", ttl)
	}
}

// same compares entries without their written time, which the index
// stamps with the server's clock.
func same(a, b rdb.IndexEntry) bool {
	a.Written, b.Written = 0, 0
	return a == b
}

// An explicit delete leaves a tombstone with the row's newest upstream
// time, read by the next claim of the key; a create clears it; tombstones
// older than their TTL are dropped by later deletes; a delete without one
// (a sweep) leaves none.
func TestTombstones(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	create := func(key string) rdb.RowState {
		t.Helper()
		e := rdb.IndexEntry{PageID: pageID(1), Upstream: 5}
		if res, err := r.IndexCAS(ctx, "db", key, rdb.RowState{}, &e, "", false); err != nil || !res.OK {
			t.Fatalf("create %s: %+v, %v", key, res, err)
		}
		c := claim(t, r, key)
		return c.RowState
	}
	tombOf := func(key string) int64 {
		t.Helper()
		c := claim(t, r, key)
		return c.Tomb
	}
	del := func(key string, cur rdb.RowState, tomb int64) {
		t.Helper()
		if res, err := r.IndexCASDelete(ctx, "db", key, cur, "", false, tomb); err != nil || !res.OK {
			t.Fatalf("delete %s: %+v, %v", key, res, err)
		}
	}
	del("a", create("a"), 7)
	if got := tombOf("a"); got != 7 {
		t.Fatalf("tombstone of a = %d, want 7", got)
	}
	del("swept", create("swept"), 0)
	if got := tombOf("swept"); got != 0 {
		t.Fatalf("a delete without a tombstone left %d", got)
	}
	create("a")
	if c := claim(t, r, "a"); c.Tomb != 0 || !c.Known {
		t.Fatalf("after the key was created again: %+v, want its entry and no tombstone", c)
	}
	if n := srv.Client().ZCard(ctx, rdb.TombTimeKey("db")).Val(); n != 0 {
		t.Fatalf("%d tombstone times left after the create, want 0", n)
	}

	defer rdb.SetTombstoneTTL(50 * time.Millisecond)()
	del("old", create("old"), 9)
	time.Sleep(100 * time.Millisecond)
	del("new", create("new"), 11)
	if tombOf("old") != 0 || tombOf("new") != 11 {
		t.Fatalf("after the TTL: old %d, new %d; want the old tombstone dropped", tombOf("old"), tombOf("new"))
	}
}

// No tombstone outlives its TTL: one past it is never read (by a claim of
// its key, or Tombstones), and any claim or commit in the database prunes
// it, not only a later delete.
func TestTombstonesPrunedByAge(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	defer rdb.SetTombstoneTTL(200 * time.Millisecond)()
	tombs := func() int64 {
		t.Helper()
		return srv.Client().HLen(ctx, rdb.TombKey("db")).Val() + srv.Client().ZCard(ctx, rdb.TombTimeKey("db")).Val()
	}
	mkTomb := func(key string, up int64) {
		t.Helper()
		e := rdb.IndexEntry{PageID: pageID(1), Upstream: up}
		if res, err := r.IndexCAS(ctx, "db", key, rdb.RowState{}, &e, "", false); err != nil || !res.OK {
			t.Fatalf("create %s: %+v, %v", key, res, err)
		}
		c := claim(t, r, key)
		if res, err := r.IndexCASDelete(ctx, "db", key, c.RowState, "", false, up); err != nil || !res.OK {
			t.Fatalf("delete %s: %+v, %v", key, res, err)
		}
	}

	// Read past the TTL: neither a claim nor Tombstones sees it.
	mkTomb("a", 7)
	mkTomb("b", 8)
	if m, err := r.Tombstones(ctx, "db", []string{"a", "b", "none"}); err != nil || m["a"] != 7 || m["b"] != 8 || len(m) != 2 {
		t.Fatalf("tombstones within the TTL = %v, %v", m, err)
	}
	time.Sleep(300 * time.Millisecond)
	if m, err := r.Tombstones(ctx, "db", []string{"a"}); err != nil || len(m) != 0 {
		t.Fatalf("tombstones past the TTL = %v, %v; want none", m, err)
	}
	if n := tombs(); n != 0 {
		t.Fatalf("%d tombstone records left after a read past the TTL (b too was due)", n)
	}

	// Pruned by a claim of another key.
	mkTomb("c", 9)
	time.Sleep(300 * time.Millisecond)
	if c := claim(t, r, "other"); c.Tomb != 0 {
		t.Fatalf("claim of another key: %+v", c)
	}
	if n := tombs(); n != 0 {
		t.Fatalf("%d tombstone records left after a claim past the TTL", n)
	}
	// A claim of the key itself does not read it.
	mkTomb("d", 10)
	time.Sleep(300 * time.Millisecond)
	if c := claim(t, r, "d"); c.Tomb != 0 {
		t.Fatalf("claim of a key whose tombstone is past its TTL read %d", c.Tomb)
	}

	// Pruned by a commit (an upsert) of another key.
	srv.Client().Del(ctx, rdb.TombKey("db"), rdb.TombTimeKey("db"))
	mkTomb("e", 11)
	time.Sleep(300 * time.Millisecond)
	e := rdb.IndexEntry{PageID: pageID(2), Upstream: 1}
	if res, err := r.IndexCAS(ctx, "db", "upserted", rdb.RowState{}, &e, "", false); err != nil || !res.OK {
		t.Fatalf("create: %+v, %v", res, err)
	}
	if n := tombs(); n != 0 {
		t.Fatalf("%d tombstone records left after a commit past the TTL", n)
	}
}

// claim takes and releases key's claim, returning what it read.
func claim(t *testing.T, r *rdb.RDB, key string) rdb.RowClaim {
	t.Helper()
	c, err := r.ClaimRow(context.Background(), "db", key, "test", time.Second, false)
	if err != nil || !c.Got {
		t.Fatalf("claim %s: %+v, %v", key, c, err)
	}
	if err := r.Release(context.Background(), "db", key, "test"); err != nil {
		t.Fatal(err)
	}
	return c
}
