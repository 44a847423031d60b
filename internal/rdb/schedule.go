package rdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scheduler's keys (see DueKey, ActiveKey, CatalogVersionKey); the run
// scripts name them literally.
const (
	dueKey            = Prefix + "{sched}:due"
	activeKey         = Prefix + "{sched}:active"
	catalogVersionKey = Prefix + "{sched}:catalog"
	recentRunsKey     = Prefix + "{sched}:recent-runs"
)

// Schedule kinds as a sync's hash records them (field "sched"), written by
// Reconcile: the run and pause scripts read it to know whether a sync
// belongs in the due set.
const (
	SchedManual     = "m"
	SchedContinuous = "c"
)

// SchedInterval is the "sched" field of an interval sync: its interval, so
// that a changed interval makes the leader look at the sync at once.
func SchedInterval(d time.Duration) string { return "i:" + strconv.FormatInt(d.Milliseconds(), 10) }

// Due returns up to limit syncs whose due time (DueKey) is at or before
// now, earliest first.
func (r *RDB) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	v, err := r.c.ZRangeByScore(ctx, dueKey, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	return v, wrap("read the due syncs", err)
}

// DueAt returns when the leader looks at a sync next; ok is false when the
// sync is not in the due set.
func (r *RDB) DueAt(ctx context.Context, sync string) (time.Time, bool, error) {
	ms, err := r.c.ZScore(ctx, dueKey, sync).Result()
	if IsNil(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap("read the due time of sync "+sync, err)
	}
	return time.UnixMilli(int64(ms)), true, nil
}

// scheduleAtScript puts a sync in the due set at ARGV[2] (ms) and records
// its next run (ARGV[3], ns; "" keeps it) — when ARGV[5] is not "-", only
// if the next run is still ARGV[5], else it returns -1 — unless the sync is paused or,
// continuous (ARGV[4] = "1"), has a run active: then it takes the sync out
// (resume and the run's end put it back). Checking in the same step as the
// pause and the run's start and end is what keeps a sync from dropping out
// of the schedule for good.
var scheduleAtScript = redis.NewScript(`
if ARGV[5] ~= "-" and (redis.call("HGET", KEYS[1], "next_run") or "") ~= ARGV[5] then return -1 end
if redis.call("HGET", KEYS[1], "paused") == "1" or
   (ARGV[4] == "1" and (redis.call("HGET", KEYS[1], "active_run") or "") ~= "") then
  -- Out of the due set, its next run untouched: a paused sync's slot is
  -- not used up, so it runs when resumed.
  redis.call("ZREM", "` + dueKey + `", ARGV[1])
  return 0
end
if ARGV[3] ~= "" then redis.call("HSET", KEYS[1], "next_run", ARGV[3]) end
redis.call("ZADD", "` + dueKey + `", ARGV[2], ARGV[1])
return 1`)

// ScheduleAt makes the leader look at sync again at at; a paused sync (or
// a continuous one with a run active) leaves the due set instead. It
// reports whether the sync stays in the due set.
func (r *RDB) ScheduleAt(ctx context.Context, sync string, at time.Time, continuous bool) (bool, error) {
	n, err := r.scheduleAt(ctx, sync, at, time.Time{}, "-", continuous)
	return n == 1, err
}

// ScheduleNext records next as the sync's next run and makes the leader
// look at it then — only if its next run is still prev (zero: none yet)
// and it is not paused. taken is false when another scheduler (an
// overlapping leader) took this slot, or the sync is paused (it leaves
// the due set, its next run untouched): the caller must not start the
// run.
func (r *RDB) ScheduleNext(ctx context.Context, sync string, at, next, prev time.Time) (taken bool, err error) {
	n, err := r.scheduleAt(ctx, sync, at, next, nsOrEmpty(prev), false)
	return n == 1, err
}

func nsOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// undoNextScript gives a slot back: next_run goes from ARGV[2] back to
// ARGV[3] ("" clears it) if nobody moved it since, and the sync is due at
// ARGV[4] (ms) unless paused.
var undoNextScript = redis.NewScript(`
if (redis.call("HGET", KEYS[1], "next_run") or "") ~= ARGV[2] then return 0 end
if ARGV[3] == "" then redis.call("HDEL", KEYS[1], "next_run") else redis.call("HSET", KEYS[1], "next_run", ARGV[3]) end
if redis.call("HGET", KEYS[1], "paused") == "1" then
  redis.call("ZREM", "` + dueKey + `", ARGV[1])
else
  redis.call("ZADD", "` + dueKey + `", ARGV[4], ARGV[1])
end
return 1`)

// UndoNext gives back the slot ScheduleNext took (from → prev) when the
// run could not start because the sync was paused meanwhile: the sync
// then runs when resumed, as if it had been paused before its due time.
func (r *RDB) UndoNext(ctx context.Context, sync string, from, prev, at time.Time) error {
	err := undoNextScript.Run(ctx, r.c, []string{SyncKey(sync)}, sync, nsOrEmpty(from), nsOrEmpty(prev), at.UnixMilli()).Err()
	return wrap("give back the next run of sync "+sync, err)
}

func (r *RDB) scheduleAt(ctx context.Context, sync string, at, next time.Time, prev string, continuous bool) (int, error) {
	n := ""
	if !next.IsZero() {
		n = strconv.FormatInt(next.UnixNano(), 10)
	}
	// In ms, as Due compares: the scheduler compares due times in ms too
	// (a sync read as due must be found due, or it would be read again).
	res, err := scheduleAtScript.Run(ctx, r.c, []string{SyncKey(sync)}, sync, at.UnixMilli(), n, flag(continuous), prev).Int()
	return res, wrap("schedule sync "+sync, err)
}

// Unschedule takes syncs out of the due set (undeclared, forgotten, or
// manual now).
func (r *RDB) Unschedule(ctx context.Context, syncs ...string) error {
	if len(syncs) == 0 {
		return nil
	}
	args := make([]any, len(syncs))
	for i, s := range syncs {
		args[i] = s
	}
	return wrap("unschedule syncs", r.c.ZRem(ctx, dueKey, args...).Err())
}

// reconcileScript records each sync's schedule kind (ARGV pairs: name,
// kind) and puts the scheduled, unpaused ones in the due set: at 0 (look
// now) when the kind changed or the sync is new, where it was otherwise.
var reconcileScript = redis.NewScript(`
local changed = 0
for i = 1, #ARGV, 2 do
  local name, sched = ARGV[i], ARGV[i + 1]
  local key = "` + Prefix + `sync:{" .. name .. "}"
  local old = redis.call("HGET", key, "sched")
  if old ~= sched and (old or sched ~= "m") then
    redis.call("HSET", key, "sched", sched)
    changed = changed + 1
  end
  if sched == "m" or redis.call("HGET", key, "paused") == "1" then
    redis.call("ZREM", "` + dueKey + `", name)
  elseif old ~= sched then
    redis.call("ZADD", "` + dueKey + `", 0, name)
  else
    redis.call("ZADD", "` + dueKey + `", "NX", 0, name)
  end
end
return changed`)

// reconcileBatch bounds one reconcile call, so a catalog of ten thousand
// syncs never blocks Redis for long.
const reconcileBatch = 500

// Reconcile brings the due set in line with the declared syncs' schedules
// (sync → kind: SchedManual, SchedContinuous or SchedInterval): the leader
// calls it after it read a changed catalog. It returns how many syncs'
// kinds changed.
func (r *RDB) Reconcile(ctx context.Context, scheds map[string]string) (int, error) {
	args := make([]any, 0, 2*reconcileBatch)
	total := 0
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		n, err := reconcileScript.Run(ctx, r.c, nil, args...).Int()
		total += n
		args = args[:0]
		return wrap("reconcile the due set", err)
	}
	for k, v := range scheds {
		args = append(args, k, v)
		if len(args) == 2*reconcileBatch {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

// CatalogStamp says whether the catalog may have changed since it was read:
// the version and how many of the manifests it was read from still exist.
type CatalogStamp struct {
	Version string
	Live    int64
}

// CatalogStamp reads the catalog's version and counts which of manifests
// (BuildManifestKey) still exist, in one round trip.
func (r *RDB) CatalogStamp(ctx context.Context, manifests []string) (CatalogStamp, error) {
	p := r.c.Pipeline()
	v := p.Get(ctx, catalogVersionKey)
	var ex *redis.IntCmd
	if len(manifests) > 0 {
		ex = p.Exists(ctx, manifests...)
	}
	if _, err := p.Exec(ctx); err != nil && !IsNil(err) {
		return CatalogStamp{}, wrap("read the catalog version", err)
	}
	s := CatalogStamp{}
	s.Version = v.Val()
	if ex != nil {
		s.Live = ex.Val()
	}
	return s, nil
}

// BumpCatalog marks the catalog changed.
func (r *RDB) BumpCatalog(ctx context.Context) error {
	return wrap("bump the catalog version", r.c.Set(ctx, catalogVersionKey, newCatalogVersion(), 0).Err())
}

// newCatalogVersion is a random version rather than a counter: a counter
// that Redis lost (a flush, a restart without persistence) could come
// back to the very number a leader holds, and the leader would then keep
// a catalog and due set Redis no longer has.
func newCatalogVersion() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ActiveSyncs lists the syncs that have an active run (ActiveKey).
func (r *RDB) ActiveSyncs(ctx context.Context) ([]string, error) {
	v, err := r.c.SMembers(ctx, activeKey).Result()
	return v, wrap("list syncs with an active run", err)
}

// markActiveScript adds each sync that names an active run to the active
// set and removes each that does not: the reaper's repair of a set that
// an older version, or a lost write, left behind.
var markActiveScript = redis.NewScript(`
local n = 0
for _, name in ipairs(ARGV) do
  local a = redis.call("HGET", "` + Prefix + `sync:{" .. name .. "}", "active_run")
  if a and a ~= "" then
    n = n + redis.call("SADD", "` + activeKey + `", name)
  else
    redis.call("SREM", "` + activeKey + `", name)
  end
end
return n`)

// MarkActive checks syncs against their active run: the active set gets
// the ones that have one and loses the others. It returns how many it
// added.
func (r *RDB) MarkActive(ctx context.Context, syncs ...string) (int, error) {
	total := 0
	for len(syncs) > 0 {
		n := min(len(syncs), reconcileBatch)
		args := make([]any, n)
		for i, s := range syncs[:n] {
			args[i] = s
		}
		syncs = syncs[n:]
		added, err := markActiveScript.Run(ctx, r.c, nil, args...).Int()
		if err != nil {
			return total, wrap("mark syncs with an active run", err)
		}
		total += added
	}
	return total, nil
}
