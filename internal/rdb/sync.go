package rdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// SyncState is what is committed for one sync.
type SyncState struct {
	// State is the committed state JSON; nil when there is none.
	State []byte
	// Run is the run whose pages RunPages counts.
	Run string
	// RunPages is the number of pages of Run committed so far.
	RunPages int
	// RunMore is the HasMore of the last committed page of Run, so a
	// redelivered task for a committed page can still enqueue the next.
	RunMore bool
	// CycleStarted is when the current replace cycle began (zero if none).
	CycleStarted time.Time
}

// GetSync reads a sync's committed state.
func (r *RDB) GetSync(ctx context.Context, sync string) (SyncState, error) {
	m, err := r.c.HGetAll(ctx, SyncKey(sync)).Result()
	if err != nil {
		return SyncState{}, wrap("read state of sync "+sync, err)
	}
	var s SyncState
	if v, ok := m["state"]; ok {
		s.State = []byte(v)
	}
	s.Run = m["run"]
	s.RunPages, _ = strconv.Atoi(m["run_pages"])
	s.RunMore = m["run_more"] == "1"
	if ns, _ := strconv.ParseInt(m["cycle_started"], 10, 64); ns > 0 {
		s.CycleStarted = time.Unix(0, ns)
	}
	return s, nil
}

// beginCycleScript stamps a cycle's start with the server's time (Unix
// nanoseconds, millisecond precision like IndexEntry.Written) unless a
// cycle is under way, and returns the start.
var beginCycleScript = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], "cycle_started")
if v then return v end
local t = redis.call("TIME")
v = string.format("%d", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) .. "000000"
redis.call("HSET", KEYS[1], "cycle_started", v)
return v`)

// BeginCycle records the start of a replace cycle unless one is under way,
// and returns when the current cycle started. The time is the Redis
// server's, the clock IndexSet stamps rows with, so a sweep's comparison of
// the two never depends on executors' clocks.
func (r *RDB) BeginCycle(ctx context.Context, sync string) (time.Time, error) {
	v, err := beginCycleScript.Run(ctx, r.c, []string{SyncKey(sync)}).Int64()
	if err != nil {
		return time.Time{}, wrap("begin cycle of sync "+sync, err)
	}
	return time.Unix(0, v), nil
}

// Seen returns the set of "<database>\x00<key>" seen in the current replace
// cycle of a sync.
func (r *RDB) Seen(ctx context.Context, sync string) (map[string]struct{}, error) {
	members, err := r.c.SMembers(ctx, SeenKey(sync)).Result()
	if err != nil {
		return nil, wrap("read seen keys of sync "+sync, err)
	}
	out := make(map[string]struct{}, len(members))
	for _, m := range members {
		out[m] = struct{}{}
	}
	err = r.scanBuckets(ctx, SeenMetaKey(sync), func(m, _ string) error {
		out[m] = struct{}{}
		return nil
	})
	return out, wrap("read seen keys of sync "+sync, err)
}

// SeenSince is when the current replace cycle of a sync first committed
// seen keys (Redis server clock, ms precision); zero when none are.
func (r *RDB) SeenSince(ctx context.Context, sync string) (time.Time, error) {
	ms, err := r.c.HGet(ctx, SeenMetaKey(sync), "since").Int64()
	if IsNil(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap("read seen keys of sync "+sync, err)
	}
	return time.UnixMilli(ms), nil
}

// SeenMember is the member of the seen set for a key of a database.
func SeenMember(db, key string) string { return db + "\x00" + key }

// StateMode says what a commit does to the committed state.
type StateMode string

const (
	StateSet   StateMode = "set"   // replace it with Commit.State
	StateKeep  StateMode = "keep"  // leave it as it is
	StateReset StateMode = "reset" // clear it (a completed replace cycle)
)

// Commit is one page's atomic commit.
type Commit struct {
	Sync  string
	Run   string
	Page  int
	Mode  StateMode
	State []byte
	// Seen are members (SeenMember) to add to the cycle's seen set.
	Seen []string
	// HasMore is the page's HasMore, kept for redelivered tasks.
	HasMore bool
	// EndCycle clears the seen set and cycle start (replace, final page).
	EndCycle bool
	// Counters are added to the run record.
	Counters map[string]int64
}

// ErrOutOfOrder means a commit for page p arrived while the run had not
// committed page p-1: a bug or a task for a superseded run.
var ErrOutOfOrder = fmt.Errorf("rdb: page committed out of order")

// commitScript makes a page's effects on Redis atomic: state, page count,
// seen keys and counters change together or not at all. It returns 0 when
// the page was already committed (a redelivered task), 1 when committed,
// -1 when out of order.
var commitScript = redis.NewScript(bucketLua + `
local run = redis.call("HGET", KEYS[1], "run")
local pages = tonumber(redis.call("HGET", KEYS[1], "run_pages") or "0")
local page = tonumber(ARGV[2])
if run == ARGV[1] then
  if pages > page then return 0 end
  if pages ~= page then return -1 end
elseif page ~= 0 then
  return -1
end
redis.call("HSET", KEYS[1], "run", ARGV[1], "run_pages", page + 1, "run_more", ARGV[5])
if ARGV[3] == "set" then
  redis.call("HSET", KEYS[1], "state", ARGV[4])
elseif ARGV[3] == "reset" then
  redis.call("HDEL", KEYS[1], "state")
end
local nseen = tonumber(ARGV[6])
local i = 7
if nseen > 0 and redis.call("EXISTS", KEYS[4]) == 0 then
  local t = redis.call("TIME")
  redis.call("HSET", KEYS[4], "since", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local l, s = layout(KEYS[4])
for j = 1, nseen do
  if redis.call("HSET", bucket(KEYS[4], l, s, ARGV[i]), ARGV[i], "") == 1 then l, s = added(KEYS[4], l, s, 1) end
  i = i + 1
end
if ARGV[i] == "1" then
  redis.call("DEL", KEYS[2])
  dropall(KEYS[4])
  redis.call("HDEL", KEYS[1], "cycle_started")
end
i = i + 1
redis.call("HSET", KEYS[3], "pages", page + 1)
while i < #ARGV do
  redis.call("HINCRBY", KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1`)

// CommitPage commits one page. committed is false when the page had
// already been committed (nothing changed).
func (r *RDB) CommitPage(ctx context.Context, c Commit) (committed bool, err error) {
	args := make([]any, 0, 8+len(c.Seen)+2*len(c.Counters))
	more := "0"
	if c.HasMore {
		more = "1"
	}
	args = append(args, c.Run, c.Page, string(c.Mode), string(c.State), more, len(c.Seen))
	for _, s := range c.Seen {
		args = append(args, s)
	}
	end := "0"
	if c.EndCycle {
		end = "1"
	}
	args = append(args, end)
	for k, v := range c.Counters {
		args = append(args, k, v)
	}
	keys := []string{SyncKey(c.Sync), SeenKey(c.Sync), RunKey(c.Sync, c.Run), SeenMetaKey(c.Sync)}
	n, err := commitScript.Run(ctx, r.c, keys, args...).Int()
	if err != nil {
		return false, wrap(fmt.Sprintf("commit page %d of run %s of sync %s", c.Page, c.Run, c.Sync), err)
	}
	switch n {
	case 0:
		return false, nil
	case 1:
		return true, nil
	default:
		return false, fmt.Errorf("%w: sync %s run %s page %d", ErrOutOfOrder, c.Sync, c.Run, c.Page)
	}
}

// RunCounters returns the counters of a run record.
func (r *RDB) RunCounters(ctx context.Context, sync, run string) (map[string]int64, error) {
	m, err := r.c.HGetAll(ctx, RunKey(sync, run)).Result()
	if err != nil {
		return nil, wrap("read run "+run, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// ResetState clears a sync's committed state and replace cycle (ctl state
// reset). The run bookkeeping stays so redelivered tasks remain no-ops.
func (r *RDB) ResetState(ctx context.Context, sync string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, SyncKey(sync), "state", "cycle_started")
		p.Del(ctx, SeenKey(sync))
		dropScript.Eval(ctx, p, []string{SeenMetaKey(sync)}) // Run cannot load a script inside MULTI
		return nil
	})
	return wrap("reset state of sync "+sync, err)
}
