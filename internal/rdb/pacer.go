package rdb

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// The pacer's keys all carry the pacer's name as hash tag, so that the one
// script that decides a request sees every one of them on Redis Cluster.

// PacerKey holds the pacer's global GCRA state (the theoretical arrival
// time, in microseconds since pacerEpoch): the budget of every consumer
// together.
func PacerKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}" }

// PacerConsumerKey holds one consumer's GCRA state: its share of the pacer.
func PacerConsumerKey(pacer, consumer string) string {
	return Prefix + "pacer:{" + pacer + "}:consumer:" + consumer
}

// PacerActiveKey is a sorted set of the pacer's consumers scored by the
// last time (server clock) they were using it; a consumer that is waiting
// counts as using it until it is due to try again.
func PacerActiveKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:active" }

// PacerWaitingKey is a sorted set of consumers that were refused and are
// waiting, scored by when they will try again.
func PacerWaitingKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:waiting" }

// PacerHungryKey is a sorted set of the consumers over their share that
// are waiting to borrow, scored by when (server clock) they stop counting
// as such if they do not ask again.
func PacerHungryKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:hungry" }

// PacerLentKey is a sorted set of the active consumers scored by how much
// they borrowed, so that lending is fair between them.
func PacerLentKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:lent" }

// PacerCooldownKey holds the end (server clock) of a shared cool-down.
func PacerCooldownKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:cooldown" }

// PacerStatsKey is a hash of the pacer's counters for operators: granted,
// borrowed, waits, wait_us, and the same per consumer as
// "<counter>:<consumer>".
func PacerStatsKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:stats" }

// PacerRecentKey is a hash of the pacer's grants by six-second bucket
// (server clock), the last minute's worth: operators read "requests in the
// last minute" from it. It expires two minutes after the last grant.
func PacerRecentKey(pacer string) string { return Prefix + "pacer:{" + pacer + "}:recent" }

// pacerStatsTTL drops the counters of a pacer nobody used for a month
// (Notion pacers are named after a token, and tokens get rotated).
const pacerStatsTTL = 30 * 24 * time.Hour

// pacerEpoch is redis_rate's epoch. The scripts count integer
// microseconds since it: about 2^48 today, exact in Lua's doubles (up to
// 2^53, year 2302), so a GCRA's theoretical arrival time can be advanced
// millions of times without drifting — redis_rate's float seconds lose a
// few nanoseconds a step, always in the same direction.
const pacerEpoch = 1483228800

func pacerTime(us int64) time.Time {
	return time.Unix(pacerEpoch, 0).Add(time.Duration(us) * time.Microsecond)
}

func micros(us int64) time.Duration {
	if us == -1 {
		return -1 // redis_rate's "not limited"
	}
	return time.Duration(us) * time.Microsecond
}

// pacerLua holds helpers shared by the pacer scripts. Times are integer
// microseconds since pacerEpoch; num formats one for Redis without Lua's
// 14-digit rounding or an exponent.
const pacerLua = `
local t = redis.call("TIME")
local now = (tonumber(t[1]) - 1483228800) * 1000000 + tonumber(t[2])

local function num(x)
  return string.format("%.0f", x)
end

-- keep extends a key's time to live (us), never shortens it.
local function keep(key, us)
  local ms = math.ceil(us / 1000)
  if ms < 1000 then ms = 1000 end
  if redis.call("PTTL", key) < ms then
    redis.call("PEXPIRE", key, num(ms))
  end
end

-- raise sets a member's score unless it already has a higher one.
local function raise(zkey, member, score)
  local cur = tonumber(redis.call("ZSCORE", zkey, member))
  if not cur or score > cur then
    redis.call("ZADD", zkey, num(score), member)
  end
end
`

// pacerTakeScript decides one request of one consumer on a pacer in a
// single round trip: cool-down, activity, the pacer's global GCRA, the
// consumer's GCRA at its fair share, and the counters.
//
// The GCRA is redis_rate's allowN (cost 1), evaluated twice: once on the
// global key with the pacer's rate R and burst B, once on the consumer's key
// with R/n and ceil(B/n), n being the number of active consumers. The
// shares add up to exactly R, so consumers that all want more than their
// share get it in turn and nobody can crowd out the others, however many
// goroutines or processes ask for it. Nothing is written unless the request
// is granted, so a refusal by one of the two limits never spends budget of
// the other.
//
// A consumer within its share is granted whenever the global limit allows.
// A consumer over its share may still *borrow* from the global budget
// (like HTB's borrowing), but only while that leaves floor(B/2) requests of
// burst for the consumers within their share: when every consumer is busy
// the global budget stays fuller than that and nobody borrows, and when
// some leave part of their share unused the global budget drains, and the
// busy ones take the rest. Borrowing does not advance the consumer's own
// GCRA, so a consumer that borrowed is not punished when the others come
// back. This is what makes the pacer work-conserving. Borrowers take
// turns, whichever of them asks first (see lent_state below).
//
// A consumer within its share that finds the global budget full for less
// than one of its own turns is granted the next free slot, with a delay
// (the GCRA's reservation, as x/time/rate's Reserve): when the shares add
// up to the whole budget, consumers then line up instead of racing.
//
// Returns {allowed, remaining, retry_after, reset_after, active, at_us,
// reason, next, delay}: reason is share|queued|borrow (granted) or
// share|global|cooldown (refused); at_us is when the request may go, on
// the server's clock (now + delay); on a grant, next is how long until
// asking again may be granted (within the share again, or budget to lend).
var pacerTakeScript = redis.NewScript(`
redis.replicate_commands()
` + pacerLua + `
local global_key, consumer_key, active_key = KEYS[1], KEYS[2], KEYS[3]
local waiting_key, cooldown_key, stats_key = KEYS[4], KEYS[5], KEYS[6]
local hungry_key, lent_key = KEYS[7], KEYS[8]
local consumer = ARGV[1]
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local waited = ARGV[6] == "1"
local waited_us = tonumber(ARGV[7])
local stats_ttl = ARGV[8]

local function active(until_)
  raise(active_key, consumer, until_)
  local gone = redis.call("ZRANGEBYSCORE", active_key, "-inf", "(" .. num(now - window))
  if #gone > 0 then
    redis.call("ZREM", active_key, unpack(gone))
    redis.call("ZREM", lent_key, unpack(gone))
  end
  keep(active_key, until_ - now + window + 1000000)
  keep(lent_key, until_ - now + window + 1000000)
  return redis.call("ZCARD", active_key)
end

local function refuse(retry, reset, reason)
  if retry < 1 then retry = 1 end
  raise(waiting_key, consumer, now + retry)
  keep(waiting_key, retry + 1000000)
  local n = active(now + retry)
  return {0, 0, retry, reset, n, now, reason, 0, 0}
end

local cooldown = tonumber(redis.call("GET", cooldown_key))
if cooldown and cooldown > now then
  return refuse(cooldown - now, cooldown - now, "cooldown")
end

local n = active(now)

-- The emission interval, rounded up to a whole microsecond: the budget
-- may be used a hair under R, never over.
local T = math.ceil(period / rate)
if T < 1 then T = 1 end
local tat_g = tonumber(redis.call("GET", global_key)) or now
if tat_g < now then tat_g = now end
local new_tat_g = tat_g + T
local g_diff = now - (new_tat_g - T * burst)

-- Borrowing must leave this much of the burst to consumers within their share.
local kept = math.floor(burst / 2)
local b_diff = now - (new_tat_g - T * (burst - kept))

-- The consumer's share, R/n: its emission interval is n times the pacer's.
local Tc = T * n
local burst_c = math.ceil(burst / n)
local tat_c = tonumber(redis.call("GET", consumer_key)) or now
if tat_c < now then tat_c = now end
local new_tat_c = tat_c + Tc
local c_diff = now - (new_tat_c - Tc * burst_c)


-- Lending is fair between the consumers that want to borrow: they are
-- told the same instant, and the first to ask would take it, every time
-- if its process is a little quicker. Instead each counts what it borrowed
-- (lent_key, normalised when it starts borrowing, as start-time fair
-- queueing's virtual time), and one more than one loan ahead of another
-- that wants to borrow lets that one have it. A consumer wants to borrow
-- (hungry_key) once it asked over its share, until it is due to ask again
-- plus grace: long enough to cover a grant of its own share in between and
-- some lateness, short enough that budget is not held for a consumer that
-- stopped asking for more than its share for long.
local grace = Tc + T * kept + 50000
if grace > window then grace = window end
local function lent_state()
  redis.call("ZREMRANGEBYSCORE", hungry_key, "-inf", num(now))
  local least
  for _, o in ipairs(redis.call("ZRANGE", hungry_key, 0, -1)) do
    local v = tonumber(redis.call("ZSCORE", lent_key, o))
    if o ~= consumer and v and (not least or v < least) then least = v end
  end
  local mine = tonumber(redis.call("ZSCORE", lent_key, consumer))
  local was_hungry = redis.call("ZSCORE", hungry_key, consumer)
  if not was_hungry and least and (not mine or mine < least) then mine = least end
  return mine or 0, least
end
local function hunger(lent, until_)
  redis.call("ZADD", lent_key, num(lent), consumer)
  raise(hungry_key, consumer, until_ + grace)
  keep(hungry_key, until_ - now + grace + 1000000)
end

local reason, my_lent
local delay = 0
if c_diff >= 0 and g_diff >= 0 then
  reason = "share"
elseif c_diff >= 0 and -g_diff <= Tc then
  -- Within its share, and the pacer as a whole has room within one of the
  -- consumer's turns: take that slot now. Consumers within their share so
  -- queue in order for the global budget instead of all waking for each
  -- free slot and racing (n round trips a grant when the pacer is full).
  reason = "queued"
  delay = -g_diff
elseif c_diff < 0 and b_diff >= 0 then
  local lent, least = lent_state()
  if least and lent > least + 1 then
    -- Another borrower is behind: leave this one to it.
    hunger(lent, now + T)
    return refuse(T, tat_g - now, "share")
  end
  reason = "borrow"
  my_lent = lent + 1
elseif c_diff >= 0 then
  -- Within its share; the pacer as a whole is out of budget for longer.
  return refuse(-g_diff, tat_g - now, "global")
else
  -- Over its share and nothing to borrow: come back when within the share,
  -- or when there is budget to lend again, whichever comes first, so that
  -- budget the others leave is taken as soon as it is there.
  local retry = -c_diff
  if -b_diff < retry then retry = -b_diff end
  hunger(lent_state(), now + retry)
  return refuse(retry, tat_g - now, "share")
end

-- When asking again may be granted: within the share again, or budget to
-- lend again, whichever comes first.
local next_c
if reason == "borrow" then
  next_c = -c_diff
else
  redis.call("SET", consumer_key, num(new_tat_c), "PX", num(math.ceil((new_tat_c - now) / 1000) + 1000))
  next_c = new_tat_c + Tc - Tc * burst_c - now
end
redis.call("SET", global_key, num(new_tat_g), "PX", num(math.ceil((new_tat_g - now) / 1000) + 1000))
local next_b = new_tat_g + T - T * (burst - kept) - now
if next_b < next_c then next_c = next_b end
if next_c < 0 then next_c = 0 end
if my_lent then hunger(my_lent, now + next_c) end

redis.call("HINCRBY", stats_key, "granted", 1)
redis.call("HINCRBY", stats_key, "granted:" .. consumer, 1)
if reason == "borrow" then
  redis.call("HINCRBY", stats_key, "borrowed", 1)
  redis.call("HINCRBY", stats_key, "borrowed:" .. consumer, 1)
end
if waited or delay > 0 then
  local wait_us = num(waited_us + delay)
  redis.call("HINCRBY", stats_key, "waits", 1)
  redis.call("HINCRBY", stats_key, "waits:" .. consumer, 1)
  redis.call("HINCRBY", stats_key, "wait_us", wait_us)
  redis.call("HINCRBY", stats_key, "wait_us:" .. consumer, wait_us)
end
redis.call("EXPIRE", stats_key, stats_ttl)
-- Grants in the last minute, by six-second bucket, for operators. Old
-- buckets are dropped when a new one starts (at most every six seconds).
local recent_key = KEYS[9]
local bucket = math.floor(now / 6000000)
if redis.call("HINCRBY", recent_key, bucket, 1) == 1 then
  for _, f in ipairs(redis.call("HKEYS", recent_key)) do
    if tonumber(f) < bucket - 10 then redis.call("HDEL", recent_key, f) end
  end
  redis.call("PEXPIRE", recent_key, 120000)
end
redis.call("ZREM", waiting_key, consumer)
-- A consumer that will sleep until it may ask again is still using the
-- pacer meanwhile.
if next_c > 0 then active(now + next_c) end

local remaining = math.floor(g_diff / T)
if remaining < 0 then remaining = 0 end
return {1, remaining, -1, new_tat_g - now, n, now + delay, reason, next_c, delay}
`)

// PacerRequest is one attempt of a consumer to send a request.
type PacerRequest struct {
	Pacer    string
	Consumer string
	// Limit is the pacer's whole budget (redis_rate's Rate per Period with
	// Burst), shared by every consumer.
	Limit redis_rate.Limit
	// ActiveWindow is how long a consumer counts as active after its last
	// attempt; every process must use the same.
	ActiveWindow time.Duration
	// Waited is how long the Wait call sending this attempt has waited so
	// far. When positive, or when the grant comes with a Delay, the grant
	// also counts one wait of their sum.
	Waited time.Duration
}

// PacerResult is the decision on one attempt. Result follows redis_rate:
// Allowed is 1 or 0, Remaining is the global budget left, RetryAfter is -1
// on a grant and otherwise how long to sleep before trying again.
type PacerResult struct {
	redis_rate.Result
	// At is when the request may go, on the Redis server's clock: the time
	// of the decision plus Delay.
	At time.Time
	// Delay, on a grant, is how long the request must still wait: the slot
	// it was granted is that far ahead. Nothing else needs asking.
	Delay time.Duration
	// Active is the number of consumers sharing the pacer.
	Active int
	// Share is the fraction of the budget that is the consumer's own:
	// 1/Active. It may get more by borrowing what the others leave.
	Share float64
	// Reason is "share" (granted within the consumer's share or refused for
	// being over it with nothing to borrow), "queued" (granted within the
	// share, after Delay), "borrow" (granted from budget others left
	// unused), "global" (refused: the pacer as a whole is out of budget) or
	// "cooldown" (refused: the pacer is cooling down).
	Reason string
	// Next, on a grant, is how long until asking again may be granted: the
	// consumer is within its share again or there is budget to borrow.
	// Asking sooner would only be refused.
	Next time.Duration
}

// PacerTake decides one request of a consumer on a pacer, atomically, and
// records it in the pacer's counters when granted.
func (r *RDB) PacerTake(ctx context.Context, req PacerRequest) (PacerResult, error) {
	keys := []string{
		PacerKey(req.Pacer), PacerConsumerKey(req.Pacer, req.Consumer), PacerActiveKey(req.Pacer),
		PacerWaitingKey(req.Pacer), PacerCooldownKey(req.Pacer), PacerStatsKey(req.Pacer),
		PacerHungryKey(req.Pacer), PacerLentKey(req.Pacer), PacerRecentKey(req.Pacer),
	}
	waited := "0"
	if req.Waited > 0 {
		waited = "1"
	}
	args := []any{
		req.Consumer, req.Limit.Rate, req.Limit.Period.Microseconds(), req.Limit.Burst,
		req.ActiveWindow.Microseconds(), waited, req.Waited.Microseconds(), int64(pacerStatsTTL.Seconds()),
	}
	op := fmt.Sprintf("pace consumer %q on pacer %q", req.Consumer, req.Pacer)
	if req.Limit.Rate <= 0 || req.Limit.Period < time.Microsecond || req.Limit.Burst <= 0 {
		return PacerResult{}, fmt.Errorf("rdb: %s: invalid limit %v", op, req.Limit)
	}
	v, err := pacerTakeScript.Run(ctx, r.c, keys, args...).Slice()
	if err != nil {
		return PacerResult{}, wrap(op, err)
	}
	if len(v) != 9 {
		return PacerResult{}, fmt.Errorf("rdb: %s: script returned %d values, want 9", op, len(v))
	}
	var res PacerResult
	var perr error
	num := func(i int) int64 {
		n, ok := v[i].(int64)
		if !ok && perr == nil {
			perr = fmt.Errorf("rdb: %s: value %d is %T, want an integer", op, i, v[i])
		}
		return n
	}
	res.Limit = req.Limit
	res.Allowed = int(num(0))
	res.Remaining = int(num(1))
	res.RetryAfter = micros(num(2))
	res.ResetAfter = micros(num(3))
	res.Active = int(num(4))
	res.At = pacerTime(num(5))
	res.Reason, _ = v[6].(string)
	res.Next = micros(num(7))
	res.Delay = micros(num(8))
	if res.Active > 0 {
		res.Share = 1 / float64(res.Active)
	}
	return res, perr
}

// PacerRecordWait counts a Wait that gave up (its context ended) after
// waiting: granted waits are counted by PacerTake itself.
func (r *RDB) PacerRecordWait(ctx context.Context, pacer, consumer string, waited time.Duration) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		k := PacerStatsKey(pacer)
		p.HIncrBy(ctx, k, "waits", 1)
		p.HIncrBy(ctx, k, "waits:"+consumer, 1)
		p.HIncrBy(ctx, k, "wait_us", waited.Microseconds())
		p.HIncrBy(ctx, k, "wait_us:"+consumer, waited.Microseconds())
		p.Expire(ctx, k, pacerStatsTTL)
		return nil
	})
	return wrap(fmt.Sprintf("record a wait of consumer %q on pacer %q", consumer, pacer), err)
}

// pacerCooldownScript extends a pacer's cool-down to now+d on the server's
// clock; a shorter cool-down never cuts a longer one short. Returns the
// end, in microseconds since the epoch.
var pacerCooldownScript = redis.NewScript(`
redis.replicate_commands()
` + pacerLua + `
local d = tonumber(ARGV[1])
local until_ = now + d
-- Operators see how many cool-downs a pacer had, and the last one.
redis.call("HINCRBY", KEYS[2], "cooldowns", 1)
redis.call("HSET", KEYS[2], "last_cooldown", num(now))
redis.call("EXPIRE", KEYS[2], ARGV[2])
local cur = tonumber(redis.call("GET", KEYS[1]))
if cur and cur >= until_ then
  return {now, cur}
end
redis.call("SET", KEYS[1], num(until_), "PX", num(math.ceil(d / 1000) + 1000))
return {now, until_}
`)

// PacerCooldown makes every consumer of the pacer wait d from now (server
// clock) and returns when the cool-down ends.
func (r *RDB) PacerCooldown(ctx context.Context, pacer string, d time.Duration) (time.Time, error) {
	keys := []string{PacerCooldownKey(pacer), PacerStatsKey(pacer)}
	v, err := pacerCooldownScript.Run(ctx, r.c, keys, d.Microseconds(), int64(pacerStatsTTL.Seconds())).Int64Slice()
	if err != nil {
		return time.Time{}, wrap(fmt.Sprintf("start a cool-down of %v on pacer %q", d, pacer), err)
	}
	return pacerTime(v[1]), nil
}

// pacerReadScript reads a pacer's cool-down and, when asked, its counters
// and consumers, at one instant of the server's clock.
var pacerReadScript = redis.NewScript(pacerLua + `
local cooldown = tonumber(redis.call("GET", KEYS[1]))
if not cooldown or cooldown <= now then cooldown = 0 end
if ARGV[1] ~= "stats" then
  return {now, cooldown}
end
local window = tonumber(ARGV[2])
local bucket = math.floor(now / 6000000)
local recent = 0
local r = redis.call("HGETALL", KEYS[5])
for i = 1, #r, 2 do
  if tonumber(r[i]) > bucket - 10 then recent = recent + tonumber(r[i + 1]) end
end
return {now, cooldown,
  redis.call("HGETALL", KEYS[2]),
  redis.call("ZRANGEBYSCORE", KEYS[3], num(now - window), "+inf"),
  redis.call("ZRANGEBYSCORE", KEYS[4], "(" .. num(now), "+inf"),
  recent}
`)

// PacerCooldownRemaining returns how long the pacer's cool-down still
// lasts on the server's clock (0 when there is none).
func (r *RDB) PacerCooldownRemaining(ctx context.Context, pacer string) (time.Duration, error) {
	v, err := pacerReadScript.Run(ctx, r.c, []string{PacerCooldownKey(pacer)}, "cooldown").Int64Slice()
	if err != nil {
		return 0, wrap(fmt.Sprintf("read the cool-down of pacer %q", pacer), err)
	}
	if v[1] <= v[0] {
		return 0, nil
	}
	return time.Duration(v[1]-v[0]) * time.Microsecond, nil
}

// PacerCounters are the counters of a pacer, or of one of its consumers.
type PacerCounters struct {
	Granted  int64
	Borrowed int64
	Waits    int64
	WaitTime time.Duration
}

// PacerStats is what operators see of a pacer.
type PacerStats struct {
	PacerCounters
	// Active are the consumers that used the pacer within the active
	// window, sorted; Waiting those refused and waiting right now.
	Active        []string
	Waiting       []string
	PerConsumer   map[string]PacerCounters
	CooldownUntil time.Time // zero when there is none
	At            time.Time // server time of the reading
	// LastMinute counts the grants of the last minute (50 to 60 s: whole
	// six-second buckets and the current one).
	LastMinute int64
	// Cooldowns counts the cool-downs the pacer had (a 429 each, for
	// Notion's budgets); LastCooldown is when the last one began.
	Cooldowns    int64
	LastCooldown time.Time
	// RateLimited counts Notion's 429s by the budget they named
	// (connection, workspace, endpoint …), on a token's connection pacer.
	RateLimited map[string]int64
}

// PacerStats reads a pacer's counters and consumers.
func (r *RDB) PacerStats(ctx context.Context, pacer string, activeWindow time.Duration) (PacerStats, error) {
	keys := []string{PacerCooldownKey(pacer), PacerStatsKey(pacer), PacerActiveKey(pacer), PacerWaitingKey(pacer), PacerRecentKey(pacer)}
	op := fmt.Sprintf("read the stats of pacer %q", pacer)
	v, err := pacerReadScript.Run(ctx, r.c, keys, "stats", activeWindow.Microseconds()).Slice()
	if err != nil {
		return PacerStats{}, wrap(op, err)
	}
	if len(v) != 6 {
		return PacerStats{}, fmt.Errorf("rdb: %s: script returned %d values, want 6", op, len(v))
	}
	st := PacerStats{PerConsumer: map[string]PacerCounters{}}
	now, _ := v[0].(int64)
	st.At = pacerTime(now)
	if cd, _ := v[1].(int64); cd > 0 {
		st.CooldownUntil = pacerTime(cd)
	}
	strs := func(x any) []string {
		list, _ := x.([]any)
		out := make([]string, 0, len(list))
		for _, e := range list {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	fields := strs(v[2])
	for i := 0; i+1 < len(fields); i += 2 {
		n, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return PacerStats{}, fmt.Errorf("rdb: %s: counter %q is %q: %w", op, fields[i], fields[i+1], err)
		}
		switch f := fields[i]; {
		case f == "cooldowns":
			st.Cooldowns = n
			continue
		case f == "last_cooldown":
			st.LastCooldown = pacerTime(n)
			continue
		case strings.HasPrefix(f, "r429_"):
			if st.RateLimited == nil {
				st.RateLimited = map[string]int64{}
			}
			st.RateLimited[strings.TrimPrefix(f, "r429_")] = n
			continue
		}
		name, consumer, per := strings.Cut(fields[i], ":")
		c := &st.PacerCounters
		var pc PacerCounters
		if per {
			pc = st.PerConsumer[consumer]
			c = &pc
		}
		switch name {
		case "granted":
			c.Granted = n
		case "borrowed":
			c.Borrowed = n
		case "waits":
			c.Waits = n
		case "wait_us":
			c.WaitTime = time.Duration(n) * time.Microsecond
		default:
			continue
		}
		if per {
			st.PerConsumer[consumer] = pc
		}
	}
	st.LastMinute, _ = v[5].(int64)
	st.Active = strs(v[3])
	st.Waiting = strs(v[4])
	sort.Strings(st.Active)
	sort.Strings(st.Waiting)
	return st, nil
}

// PacerNote429 counts one of Notion's 429s on a token's connection pacer,
// by the budget it named, for operators (the cool-down itself goes to the
// budget's own pacer).
func (r *RDB) PacerNote429(ctx context.Context, pacer, budget string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		k := PacerStatsKey(pacer)
		p.HIncrBy(ctx, k, "r429_"+budget, 1)
		p.Expire(ctx, k, pacerStatsTTL)
		return nil
	})
	return wrap(fmt.Sprintf("count a 429 on pacer %q", pacer), err)
}
