package rdb

import (
	"testing"
	"time"
)

// FuzzIndexEntry checks that entries round-trip and that corrupt bytes
// (a damaged or foreign value in a bucket) give an error, never a panic.
func FuzzIndexEntry(f *testing.F) {
	f.Add("1a2b3c4d-0000-4000-8000-000000000001", "0123456789abcdef", int64(1700000000000000000), int64(1700000000123000000), []byte{3, 1})
	f.Add("x", "", int64(-5), int64(0), []byte{})
	f.Fuzz(func(t *testing.T, page, hash string, upstream, written int64, junk []byte) {
		written -= written % int64(time.Millisecond)
		if written < 0 {
			written = -written
		}
		e := IndexEntry{PageID: page, Hash: hash, Upstream: upstream, Written: written}
		got, err := decodeEntry(encodeEntry(e, false))
		if err != nil || got != e {
			t.Fatalf("round trip of %+v: %+v, %v", e, got, err)
		}
		_, _ = decodeEntry(junk)
		_, _ = decodeWaiters("k", string(junk))
		w := Waiter{Database: "d", Key: page, Property: "p", Hash: hash, Related: []string{"k", hash + "x"}}
		rec, err := encodeWaiter(w, "k")
		if err != nil {
			return
		}
		ws, err := decodeWaiters("k", string(rec))
		if err != nil || len(ws) != 1 || ws[0].Key != page || ws[0].Hash != hash || len(ws[0].Related) != 2 || ws[0].Related[0] != "k" {
			t.Fatalf("waiter round trip of %+v: %+v, %v", w, ws, err)
		}
	})
}
