package rdb_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// A row's body record lives beside its index entry: written only by the
// entry's commit, seen by the page's lookup and by the claim, marked while
// a body write is in flight, and dropped with the entry.
func TestBodyRecordsBesideTheIndex(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	if _, err := r.IndexComplete(ctx, "db", rdb.GenNew, 0); err != nil {
		t.Fatal(err)
	}
	lookup := func(key string) rdb.IndexEntry {
		t.Helper()
		res, err := r.IndexLookup(ctx, "db", []string{key})
		if err != nil {
			t.Fatal(err)
		}
		return res.Entries[key]
	}
	claim := func(key, token string) rdb.RowClaim {
		t.Helper()
		c, err := r.ClaimRow(ctx, "db", key, token, time.Minute, true)
		if err != nil || !c.Got {
			t.Fatalf("claim %s: %+v, %v", key, c, err)
		}
		return c
	}
	refs := []byte("refs of five blocks")
	rec := rdb.BodyRecord{Hash: "0123456789abcdef", Refs: refs}

	// A create with a body stores the record with the entry.
	c := claim("k", "w1")
	entry := rdb.IndexEntry{PageID: pageID(1), Hash: "fedcba9876543210"}
	if res, err := r.IndexCASBody(ctx, "db", "k", c.RowState, &entry, "w1", true, rdb.BodySet(rec)); err != nil || !res.OK {
		t.Fatalf("commit with a body: %+v, %v", res, err)
	}
	if got := lookup("k"); got.Body != (rdb.BodyState{Hash: rec.Hash}) || got.PageID != entry.PageID {
		t.Fatalf("lookup after the commit = %+v", got)
	}
	c = claim("k", "w2")
	if c.Entry.Body != (rdb.BodyState{Hash: rec.Hash}) || !bytes.Equal(c.Refs, refs) {
		t.Fatalf("claim sees body %+v refs %q", c.Entry.Body, c.Refs)
	}
	// A body write in flight is seen by the lookup and the claim; a commit
	// that keeps the body (a change without Content) keeps the mark.
	if err := r.MarkBodyWrite(ctx, "db", "k"); err != nil {
		t.Fatal(err)
	}
	if got := lookup("k"); !got.Body.Writing || got.Body.Hash != rec.Hash {
		t.Fatalf("lookup with a write in flight = %+v", got.Body)
	}
	next := entry
	next.Hash = "1111111111111111"
	if res, err := r.IndexCAS(ctx, "db", "k", c.RowState, &next, "w2", true); err != nil || !res.OK {
		t.Fatalf("commit keeping the body: %+v, %v", res, err)
	}
	c = claim("k", "w3")
	if !c.Entry.Body.Writing || c.Entry.Body.Hash != rec.Hash || !bytes.Equal(c.Refs, refs) {
		t.Fatalf("after a commit that kept the body: %+v %q", c.Entry.Body, c.Refs)
	}
	// The commit that records a new body clears the mark.
	rec2 := rdb.BodyRecord{Hash: "aaaaaaaaaaaaaaaa", Refs: nil}
	if res, err := r.IndexCASBody(ctx, "db", "k", c.RowState, &next, "w3", true, rdb.BodySet(rec2)); err != nil || !res.OK {
		t.Fatalf("commit of a new body: %+v, %v", res, err)
	}
	if got, ok, writing, err := r.Body(ctx, "db", "k"); err != nil || !ok || writing || got.Hash != rec2.Hash || len(got.Refs) != 0 {
		t.Fatalf("body after the new commit = %+v ok %v writing %v, %v", got, ok, writing, err)
	}
	// Forget drops the record and the mark; the entry stays.
	if err := r.MarkBodyWrite(ctx, "db", "k"); err != nil {
		t.Fatal(err)
	}
	c = claim("k", "w4")
	if res, err := r.IndexCASBody(ctx, "db", "k", c.RowState, &next, "w4", true, rdb.BodyForget); err != nil || !res.OK {
		t.Fatalf("commit forgetting the body: %+v, %v", res, err)
	}
	if got := lookup("k"); got.Body != (rdb.BodyState{}) || got.PageID == "" {
		t.Fatalf("after forgetting: %+v", got)
	}
	// Trashing the row (the entry deleted) drops its record and mark.
	c = claim("k", "w5")
	if res, err := r.IndexCASBody(ctx, "db", "k", c.RowState, &next, "w5", true, rdb.BodySet(rec)); err != nil || !res.OK {
		t.Fatal(res, err)
	}
	if err := r.MarkBodyWrite(ctx, "db", "k"); err != nil {
		t.Fatal(err)
	}
	c = claim("k", "w6")
	if res, err := r.IndexCAS(ctx, "db", "k", c.RowState, nil, "w6", true); err != nil || !res.OK {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	if _, ok, writing, _ := r.Body(ctx, "db", "k"); ok || writing {
		t.Fatalf("the body record (%v) or mark (%v) outlived the row", ok, writing)
	}
	if n, _ := r.BodyLen(ctx, "db"); n != 0 {
		t.Fatalf("BodyLen = %d after the only row was trashed", n)
	}
	// A refused compare-and-set writes no body.
	c = claim("x", "w7")
	stale := rdb.RowState{Known: true, Entry: rdb.IndexEntry{PageID: "nope"}}
	if res, err := r.IndexCASBody(ctx, "db", "x", stale, &entry, "w7", true, rdb.BodySet(rec)); err != nil || res.OK {
		t.Fatalf("stale CAS = %+v, %v", res, err)
	}
	if _, ok, _, _ := r.Body(ctx, "db", "x"); ok {
		t.Fatal("a refused commit stored a body")
	}
	if _, err := r.IndexCASBody(ctx, "db", "x", c.RowState, &entry, "w7", true, rdb.BodySet(rdb.BodyRecord{Hash: "not hex"})); err == nil {
		t.Fatal("a body hash that is not 16 hex digits was stored")
	}
}

// Body records are bucketed like the index: many rows split the buckets,
// every record stays readable, and dropping the index drops them all.
func TestBodyRecordsBucketsAndDrop(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	if _, err := r.IndexComplete(ctx, "db", rdb.GenNew, 0); err != nil {
		t.Fatal(err)
	}
	const rows = 500
	for i := range rows {
		k := fmt.Sprintf("k%03d", i)
		c, err := r.ClaimRow(ctx, "db", k, "w", time.Minute, true)
		if err != nil || !c.Got {
			t.Fatal(c, err)
		}
		rec := rdb.BodyRecord{Hash: fmt.Sprintf("%016x", i), Refs: []byte(k)}
		if res, err := r.IndexCASBody(ctx, "db", k, c.RowState, &rdb.IndexEntry{PageID: pageID(i)}, "w", true, rdb.BodySet(rec)); err != nil || !res.OK {
			t.Fatal(res, err)
		}
		if i%7 == 0 {
			if err := r.MarkBodyWrite(ctx, "db", k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := r.BodyLen(ctx, "db"); n != rows {
		t.Fatalf("BodyLen = %d, want %d", n, rows)
	}
	if keys, _ := srv.Client().Keys(ctx, rdb.BodyMetaKey("db")+":*").Result(); len(keys) < rows/48 {
		t.Fatalf("%d body buckets for %d rows: not split", len(keys), rows)
	}
	keys := make([]string, rows)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	res, err := r.IndexLookup(ctx, "db", keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		want := rdb.BodyState{Hash: fmt.Sprintf("%016x", i), Writing: i%7 == 0}
		if got := res.Entries[k].Body; got != want {
			t.Fatalf("%s: body %+v, want %+v", k, got, want)
		}
	}
	if err := r.IndexDel(ctx, "db", "k000", "k001"); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.BodyLen(ctx, "db"); n != rows-2 {
		t.Fatalf("BodyLen after IndexDel = %d", n)
	}
	if err := r.ResetDatabase(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if left, _ := srv.Client().Keys(ctx, "synq:db:{db}*").Result(); len(left) != 0 {
		t.Fatalf("keys left after ResetDatabase: %v", left)
	}
}
