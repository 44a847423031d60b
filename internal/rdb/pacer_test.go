package rdb_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// slow is one request per second with a burst of 2: slow enough that the
// milliseconds between two calls of a test never change a decision.
var slow = redis_rate.Limit{Rate: 10, Period: 10 * time.Second, Burst: 2}

func take(t *testing.T, r *rdb.RDB, consumer string) rdb.PacerResult {
	t.Helper()
	res, err := r.PacerTake(context.Background(), rdb.PacerRequest{
		Pacer: "p", Consumer: consumer, Limit: slow, ActiveWindow: time.Minute,
	})
	if err != nil {
		t.Fatalf("take for %s: %v", consumer, err)
	}
	return res
}

func get(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	v, err := c.Get(context.Background(), key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return v
}

// A refusal by one of the two limits must not spend the other's budget: a
// consumer over its share must not eat the global budget the others need,
// and a consumer refused by the global limit keeps its share for later.
// A consumer within its share queues for a global slot close enough.
func TestPacerTakeRefusalSpendsNothing(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)

	// Two consumers active: each may send 1 per 2 s, burst 1; the global
	// burst of 2 keeps 1 request in reserve for consumers within their share.
	if res := take(t, r, "b"); res.Allowed != 1 || res.Reason != "share" {
		t.Fatalf("b's first request: %+v", res)
	}
	if res := take(t, r, "a"); res.Allowed != 1 || res.Reason != "share" || res.Active != 2 {
		t.Fatalf("a's first request: %+v", res)
	}
	// The global budget is now spent (2 of burst 2). c is within its share
	// and the next free slot is 1s away, less than one of c's turns (3s):
	// c gets that slot, with a delay.
	res := take(t, r, "c")
	if res.Allowed != 1 || res.Reason != "queued" || res.Delay <= 500*time.Millisecond || res.Delay > time.Second {
		t.Fatalf("c, within its share, the pacer full for 1s: %+v, want a grant queued about 1s ahead", res)
	}
	if ahead := time.Until(res.At); ahead < 500*time.Millisecond || ahead > 1500*time.Millisecond {
		t.Fatalf("c's queued request may go in %v, want about 1s", ahead)
	}

	// The pacer out of budget for much longer than a turn: a refusal that
	// spends neither budget.
	far := (time.Now().Unix()-1483228800)*1_000_000 + 100_000_000 // µs since redis_rate's epoch
	c.Set(context.Background(), rdb.PacerKey("p"), far, time.Minute)
	global := get(t, c, rdb.PacerKey("p"))
	if res := take(t, r, "e"); res.Allowed != 0 || res.Reason != "global" || res.RetryAfter < 90*time.Second {
		t.Fatalf("e, within its share but the pacer out of budget for 100s: %+v", res)
	}
	if v := get(t, c, rdb.PacerConsumerKey("p", "e")); v != "" {
		t.Fatalf("a global refusal spent e's share: its key holds %q", v)
	}
	if v := get(t, c, rdb.PacerKey("p")); v != global {
		t.Fatalf("a refusal changed the global budget: %q → %q", global, v)
	}

	// A fresh pacer: a takes its share; asking again is a refusal for its
	// share that leaves the global budget to b.
	c.FlushAll(context.Background())
	take(t, r, "b")
	// b stays active; the budget and b's share are full again.
	c.Del(context.Background(), rdb.PacerKey("p"), rdb.PacerConsumerKey("p", "b"))
	if res := take(t, r, "a"); res.Allowed != 1 || res.Share != 0.5 {
		t.Fatalf("a's first request on a full budget: %+v, want a grant with half the budget", res)
	}
	global = get(t, c, rdb.PacerKey("p"))
	res = take(t, r, "a")
	if res.Allowed != 0 || res.Reason != "share" || res.RetryAfter <= 0 || res.RetryAfter > 2*time.Second {
		t.Fatalf("a over its share: %+v, want a refusal for its share within 2s", res)
	}
	if v := get(t, c, rdb.PacerKey("p")); v != global {
		t.Fatalf("a refusal for the share changed the global budget: %q → %q", global, v)
	}
	if res := take(t, r, "b"); res.Allowed != 1 || res.Reason != "share" {
		t.Fatalf("b, within its share, after a's refusal: %+v", res)
	}

	st, err := r.PacerStats(context.Background(), "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Granted != 3 || st.PerConsumer["a"].Granted != 1 || st.PerConsumer["b"].Granted != 2 {
		t.Fatalf("counters after a refusal: %+v", st)
	}
	if strings.Join(st.Active, ",") != "a,b" || strings.Join(st.Waiting, ",") != "a" {
		t.Fatalf("active=%v waiting=%v, want a,b and a", st.Active, st.Waiting)
	}
}

// Each active consumer owns 1/n of the budget; a consumer over its share
// borrows what the others leave, but never the half of the burst kept for
// consumers within their share.
func TestPacerSharesAndBorrowing(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	if res := take(t, r, "a"); res.Share != 1 || res.Active != 1 {
		t.Fatalf("a alone: %+v, want all the budget", res)
	}

	// One request per 10 s, burst 6, three consumers: a owns 1 per 30 s with
	// a burst of 2, and 3 of the burst are kept from borrowers. The period
	// is long enough that a slow test run changes no decision.
	c.FlushAll(ctx)
	lim := redis_rate.Limit{Rate: 6, Period: time.Minute, Burst: 6}
	for _, other := range []string{"b", "c"} {
		c.ZAdd(ctx, rdb.PacerActiveKey("p"), redis.Z{Score: 1e18, Member: other})
	}
	takeA := func() rdb.PacerResult {
		t.Helper()
		res, err := r.PacerTake(ctx, rdb.PacerRequest{Pacer: "p", Consumer: "a", Limit: lim, ActiveWindow: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 2 {
		if res := takeA(); res.Allowed != 1 || res.Reason != "share" || math.Abs(res.Share-1.0/3) > 1e-9 || res.Active != 3 {
			t.Fatalf("a's request %d: %+v, want a grant within its third of the budget", i+1, res)
		}
	}
	// Over its share: 4 of the burst's 6 are left, 1 above the 3 kept.
	res := takeA()
	if res.Allowed != 1 || res.Reason != "borrow" {
		t.Fatalf("a over its share, budget left to lend: %+v, want a borrowed grant", res)
	}
	if res.Next < 5*time.Second || res.Next > 10*time.Second {
		t.Fatalf("after borrowing, a may ask again in %v, want when the next request can be lent (10s)", res.Next)
	}
	global := get(t, c, rdb.PacerKey("p"))
	res = takeA()
	if res.Allowed != 0 || res.Reason != "share" || res.RetryAfter < 5*time.Second || res.RetryAfter > 10*time.Second {
		t.Fatalf("a over its share, only the kept burst left: %+v, want a refusal until a request can be lent (10s)", res)
	}
	if v := get(t, c, rdb.PacerKey("p")); v != global {
		t.Fatalf("a refused borrower spent the global budget: %q → %q", global, v)
	}
	// The kept part of the burst is there for b, within its share.
	for i := range 2 {
		res, err := r.PacerTake(ctx, rdb.PacerRequest{Pacer: "p", Consumer: "b", Limit: lim, ActiveWindow: time.Minute})
		if err != nil || res.Allowed != 1 || res.Reason != "share" {
			t.Fatalf("b's request %d within its share: %+v, %v", i+1, res, err)
		}
	}
	st, err := r.PacerStats(ctx, "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Borrowed != 1 || st.PerConsumer["a"].Borrowed != 1 || st.PerConsumer["a"].Granted != 3 || st.PerConsumer["b"].Borrowed != 0 {
		t.Fatalf("counters: %+v", st)
	}
}

// Consumers waiting to borrow take turns: one that borrowed more than one
// loan more than another one waiting is refused, and the other gets it.
func TestPacerLendingIsFair(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	// One request per 10 s, burst 12: 6 lendable. Three consumers each
	// own a burst of 4.
	lim := redis_rate.Limit{Rate: 6, Period: time.Minute, Burst: 12}
	takeBy := func(consumer string) rdb.PacerResult {
		t.Helper()
		res, err := r.PacerTake(ctx, rdb.PacerRequest{Pacer: "p", Consumer: consumer, Limit: lim, ActiveWindow: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, consumer := range []string{"a", "b", "l"} {
		c.ZAdd(ctx, rdb.PacerActiveKey("p"), redis.Z{Score: 1e18, Member: consumer})
	}
	for _, consumer := range []string{"a", "b"} {
		for i := range 4 {
			if res := takeBy(consumer); res.Allowed != 1 || res.Reason != "share" {
				t.Fatalf("%s's request %d within its share: %+v", consumer, i+1, res)
			}
		}
	}
	// The budget is full again; a and b are over their shares, and b has
	// already asked to borrow (it is waiting for a minute) after a borrowed
	// 5 more than it.
	c.Del(ctx, rdb.PacerKey("p"))
	c.ZAdd(ctx, rdb.PacerLentKey("p"), redis.Z{Score: 5, Member: "a"}, redis.Z{Score: 0, Member: "b"})
	c.ZAdd(ctx, rdb.PacerHungryKey("p"), redis.Z{Score: 1e18, Member: "b"})

	global := get(t, c, rdb.PacerKey("p"))
	if res := takeBy("a"); res.Allowed != 0 || res.Reason != "share" || res.RetryAfter <= 0 || res.RetryAfter > 10*time.Second {
		t.Fatalf("a, far ahead in borrowing, b waiting to borrow: %+v, want a refusal for a turn", res)
	}
	if v := get(t, c, rdb.PacerKey("p")); v != global {
		t.Fatalf("a's refusal spent the budget: %q → %q", global, v)
	}
	for i := range 4 {
		if res := takeBy("b"); res.Allowed != 1 || res.Reason != "borrow" {
			t.Fatalf("b's loan %d: %+v", i+1, res)
		}
	}
	// b has borrowed 4, a 5: a may borrow again.
	if res := takeBy("a"); res.Allowed != 1 || res.Reason != "borrow" {
		t.Fatalf("a, one loan ahead of b: %+v, want a loan", res)
	}
	st, err := r.PacerStats(ctx, "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.PerConsumer["a"].Borrowed != 1 || st.PerConsumer["b"].Borrowed != 4 {
		t.Fatalf("counters: %+v", st.PerConsumer)
	}
}

func TestPacerCooldownOnlyGrows(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()

	until, err := r.PacerCooldown(ctx, "p", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	shorter, err := r.PacerCooldown(ctx, "p", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !shorter.Equal(until) {
		t.Fatalf("a 1s cool-down moved the end of a 30s one from %v to %v", until, shorter)
	}
	left, err := r.PacerCooldownRemaining(ctx, "p")
	if err != nil || left <= 29*time.Second || left > 30*time.Second {
		t.Fatalf("remaining = %v, %v; want just under 30s", left, err)
	}
	res := take(t, r, "a")
	if res.Allowed != 0 || res.Reason != "cooldown" || res.RetryAfter < 29*time.Second {
		t.Fatalf("a request during the cool-down: %+v", res)
	}
	st, err := r.PacerStats(ctx, "p", time.Minute)
	if err != nil || !st.CooldownUntil.Equal(until) {
		t.Fatalf("stats cool-down = %v (%v), want %v", st.CooldownUntil, err, until)
	}
	if left, _ := r.PacerCooldownRemaining(ctx, "other"); left != 0 {
		t.Fatalf("a pacer never cooled down has %v remaining", left)
	}
}

// Consumer names may hold the separator of the counters' fields.
func TestPacerStatsConsumerNames(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	ctx := context.Background()
	for _, consumer := range []string{"sync:a:b", "x"} {
		if _, err := r.PacerTake(ctx, rdb.PacerRequest{Pacer: "p", Consumer: consumer, Limit: slow, ActiveWindow: time.Minute, Waited: 1500 * time.Microsecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.PacerRecordWait(ctx, "p", "sync:a:b", 2*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, err := r.PacerStats(ctx, "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := st.PerConsumer["sync:a:b"]
	want := rdb.PacerCounters{Granted: 1, Waits: 2, WaitTime: 3500 * time.Microsecond}
	if got != want || st.Waits != 3 || st.WaitTime != 5*time.Millisecond {
		t.Fatalf("counters of sync:a:b = %+v (total %+v), want %+v", got, st.PacerCounters, want)
	}
}

func TestPacerTakeOutage(t *testing.T) {
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	srv.Stop()
	_, err := r.PacerTake(context.Background(), rdb.PacerRequest{Pacer: "p", Consumer: "a", Limit: slow, ActiveWindow: time.Second})
	if !errors.Is(err, rdb.ErrUnavailable) || !strings.Contains(err.Error(), `pacer "p"`) {
		t.Fatalf("take with Redis down: %v, want ErrUnavailable naming the pacer", err)
	}
}

// Operators read the grants of the last minute, the cool-downs and
// Notion's 429s by budget from the pacer's stats; refusals count nothing,
// and grants older than a minute drop out of the minute.
func TestPacerStatsForOperators(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	r := rdb.New(c)
	ctx := context.Background()
	granted := 0
	for range 5 {
		if take(t, r, "a").Allowed == 1 {
			granted++
		}
	}
	if granted != 2 {
		t.Fatalf("granted %d of 5 at a burst of 2", granted)
	}
	if _, err := r.PacerCooldown(ctx, "p", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.PacerNote429(ctx, "p", "workspace"); err != nil {
		t.Fatal(err)
	}
	st, err := r.PacerStats(ctx, "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastMinute != 2 || st.Cooldowns != 1 || st.LastCooldown.IsZero() || st.RateLimited["workspace"] != 1 {
		t.Fatalf("stats: last minute %d (want 2), cooldowns %d (want 1) at %v, 429s %v", st.LastMinute, st.Cooldowns, st.LastCooldown, st.RateLimited)
	}
	if _, ok := st.PerConsumer["workspace"]; ok || len(st.PerConsumer) != 1 {
		t.Fatalf("operator counters leaked into the consumers: %v", st.PerConsumer)
	}
	// Move the grants two minutes into the past: the minute is empty.
	fields, err := c.HGetAll(ctx, rdb.PacerRecentKey("p")).Result()
	if err != nil || len(fields) != 1 {
		t.Fatalf("recent buckets %v (%v), want one", fields, err)
	}
	for f, v := range fields {
		var b int64
		if _, err := fmt.Sscan(f, &b); err != nil {
			t.Fatal(err)
		}
		c.HDel(ctx, rdb.PacerRecentKey("p"), f)
		c.HSet(ctx, rdb.PacerRecentKey("p"), fmt.Sprint(b-20), v)
	}
	st, err = r.PacerStats(ctx, "p", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastMinute != 0 || st.Granted != 2 {
		t.Fatalf("after two minutes: last minute %d (want 0), granted %d (want 2)", st.LastMinute, st.Granted)
	}
}
