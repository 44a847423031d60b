package rdb

import (
	"context"
	"encoding/json"
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

	// Lifecycle, when set, moves the run on in the same step (the
	// runtime's commits; the engine's in-process cycles leave it nil).
	Lifecycle *PageDone
	// Fence is the page attempt's fencing token (BeginPage): a stale
	// attempt's commit is refused with a *StaleError and changes nothing.
	// nil (in-process cycles) fences nothing.
	Fence *Fence
	// Queue is the queue the run's next task goes to (the committing
	// executor's worker's), recorded with its id.
	Queue string
}

// PageDone is the run transition that goes with a page's commit.
type PageDone struct {
	// Lines are the page's run-log lines, stored with the commit so that a
	// follower who sees the run end has every line.
	Lines  []LogLine
	LogCap int
	// Outcome and Message end the run after its final page: RunSucceeded,
	// or RunWarning when something was held back.
	Outcome string
	Message string
	// FinishLines are logged only when the commit ends the run.
	FinishLines []LogLine
}

// CommitResult is what a commit did.
type CommitResult struct {
	// Committed is false when the page had been committed before.
	Committed bool
	// Next says what the run does now (with Lifecycle): NextEnqueue (Task),
	// NextParked, NextFinished (Status) or NextStopped (the run had ended:
	// cancelled while the page ran; Status says how).
	Next   string
	Task   string
	Status string
}

// What a committed page leads to.
const (
	NextEnqueue  = "enqueue"
	NextParked   = "parked"
	NextFinished = "finished"
	NextStopped  = "stopped"
)

// ErrOutOfOrder means a commit for page p arrived while the run had not
// committed page p-1: a bug or a task for a superseded run.
var ErrOutOfOrder = fmt.Errorf("rdb: page committed out of order")

// commitScript makes a page's effects on Redis atomic: state, page count,
// seen keys and counters change together or not at all, and with a
// lifecycle the run moves on (next task, park, or finish) in the same
// step. It returns {0} when the page was already committed (a
// redelivered task), {-1} when out of order, {1, next, task|status}
// when committed, {-2, why} when the attempt's fencing token is stale.
//
// The seen keys live in packed buckets (SeenMetaKey); the plain set of
// older versions (SeenKey) is only ever read and dropped.
var commitScript = redis.NewScript(luaLib + bucketLua + `
local a = cjson.decode(ARGV[1])
local run = redis.call("HGET", KEYS[1], "run")
local pages = tonumber(redis.call("HGET", KEYS[1], "run_pages") or "0")
local page = a.page
-- Committed already (a redelivery, or this commit sent again after its
-- reply was lost): no effect, whoever holds the page now.
if run == a.run and pages > page then return {0} end
local why = stale(KEYS[1], KEYS[3], a.fence, page)
if why ~= "" then return {-2, why} end
if run == a.run then
  if pages ~= page then return {-1} end
elseif page ~= 0 then
  return {-1}
end
redis.call("HSET", KEYS[1], "run", a.run, "run_pages", page + 1, "run_more", a.more and "1" or "0")
if a.mode == "set" then
  redis.call("HSET", KEYS[1], "state", a.state)
elseif a.mode == "reset" then
  redis.call("HDEL", KEYS[1], "state")
end
if #a.seen > 0 and redis.call("EXISTS", KEYS[6]) == 0 then
  local t = redis.call("TIME")
  redis.call("HSET", KEYS[6], "since", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local l, s = layout(KEYS[6])
for _, m in ipairs(a.seen) do
  if redis.call("HSET", bucket(KEYS[6], l, s, m), m, "") == 1 then l, s = added(KEYS[6], l, s, 1) end
end
if a.end_cycle then
  redis.call("DEL", KEYS[2])
  dropall(KEYS[6])
  redis.call("HDEL", KEYS[1], "cycle_started")
end
redis.call("HSET", KEYS[3], "pages", page + 1)
for k, v in pairs(a.counters) do redis.call("HINCRBY", KEYS[3], k, v) end
local life = a.lifecycle
if not life then return {1, "", ""} end
local now = now_ns()
append(KEYS[4], life.log_cap, life.lines, KEYS[3])
redis.call("RPUSH", KEYS[5], page_record(KEYS[3], page, now, a.counters, nil))
redis.call("LTRIM", KEYS[5], -1000, -1)
local status = redis.call("HGET", KEYS[3], "status")
if status ~= "running" then return {1, "stopped", status or ""} end
if a.more then
  if redis.call("HGET", KEYS[1], "paused") == "1" then
    redis.call("HSET", KEYS[3], "status", "parked", "parked_page", page + 1, "task", "")
    return {1, "parked", ""}
  end
  local task = a.run .. ":" .. (page + 1)
  redis.call("HSET", KEYS[3], "task", task, "task_page", page + 1)
  if a.queue ~= "" then redis.call("HSET", KEYS[3], "queue", a.queue) end
  return {1, "enqueue", task}
end
finish(KEYS[1], KEYS[3], a.run, life.outcome, life.message, now)
append(KEYS[4], life.log_cap, life.finish_lines, KEYS[3])
return {1, "finished", life.outcome}`)

type commitArgs struct {
	Run      string           `json:"run"`
	Page     int              `json:"page"`
	Mode     StateMode        `json:"mode"`
	State    string           `json:"state"`
	More     bool             `json:"more"`
	Seen     []string         `json:"seen"`
	EndCycle bool             `json:"end_cycle"`
	Counters map[string]int64 `json:"counters"`
	Life     *lifecycleArgs   `json:"lifecycle,omitempty"`
	Fence    *Fence           `json:"fence,omitempty"`
	Queue    string           `json:"queue"`
}

type lifecycleArgs struct {
	Lines       []string `json:"lines"`
	LogCap      int      `json:"log_cap"`
	Outcome     string   `json:"outcome"`
	Message     string   `json:"message"`
	FinishLines []string `json:"finish_lines"`
}

// maxLinesPerCall bounds the log lines one script call appends (Lua's
// unpack has a stack limit); a page that logged more keeps its last ones.
const maxLinesPerCall = 500

func lineStrings(lines []LogLine) []string {
	if len(lines) > maxLinesPerCall {
		lines = lines[len(lines)-maxLinesPerCall:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(encodeLine(l))
	}
	return out
}

// CommitPage commits one page (and, with a Lifecycle, moves the run on).
func (r *RDB) CommitPage(ctx context.Context, c Commit) (CommitResult, error) {
	a := commitArgs{Run: c.Run, Page: c.Page, Mode: c.Mode, State: string(c.State), More: c.HasMore,
		Seen: c.Seen, EndCycle: c.EndCycle, Counters: c.Counters, Fence: c.Fence, Queue: c.Queue}
	if a.Seen == nil {
		a.Seen = []string{}
	}
	if a.Counters == nil {
		a.Counters = map[string]int64{}
	}
	if l := c.Lifecycle; l != nil {
		lines, fin := lineStrings(l.Lines), lineStrings(l.FinishLines)
		outcome := l.Outcome
		if outcome == "" {
			outcome = RunSucceeded
		}
		a.Life = &lifecycleArgs{Lines: lines, LogCap: max(l.LogCap, 1), Outcome: outcome, Message: CapText(l.Message, MaxErrorBytes), FinishLines: fin}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return CommitResult{}, fmt.Errorf("rdb: encoding commit: %w", err)
	}
	keys := []string{SyncKey(c.Sync), SeenKey(c.Sync), RunKey(c.Sync, c.Run), RunLogKey(c.Sync, c.Run), RunPagesKey(c.Sync, c.Run), SeenMetaKey(c.Sync)}
	res, err := commitScript.Run(ctx, r.c, keys, b).Slice()
	if err != nil {
		return CommitResult{}, wrap(fmt.Sprintf("commit page %d of run %s of sync %s", c.Page, c.Run, c.Sync), err)
	}
	switch n, _ := res[0].(int64); n {
	case -2:
		why, _ := res[1].(string)
		return CommitResult{}, &StaleError{Sync: c.Sync, Run: c.Run, Page: c.Page, Why: why}
	case 0:
		return CommitResult{}, nil
	case 1:
		out := CommitResult{Committed: true}
		out.Next, _ = res[1].(string)
		v, _ := res[2].(string)
		if out.Next == NextEnqueue {
			out.Task = v
		} else {
			out.Status = v
		}
		return out, nil
	default:
		return CommitResult{}, fmt.Errorf("%w: sync %s run %s page %d", ErrOutOfOrder, c.Sync, c.Run, c.Page)
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

// SetState replaces a sync's committed state with state (JSON), as if a
// page had committed it; the run bookkeeping and a replace cycle under way
// stay. synqtest starts syncs from a given state with it.
func (r *RDB) SetState(ctx context.Context, sync string, state []byte) error {
	return wrap("set state of sync "+sync, r.c.HSet(ctx, SyncKey(sync), "state", state).Err())
}

// resetEpochScript advances a sync's fencing epoch for a state reset: a
// page attempt that began before it never commits state after it.
var resetEpochScript = redis.NewScript(`
local e = redis.call("HINCRBY", KEYS[1], "epoch", 1)
redis.call("HSET", KEYS[1], "state_epoch", e)
return e`)

// ResetState clears a sync's committed state and replace cycle (ctl state
// reset), and fences the page attempts that began before it (a cancelled
// run's page still in flight): they never commit over the reset. The run
// bookkeeping stays so redelivered tasks remain no-ops.
func (r *RDB) ResetState(ctx context.Context, sync string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		resetEpochScript.Eval(ctx, p, []string{SyncKey(sync)}) // Run cannot load a script inside MULTI
		p.HDel(ctx, SyncKey(sync), "state", "cycle_started")
		p.Del(ctx, SeenKey(sync))
		dropScript.Eval(ctx, p, []string{SeenMetaKey(sync)}) // Run cannot load a script inside MULTI
		return nil
	})
	return wrap("reset state of sync "+sync, err)
}
