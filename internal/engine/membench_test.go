package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// quietMemory turns off Redis 7's per-command latency histograms: each
// command name's first use allocates one (tens of KB), a fixed cost that
// has nothing to do with rows but would show in a used_memory delta.
func quietMemory(tb testing.TB, c *redis.Client) {
	tb.Helper()
	if err := c.ConfigSet(context.Background(), "latency-tracking", "no").Err(); err != nil {
		tb.Fatal(err)
	}
}

// usedMemory is the Redis server's used_memory (INFO memory).
func usedMemory(tb testing.TB, c *redis.Client) int64 { return memoryField(tb, c, "used_memory") }

func memoryField(tb testing.TB, c *redis.Client, field string) int64 {
	tb.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatalf("INFO memory has no %s", field)
	return 0
}

// BenchmarkIndexBytesPerRow syncs 10,000 rows through the engine into a
// real redis-server and reports the Redis memory synq keeps per synced row
// (used_memory delta / rows): the key index and everything else per row.
func BenchmarkIndexBytesPerRow(b *testing.B) {
	const rows = 10000
	for range b.N {
		src := newSource(rows)
		e := newEnv(b, itemsWorker(src))
		c := e.redis.Client()
		quietMemory(b, c)
		before := usedMemory(b, c)
		res := e.cycle("itemsBackfill")
		if res.Counters["created"] != rows {
			b.Fatalf("counters %v, want %d created", res.Counters, rows)
		}
		after := usedMemory(b, c)
		b.ReportMetric(float64(after-before)/rows, "redis_bytes_per_row")
		// During the cycle the replace mode's seen set comes on top.
		b.ReportMetric(float64(memoryField(b, c, "used_memory_peak")-before)/rows, "redis_peak_bytes_per_row")
	}
}

// BenchmarkPendingBytesPerRow is BenchmarkIndexBytesPerRow for rows whose
// relation names a row that never arrives: what synq keeps per row while
// the relation waits (it expires after Config.PendingTTL).
func BenchmarkPendingBytesPerRow(b *testing.B) {
	const rows = 10000
	for range b.N {
		lw := newLinksWorld()
		for i := range rows {
			lw.linksF.add(key(i), "missing-"+strconv.Itoa(i))
		}
		e := newEnv(b, lw.w)
		c := e.redis.Client()
		quietMemory(b, c)
		before := usedMemory(b, c)
		res := e.cycle("linksSync")
		if res.Counters["created"] != rows {
			b.Fatalf("counters %v, want %d created", res.Counters, rows)
		}
		after := usedMemory(b, c)
		b.ReportMetric(float64(after-before)/rows, "redis_bytes_per_row")
	}
}

// BenchmarkBodyBytesPerRow is BenchmarkIndexBytesPerRow for rows with a
// 40-block page body: the Redis memory per row with its body record,
// right after the create (the ids of blocks sent with a create are not
// known: 8 bytes a block) and after an edit (ids known: 24 bytes a
// block), and the extra over a row without a body.
func BenchmarkBodyBytesPerRow(b *testing.B) {
	const rows = 2000
	for range b.N {
		version := 0
		src := newSource(rows)
		src.content = func(k string) string { return benchBody(k, version) }
		e := newEnv(b, itemsWorker(src))
		c := e.redis.Client()
		quietMemory(b, c)
		before := usedMemory(b, c)
		if res := e.cycle("itemsBackfill"); res.Counters["created"] != rows {
			b.Fatalf("counters %v, want %d created", res.Counters, rows)
		}
		created := usedMemory(b, c)
		version = 1
		if res := e.cycle("itemsBackfill"); res.Counters["updated"] != rows {
			b.Fatalf("counters %v, want %d updated", res.Counters, rows)
		}
		edited := usedMemory(b, c)
		// The same rows without bodies, in a fresh Redis.
		plain := newEnv(b, itemsWorker(newSource(rows)))
		pc := plain.redis.Client()
		quietMemory(b, pc)
		pb := usedMemory(b, pc)
		plain.cycle("itemsBackfill")
		base := float64(usedMemory(b, pc)-pb) / rows
		b.ReportMetric(float64(created-before)/rows, "redis_bytes_per_row_after_create")
		b.ReportMetric(float64(edited-before)/rows, "redis_bytes_per_row_after_edit")
		b.ReportMetric(float64(created-before)/rows-base, "body_bytes_per_row_after_create")
		b.ReportMetric(float64(edited-before)/rows-base, "body_bytes_per_row_after_edit")
	}
}
