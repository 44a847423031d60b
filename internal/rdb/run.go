package rdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run statuses. internal/runs owns the transitions between them and
// docs/state_machine.md draws them; the scripts below are their atomic
// steps.
const (
	RunRunning   = "running"
	RunParked    = "parked" // stopped at a page boundary by a pause; resumable
	RunSucceeded = "succeeded"
	RunWarning   = "warning" // ended, but held something back (the deletion guard)
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Run is a run record.
type Run struct {
	ID      string
	Sync    string
	Worker  string // the worker whose queue runs the run's pages
	Queue   string
	Trigger string // "schedule" | "manual"
	Status  string
	// Started and Finished come from the Redis server's clock.
	Started  time.Time
	Finished time.Time
	Error    string
	// Task is the id of the page task that moves the run on (empty while
	// parked); TaskPage is the page it runs.
	Task     string
	TaskPage int
	// ParkedPage is the page a parked run continues with.
	ParkedPage int
	// Attempts is how many times the current page (AttemptPage) started;
	// PageStarted is when its first attempt began; LastError is the error
	// of its last failed attempt.
	AttemptPage int
	Attempts    int
	PageStarted time.Time
	LastError   string
	// AllowTrash lifts the deletion guard for this run (ctl trigger
	// --allow-trash).
	AllowTrash bool
	// Sweeping is set once the final page of a replace cycle began
	// trashing rows: from then on the run cannot be cancelled.
	Sweeping bool
	Counters map[string]int64 // pages, created, updated, unchanged, trashed, skipped …
}

// Ended reports whether the run reached a final status.
func (r Run) Ended() bool { return r.Status != RunRunning && r.Status != RunParked }

// runMeta are the run hash fields that are not counters.
var runMeta = map[string]bool{
	"id": true, "sync": true, "worker": true, "queue": true, "trigger": true, "status": true,
	"started": true, "finished": true, "error": true, "task": true, "task_page": true,
	"parked_page": true, "attempt_page": true, "attempts": true, "page_started": true,
	"last_error": true, "allow_trash": true, "sweeping": true, "resumes": true, "handovers": true,
	"log_dropped": true,
}

func decodeRun(m map[string]string) Run {
	run := Run{ID: m["id"], Sync: m["sync"], Worker: m["worker"], Queue: m["queue"], Trigger: m["trigger"],
		Status: m["status"], Error: m["error"], Task: m["task"], LastError: m["last_error"],
		AllowTrash: m["allow_trash"] == "1", Sweeping: m["sweeping"] == "1", Counters: map[string]int64{}}
	run.Started = nsTime(m["started"])
	run.Finished = nsTime(m["finished"])
	run.PageStarted = nsTime(m["page_started"])
	run.TaskPage, _ = strconv.Atoi(m["task_page"])
	run.ParkedPage, _ = strconv.Atoi(m["parked_page"])
	run.AttemptPage, _ = strconv.Atoi(m["attempt_page"])
	run.Attempts, _ = strconv.Atoi(m["attempts"])
	for k, v := range m {
		if runMeta[k] {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			run.Counters[k] = n
		}
	}
	return run
}

func nsTime(s string) time.Time {
	if ns, _ := strconv.ParseInt(s, 10, 64); ns > 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// luaLib is prepended to the run scripts: the server clock, and the one
// way a run ends (status, the sync's active run and health together).
const luaLib = `
local function now_ns()
  local t = redis.call("TIME")
  return t[1] .. string.format("%06d", tonumber(t[2])) .. "000"
end
local function finish(sync, run, id, status, msg, now)
  redis.call("HSET", run, "status", status, "finished", now, "error", msg, "task", "")
  if redis.call("HGET", sync, "active_run") == id then
    redis.call("HDEL", sync, "active_run")
    local name = string.sub(sync, ` + syncKeyNameStart + `, -2)
    redis.call("SREM", "` + activeKey + `", name)
    -- A continuous sync is out of the due set while it runs: its end
    -- puts it back, for the leader to look at now (schedule.go).
    if redis.call("HGET", sync, "sched") == "c" and redis.call("HGET", sync, "paused") ~= "1" then
      redis.call("ZADD", "` + dueKey + `", 0, name)
    end
  end
  if status == "succeeded" then
    redis.call("HSET", sync, "consecutive_failures", 0, "last_success", now)
  elseif status == "failed" or status == "warning" then
    redis.call("HINCRBY", sync, "consecutive_failures", 1)
    redis.call("HSET", sync, "last_failure", now)
  end
  redis.call("HSET", sync, "last_run", id, "last_finished", now)
  -- The alerts feed (alerts.go): every end, with the health it left, read
  -- by the leader's alert detector. Not hash-tagged like the sync's keys:
  -- the one cross-slot write synq makes, bounded by MAXLEN.
  redis.call("XADD", "` + AlertEndsKey + `", "MAXLEN", "~", ` + alertEndsMaxLen + `, "*",
    "sync", string.sub(sync, ` + syncKeyNameStart + `, -2), "run", id, "status", status,
    "cf", redis.call("HGET", sync, "consecutive_failures") or "0", "msg", string.sub(msg or "", 1, 500))
end
-- append adds lines to a run's capped log; run's log_dropped counts the
-- lines trimmed off its head, so a follower reading by sequence number
-- (ReadLog) keeps up past the cap.
local function append(key, cap, lines, run)
  if #lines == 0 then return end
  local n = redis.call("RPUSH", key, unpack(lines))
  if n > cap then
    redis.call("LTRIM", key, -cap, -1)
    redis.call("HINCRBY", run, "log_dropped", n - cap)
  end
end
-- bump advances a sync's fencing epoch (start, cancel, reset, handover)
-- and returns it.
local function bump(sync)
  return redis.call("HINCRBY", sync, "epoch", 1)
end
-- stale says why the holder of a page attempt (f: its fencing token, see
-- Fence) may no longer change the sync or the run, "" when it may: the
-- fencing rule of docs/state_machine.md. Without a token (in-process
-- cycles) nothing is fenced.
local function stale(sync, run, f, page)
  if not f then return "" end
  local se = tonumber(redis.call("HGET", sync, "state_epoch") or "0")
  if se > f.epoch then return "epoch" end
  local status = redis.call("HGET", run, "status")
  if not status then return "missing" end
  if status == "parked" then return "parked" end
  if status == "running" then
    local task = redis.call("HGET", run, "task") or ""
    if f.task ~= "" and task ~= "" and task ~= f.task then return "task " .. task end
  end
  if redis.call("HGET", run, "attempt_page") == tostring(page) and
     tonumber(redis.call("HGET", run, "attempts") or "0") ~= f.attempt then
    return "attempt " .. (redis.call("HGET", run, "attempts") or "0")
  end
  return ""
end
local function page_record(run, page, now, counters, err)
  local rec = {page = page, attempts = tonumber(redis.call("HGET", run, "attempts") or "1"),
    started = redis.call("HGET", run, "page_started") or "", finished = now}
  if redis.call("HGET", run, "attempt_page") ~= tostring(page) then
    rec.attempts = 1
    rec.started = now
  end
  if counters then rec.counters = counters end
  if err and err ~= "" then rec.error = err end
  return cjson.encode(rec)
end
`

// StartRun describes a run to create.
type StartRun struct {
	Sync, Run, Trigger string
	Worker, Queue      string
	// Task is the id of the first page's task, recorded before it is
	// enqueued so that the reaper can tell a lost enqueue.
	Task       string
	AllowTrash bool
	// RefusePaused refuses to start a paused sync (every trigger does).
	RefusePaused bool
}

// StartResult says why a run did not start.
type StartResult struct {
	Started bool
	Active  string // the active run that blocked the start
	Paused  bool
}

var startRunScript = redis.NewScript(luaLib + `
local active = redis.call("HGET", KEYS[1], "active_run")
if active and active ~= "" then return "active:" .. active end
if ARGV[8] == "1" and redis.call("HGET", KEYS[1], "paused") == "1" then return "paused" end
local now = now_ns()
local epoch = bump(KEYS[1])
redis.call("HSET", KEYS[1], "active_run", ARGV[1], "state_epoch", epoch)
redis.call("HSET", KEYS[2], "id", ARGV[1], "sync", ARGV[2], "trigger", ARGV[3], "worker", ARGV[4],
  "queue", ARGV[5], "allow_trash", ARGV[6], "task", ARGV[7], "task_page", 0, "status", "running",
  "started", now, "pages", 0)
redis.call("ZADD", KEYS[3], tonumber(now), ARGV[1])
redis.call("SADD", "` + activeKey + `", ARGV[2])
redis.call("ZADD", "` + recentRunsKey + `", tonumber(now), ARGV[2] .. "\n" .. ARGV[1])
redis.call("ZREMRANGEBYRANK", "` + recentRunsKey + `", 0, -` + strconv.Itoa(RecentRunsMax+1) + `)
return ""`)

// StartRun records a new active run unless the sync has one (at most one
// active run per sync) or is paused.
func (r *RDB) StartRun(ctx context.Context, s StartRun) (StartResult, error) {
	keys := []string{SyncKey(s.Sync), RunKey(s.Sync, s.Run), RunsKey(s.Sync)}
	res, err := startRunScript.Run(ctx, r.c, keys, s.Run, s.Sync, s.Trigger, s.Worker, s.Queue,
		flag(s.AllowTrash), s.Task, flag(s.RefusePaused)).Text()
	if err != nil {
		return StartResult{}, wrap("start run of sync "+s.Sync, err)
	}
	switch {
	case res == "":
		return StartResult{Started: true}, nil
	case res == "paused":
		return StartResult{Paused: true}, nil
	case len(res) > 7 && res[:7] == "active:":
		return StartResult{Active: res[7:]}, nil
	}
	return StartResult{}, fmt.Errorf("rdb: start run of sync %s: unexpected reply %q", s.Sync, res)
}

// PageStart is what BeginPage decided.
type PageStart string

const (
	PageRun       PageStart = "run"       // run the page
	PageParked    PageStart = "parked"    // the sync is paused: the run is parked now
	PageStop      PageStart = "stop"      // the run ended (cancelled, failed …): do nothing
	PageMissing   PageStart = "missing"   // no such run (retention, or Redis lost it)
	PageCommitted PageStart = "committed" // the page was committed before: make sure the next step exists
	// PageSuperseded: the run names another task now (resumed, handed over
	// or requeued since this one was enqueued): this task does nothing.
	PageSuperseded PageStart = "superseded"
)

var beginPageScript = redis.NewScript(luaLib + `
local status = redis.call("HGET", KEYS[2], "status")
if not status then return {"missing", ""} end
if redis.call("HGET", KEYS[1], "run") == ARGV[1] and tonumber(redis.call("HGET", KEYS[1], "run_pages") or "0") > tonumber(ARGV[2]) then
  return {"committed", status}
end
if status ~= "running" then return {"stop", status} end
local task = redis.call("HGET", KEYS[2], "task") or ""
if ARGV[3] ~= "" and task ~= "" and task ~= ARGV[3] then
  -- A task the run no longer names (resumed, handed over or requeued
  -- under another id since): its holder is stale.
  return {"superseded", task}
end
if redis.call("HGET", KEYS[1], "paused") == "1" then
  -- A parked run sweeps nothing: its final page begins the sweep again
  -- when it runs after the resume.
  redis.call("HSET", KEYS[2], "status", "parked", "parked_page", ARGV[2], "task", "", "sweeping", 0)
  return {"parked", "parked"}
end
local trash = redis.call("HGET", KEYS[2], "allow_trash") or "0"
local epoch = redis.call("HGET", KEYS[1], "epoch") or "0"
if redis.call("HGET", KEYS[2], "attempt_page") == ARGV[2] then
  return {"run", tostring(redis.call("HINCRBY", KEYS[2], "attempts", 1)), trash, epoch}
end
redis.call("HSET", KEYS[2], "attempt_page", ARGV[2], "attempts", 1, "page_started", now_ns(), "last_error", "")
return {"run", "1", trash, epoch}`)

// Begin is what BeginPage found.
type Begin struct {
	Action PageStart
	// Attempt counts this page's attempts, from 1 (PageRun).
	Attempt int
	// AllowTrash is the run's --allow-trash (PageRun).
	AllowTrash bool
	// Fence is the attempt's fencing token (PageRun): every script that
	// changes the sync or the run on the attempt's behalf checks it.
	Fence *Fence
	// Task is the task the run names instead (PageSuperseded).
	Task string
}

// Fence is a page attempt's fencing token: the task it runs, its attempt
// number (the run's attempt counter) and the sync's epoch when it began.
// With the run and the page (Commit.Run, Commit.Page) it says which lease
// the attempt holds; a holder whose lease was taken over since — another
// run started or the state was reset (the epoch), the run resumed, handed
// over or parked (the task), a newer attempt of the page began — is
// stale, and the scripts refuse it (ErrStale). docs/state_machine.md
// states the rule.
type Fence struct {
	Task    string `json:"task"`
	Attempt int    `json:"attempt"`
	Epoch   int64  `json:"epoch"`
}

// ErrStale refuses the holder of a page attempt whose lease was taken over
// (see Fence): it discards its work. StaleError says why.
var ErrStale = errors.New("rdb: stale page attempt")

// StaleError is ErrStale with the reason.
type StaleError struct {
	Sync, Run string
	Page      int
	// Why is the script's reason: "epoch", "parked", "missing",
	// "task <id>", "attempt <n>".
	Why string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("page %d of run %s of sync %s is stale: %s", e.Page, e.Run, e.Sync, e.Reason())
}

// Reason says in words why the attempt is stale.
func (e *StaleError) Reason() string {
	switch w := e.Why; {
	case w == "epoch":
		return "another run started or the state was reset since this attempt began"
	case w == "parked":
		return "the run was parked since this attempt began (a redelivery found the sync paused); the page runs again when the sync is resumed"
	case w == "missing":
		return "the run's record is gone"
	case strings.HasPrefix(w, "task "):
		return "the run moved on to task " + strings.TrimPrefix(w, "task ") + " (resumed, handed over or requeued) since this attempt began"
	case strings.HasPrefix(w, "attempt "):
		return "a newer attempt of this page began (attempt " + strings.TrimPrefix(w, "attempt ") + "): this one lost its lease"
	}
	return e.Why
}

func (e *StaleError) Unwrap() error { return ErrStale }

// BeginPage is the start of a page attempt of task (its asynq task id; ""
// when unknown): it parks the run if the sync is paused (atomically with
// the pause flag, so a resume never misses a parked run), refuses a task
// the run no longer names, and counts the attempt.
func (r *RDB) BeginPage(ctx context.Context, sync, run string, page int, task string) (Begin, error) {
	res, err := beginPageScript.Run(ctx, r.c, []string{SyncKey(sync), RunKey(sync, run)}, run, page, task).StringSlice()
	if err != nil {
		return Begin{}, wrap(fmt.Sprintf("begin page %d of run %s", page, run), err)
	}
	b := Begin{Action: PageStart(res[0])}
	switch {
	case b.Action == PageRun && len(res) == 4:
		b.Attempt, _ = strconv.Atoi(res[1])
		b.AllowTrash = res[2] == "1"
		epoch, _ := strconv.ParseInt(res[3], 10, 64)
		b.Fence = &Fence{Task: task, Attempt: b.Attempt, Epoch: epoch}
	case b.Action == PageSuperseded:
		b.Task = res[1]
	}
	return b, nil
}

var fenceScript = redis.NewScript(luaLib + `
return stale(KEYS[1], KEYS[2], cjson.decode(ARGV[1]), tonumber(ARGV[2]))`)

// CheckFence returns a *StaleError when the holder of f may no longer
// write on behalf of page page of run (nil when it may). A page checks it
// before its Notion writes, so a holder that stalled through Execute
// writes nothing over newer work.
func (r *RDB) CheckFence(ctx context.Context, sync, run string, page int, f *Fence) error {
	if f == nil {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("rdb: encoding fence: %w", err)
	}
	why, err := fenceScript.Run(ctx, r.c, []string{SyncKey(sync), RunKey(sync, run)}, b, page).Text()
	if err != nil {
		return wrap(fmt.Sprintf("check fence of page %d of run %s", page, run), err)
	}
	if why != "" {
		return &StaleError{Sync: sync, Run: run, Page: page, Why: why}
	}
	return nil
}

// PageAttemptFailed records the error of a page attempt that will be
// retried, for operators watching the run.
func (r *RDB) PageAttemptFailed(ctx context.Context, sync, run, msg string) error {
	return wrap("record page error of run "+run, r.c.HSet(ctx, RunKey(sync, run), "last_error", CapText(msg, MaxErrorBytes)).Err())
}

var beginSweepScript = redis.NewScript(luaLib + `
local f = nil
if ARGV[1] ~= "" then f = cjson.decode(ARGV[1]) end
local why = stale(KEYS[1], KEYS[2], f, tonumber(ARGV[2]))
if why ~= "" and why ~= "missing" then return why end
if redis.call("HGET", KEYS[2], "status") ~= "running" then return "0" end
redis.call("HSET", KEYS[2], "sweeping", 1)
return "1"`)

// BeginSweep marks a running run as sweeping (no longer cancellable). It
// reports false when the run is not running: a cancelled run never sweeps.
// With a fencing token (f, the final page's attempt) it returns a
// *StaleError when the attempt is stale: a stale holder never sweeps.
func (r *RDB) BeginSweep(ctx context.Context, sync, run string, page int, f *Fence) (bool, error) {
	arg := ""
	if f != nil {
		b, err := json.Marshal(f)
		if err != nil {
			return false, fmt.Errorf("rdb: encoding fence: %w", err)
		}
		arg = string(b)
	}
	res, err := beginSweepScript.Run(ctx, r.c, []string{SyncKey(sync), RunKey(sync, run)}, arg, page).Text()
	if err != nil {
		return false, wrap("begin sweep of run "+run, err)
	}
	switch res {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, &StaleError{Sync: sync, Run: run, Page: page, Why: res}
}

// ErrSweeping refuses to cancel a run that is trashing rows.
var ErrSweeping = fmt.Errorf("rdb: run is sweeping")

var cancelScript = redis.NewScript(luaLib + `
local status = redis.call("HGET", KEYS[2], "status")
if not status then return "missing" end
if status ~= "running" and status ~= "parked" then return status end
-- A parked run is sweeping nothing, whatever its final page began.
if status == "running" and redis.call("HGET", KEYS[2], "sweeping") == "1" then return "sweeping" end
bump(KEYS[1])
finish(KEYS[1], KEYS[2], ARGV[1], "cancelled", ARGV[2], now_ns())
append(KEYS[3], tonumber(ARGV[3]), {ARGV[4]}, KEYS[2])
return "ok"`)

// CancelRun ends an active run (running or parked) as cancelled. It
// returns the status the run had when it could not be cancelled
// ("missing", an ended status, or "sweeping").
func (r *RDB) CancelRun(ctx context.Context, sync, run, msg string, logCap int, line LogLine) (cancelled bool, status string, err error) {
	b := encodeLine(line)
	res, err := cancelScript.Run(ctx, r.c, []string{SyncKey(sync), RunKey(sync, run), RunLogKey(sync, run)}, run, CapText(msg, MaxErrorBytes), logCap, b).Text()
	if err != nil {
		return false, "", wrap("cancel run "+run, err)
	}
	if res == "ok" {
		return true, RunCancelled, nil
	}
	return false, res, nil
}

// Fail describes a run failure.
type Fail struct {
	Sync, Run string
	Message   string
	// ExpectTask, when set, fails the run only if its current task is
	// still this one (the reaper's check).
	ExpectTask string
	// AllowParked also fails a parked run (a sync that is gone).
	AllowParked bool
	// Page, when ≥ 0, records a failed page record with Message.
	Page   int
	LogCap int
	Lines  []LogLine
}

var failScript = redis.NewScript(luaLib + `
local status = redis.call("HGET", KEYS[2], "status")
if not status then
  -- The record is gone (retention, or Redis lost it) but the sync still
  -- names it as active: free the sync.
  if ARGV[4] == "1" and redis.call("HGET", KEYS[1], "active_run") == ARGV[1] then
    redis.call("HDEL", KEYS[1], "active_run")
    redis.call("SREM", "` + activeKey + `", string.sub(KEYS[1], ` + syncKeyNameStart + `, -2))
    return 1
  end
  return 0
end
if status ~= "running" and not (ARGV[4] == "1" and status == "parked") then return 0 end
if ARGV[3] ~= "" and redis.call("HGET", KEYS[2], "task") ~= ARGV[3] then return 0 end
local now = now_ns()
if tonumber(ARGV[5]) >= 0 then
  redis.call("RPUSH", KEYS[4], page_record(KEYS[2], tonumber(ARGV[5]), now, nil, ARGV[2]))
  redis.call("LTRIM", KEYS[4], -1000, -1)
end
finish(KEYS[1], KEYS[2], ARGV[1], "failed", ARGV[2], now)
local lines = {}
for i = 7, #ARGV do lines[#lines + 1] = ARGV[i] end
append(KEYS[3], tonumber(ARGV[6]), lines, KEYS[2])
return 1`)

// FailRun ends a run as failed (with its health counted). It reports
// false when the run was not in a state the failure applies to.
func (r *RDB) FailRun(ctx context.Context, f Fail) (bool, error) {
	args := []any{f.Run, CapText(f.Message, MaxErrorBytes), f.ExpectTask, flag(f.AllowParked), f.Page, max(f.LogCap, 1)}
	for _, l := range f.Lines {
		args = append(args, encodeLine(l))
	}
	keys := []string{SyncKey(f.Sync), RunKey(f.Sync, f.Run), RunLogKey(f.Sync, f.Run), RunPagesKey(f.Sync, f.Run)}
	n, err := failScript.Run(ctx, r.c, keys, args...).Int()
	return n == 1, wrap("fail run "+f.Run, err)
}

var resumeScript = redis.NewScript(`
redis.call("HSET", KEYS[1], "paused", 0)
local sched = redis.call("HGET", KEYS[1], "sched")
if sched and sched ~= "m" then redis.call("ZADD", "` + dueKey + `", 0, ARGV[3]) end
if ARGV[1] == "" or redis.call("HGET", KEYS[1], "active_run") ~= ARGV[1] then return {"", ""} end
if redis.call("HGET", KEYS[2], "status") ~= "parked" then return {"", ""} end
local n = redis.call("HINCRBY", KEYS[2], "resumes", 1)
local page = redis.call("HGET", KEYS[2], "parked_page") or "0"
local task = ARGV[1] .. ":" .. page .. ":r" .. n
redis.call("HSET", KEYS[2], "status", "running", "task", task, "task_page", page, "queue", ARGV[2])
return {task, page}`)

// Resume unpauses a sync and, in the same step, moves its parked run
// (active, given as run) back to running with a new task id on queue (the
// queue of the worker that declares the sync now). task is "" when there
// was no parked run to continue.
func (r *RDB) Resume(ctx context.Context, sync, run, queue string) (task string, page int, err error) {
	keys := []string{SyncKey(sync), RunKey(sync, run)}
	res, err := resumeScript.Run(ctx, r.c, keys, run, queue, sync).StringSlice()
	if err != nil {
		return "", 0, wrap("resume sync "+sync, err)
	}
	page, _ = strconv.Atoi(res[1])
	return res[0], page, nil
}

var handoverScript = redis.NewScript(luaLib + `
if redis.call("HGET", KEYS[2], "status") ~= "running" or redis.call("HGET", KEYS[2], "task") ~= ARGV[1] then return "" end
local n = redis.call("HINCRBY", KEYS[2], "handovers", 1)
local task = redis.call("HGET", KEYS[2], "id") .. ":" .. (redis.call("HGET", KEYS[2], "task_page") or "0") .. ":h" .. n
bump(KEYS[1])
redis.call("HSET", KEYS[2], "task", task, "queue", ARGV[2])
return task`)

// Handover gives a running run's current task (expect) a new id on queue,
// and fences whoever holds the old one: for an executor that cannot run
// the page (a build that does not declare the sync) to hand it to one
// that can, for the reaper to move a task from a queue no live worker
// reads to the queue of the worker that declares the sync now, and for an
// executor whose lease was lost to a Redis outage to enqueue its page
// again. It returns "" when the run moved on meanwhile.
func (r *RDB) Handover(ctx context.Context, sync, run, expect, queue string) (string, error) {
	res, err := handoverScript.Run(ctx, r.c, []string{SyncKey(sync), RunKey(sync, run)}, expect, queue).Text()
	return res, wrap("hand over run "+run, err)
}

// GetRun reads a run record; ok is false when it does not exist (or was
// dropped by retention).
func (r *RDB) GetRun(ctx context.Context, sync, run string) (Run, bool, error) {
	m, err := r.c.HGetAll(ctx, RunKey(sync, run)).Result()
	if err != nil {
		return Run{}, false, wrap("read run "+run, err)
	}
	if m["id"] == "" {
		return Run{}, false, nil
	}
	return decodeRun(m), true, nil
}

// PageRecord is one page of a run as operators see it.
type PageRecord struct {
	Page     int              `json:"page"`
	Attempts int              `json:"attempts"`
	Started  time.Time        `json:"-"`
	Finished time.Time        `json:"-"`
	Counters map[string]int64 `json:"counters,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// RunPages returns the page records of a run, oldest first.
func (r *RDB) RunPages(ctx context.Context, sync, run string) ([]PageRecord, error) {
	vals, err := r.c.LRange(ctx, RunPagesKey(sync, run), 0, -1).Result()
	if err != nil {
		return nil, wrap("read pages of run "+run, err)
	}
	out := make([]PageRecord, 0, len(vals))
	for _, v := range vals {
		var raw struct {
			PageRecord
			Started  string          `json:"started"`
			Finished string          `json:"finished"`
			Counters json.RawMessage `json:"counters"`
		}
		if json.Unmarshal([]byte(v), &raw) != nil {
			continue
		}
		p := raw.PageRecord
		p.Started, p.Finished = nsTime(raw.Started), nsTime(raw.Finished)
		// cjson encodes an empty table as {} and numbers as floats.
		var counters map[string]float64
		if json.Unmarshal(raw.Counters, &counters) == nil && len(counters) > 0 {
			p.Counters = make(map[string]int64, len(counters))
			for k, v := range counters {
				p.Counters[k] = int64(v)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// ListRuns returns a sync's runs, newest first, skipping offset.
func (r *RDB) ListRuns(ctx context.Context, sync string, offset, limit int) ([]Run, error) {
	ids, err := r.c.ZRevRange(ctx, RunsKey(sync), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, wrap("list runs of sync "+sync, err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, RunKey(sync, id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list runs of sync "+sync, err)
	}
	out := make([]Run, 0, len(ids))
	for _, c := range cmds {
		if m := c.Val(); m["id"] != "" {
			out = append(out, decodeRun(m))
		}
	}
	return out, nil
}

// ListRecentRuns returns the newest runs of every sync, newest first, from
// RecentRunsKey; runs already dropped by retention or forget are left
// out. ok is false when the index is empty (a Redis that has not started
// a run since it appeared): the caller then reads each sync's runs.
func (r *RDB) ListRecentRuns(ctx context.Context, offset, limit int) (runs []Run, ok bool, err error) {
	members, err := r.c.ZRevRange(ctx, recentRunsKey, int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, false, wrap("list recent runs", err)
	}
	if len(members) == 0 && offset == 0 {
		return nil, false, nil
	}
	cmds := make([]*redis.MapStringStringCmd, 0, len(members))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range members {
			if sync, id, found := strings.Cut(m, "\n"); found {
				cmds = append(cmds, p.HGetAll(ctx, RunKey(sync, id)))
			}
		}
		return nil
	})
	if err != nil {
		return nil, true, wrap("list recent runs", err)
	}
	runs = make([]Run, 0, len(cmds))
	for _, c := range cmds {
		if m := c.Val(); m["id"] != "" {
			runs = append(runs, decodeRun(m))
		}
	}
	return runs, true, nil
}

// RunsStartedSince returns a sync's runs that started at or after since,
// oldest first.
func (r *RDB) RunsStartedSince(ctx context.Context, sync string, since time.Time) ([]Run, error) {
	ids, err := r.c.ZRangeByScore(ctx, RunsKey(sync), &redis.ZRangeBy{Min: strconv.FormatInt(since.UnixNano(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, wrap("list recent runs of sync "+sync, err)
	}
	return r.getRuns(ctx, sync, ids)
}

func (r *RDB) getRuns(ctx context.Context, sync string, ids []string) ([]Run, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, RunKey(sync, id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read runs of sync "+sync, err)
	}
	out := make([]Run, 0, len(ids))
	for _, c := range cmds {
		if m := c.Val(); m["id"] != "" {
			out = append(out, decodeRun(m))
		}
	}
	return out, nil
}

// TrimRuns keeps the newest keep runs of a sync and deletes the rest with
// their logs and page records (run retention).
func (r *RDB) TrimRuns(ctx context.Context, sync string, keep int) error {
	old, err := r.c.ZRange(ctx, RunsKey(sync), 0, int64(-keep-1)).Result()
	if err != nil || len(old) == 0 {
		return wrap("trim runs of sync "+sync, err)
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range old {
			p.Del(ctx, RunKey(sync, id), RunLogKey(sync, id), RunPagesKey(sync, id))
			p.ZRem(ctx, RunsKey(sync), id)
		}
		return nil
	})
	return wrap("trim runs of sync "+sync, err)
}

// SyncStatus is the scheduler's view of a sync.
type SyncStatus struct {
	Paused              bool
	ActiveRun           string
	LastRun             string
	ConsecutiveFailures int
	LastSuccess         time.Time
	LastFailure         time.Time
	LastFinished        time.Time
	NextRun             time.Time
	SkippedTicks        int64
}

var statusFields = []string{"paused", "active_run", "last_run", "consecutive_failures", "last_success",
	"last_failure", "last_finished", "next_run", "skipped_ticks"}

// GetSyncStatus reads a sync's status fields (not its state, which may be
// large).
func (r *RDB) GetSyncStatus(ctx context.Context, sync string) (SyncStatus, error) {
	v, err := r.c.HMGet(ctx, SyncKey(sync), statusFields...).Result()
	if err != nil {
		return SyncStatus{}, wrap("read status of sync "+sync, err)
	}
	return decodeStatus(v), nil
}

func decodeStatus(v []any) SyncStatus {
	str := func(i int) string { s, _ := v[i].(string); return s }
	s := SyncStatus{Paused: str(0) == "1", ActiveRun: str(1), LastRun: str(2)}
	s.ConsecutiveFailures, _ = strconv.Atoi(str(3))
	s.LastSuccess, s.LastFailure, s.LastFinished, s.NextRun = nsTime(str(4)), nsTime(str(5)), nsTime(str(6)), nsTime(str(7))
	s.SkippedTicks, _ = strconv.ParseInt(str(8), 10, 64)
	return s
}

// setPausedScript sets the pause flag and, in the same step, takes the
// sync out of the due set (pause) or asks the leader to look at it now
// (unpause of a scheduled sync), so a pause never races a tick into a
// sync that is never scheduled again.
var setPausedScript = redis.NewScript(`
redis.call("HSET", KEYS[1], "paused", ARGV[1])
if ARGV[1] == "1" then
  redis.call("ZREM", "` + dueKey + `", ARGV[2])
else
  local sched = redis.call("HGET", KEYS[1], "sched")
  if sched and sched ~= "m" then redis.call("ZADD", "` + dueKey + `", 0, ARGV[2]) end
end
return 1`)

// SetPaused pauses or unpauses a sync. Unpausing with a parked run goes
// through Resume instead, which continues the run in the same step.
func (r *RDB) SetPaused(ctx context.Context, sync string, paused bool) error {
	return wrap("pause sync "+sync, setPausedScript.Run(ctx, r.c, []string{SyncKey(sync)}, flag(paused), sync).Err())
}

// SetNextRun records when the scheduler will next start an interval sync,
// due set and all (ctl-like tools and tests; the scheduler itself uses
// ScheduleNext).
func (r *RDB) SetNextRun(ctx context.Context, sync string, t time.Time) error {
	_, err := r.scheduleAt(ctx, sync, t, t, "-", false)
	return err
}

// CountSkippedTick counts a schedule tick skipped because a run was active.
func (r *RDB) CountSkippedTick(ctx context.Context, sync string) error {
	return wrap("count skipped tick of sync "+sync, r.c.HIncrBy(ctx, SyncKey(sync), "skipped_ticks", 1).Err())
}

// LogLine is one line of a run's log.
type LogLine struct {
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Source  string         `json:"source"` // "platform" | "user"
	Page    int            `json:"page"`
	Message string         `json:"msg"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	// Seq is the line's sequence number in its run's log (set by ReadLog;
	// not stored): read on from Seq+1.
	Seq int64 `json:"-"`
}

var appendLogScript = redis.NewScript(luaLib + `
local lines = {}
for i = 2, #ARGV do lines[#lines + 1] = ARGV[i] end
append(KEYS[1], tonumber(ARGV[1]), lines, KEYS[2])
return 1`)

// AppendLog appends lines to a run's log and caps it at max lines (the
// oldest go first: the end of a long run is what people look at).
func (r *RDB) AppendLog(ctx context.Context, sync, run string, max int, lines ...LogLine) error {
	for len(lines) > 0 {
		n := min(len(lines), maxLinesPerCall)
		args := make([]any, 0, n+1)
		args = append(args, max)
		for _, l := range lines[:n] {
			args = append(args, encodeLine(l))
		}
		lines = lines[n:]
		err := appendLogScript.Run(ctx, r.c, []string{RunLogKey(sync, run), RunKey(sync, run)}, args...).Err()
		if err != nil {
			return wrap("append run log "+run, err)
		}
	}
	return nil
}

// encodeLine encodes a log line. It never fails: an attribute JSON cannot
// encode (NaN, ±Inf, a func, a channel, a cyclic value) is stored as its
// text, so a log line never fails the commit it travels with.
func encodeLine(l LogLine) []byte {
	b, err := json.Marshal(l)
	if err == nil {
		return b
	}
	attrs := make(map[string]any, len(l.Attrs))
	for k, v := range l.Attrs {
		if _, err := json.Marshal(v); err != nil {
			v = fmt.Sprintf("%v", v)
		}
		attrs[k] = v
	}
	l.Attrs = attrs
	if b, err = json.Marshal(l); err == nil {
		return b
	}
	// Out of attributes to blame: keep the line's text.
	l.Attrs = map[string]any{"encoding_error": err.Error()}
	b, _ = json.Marshal(l)
	return b
}

var readLogScript = redis.NewScript(`
local dropped = tonumber(redis.call("HGET", KEYS[2], "log_dropped") or "0")
local from = math.max(tonumber(ARGV[1]) - dropped, 0)
return {dropped + from, redis.call("LRANGE", KEYS[1], from, -1)}`)

// ReadLog returns a run's log lines from sequence number seq on (the
// first line ever logged is 0; LogLine.Seq numbers each). Lines dropped
// by the cap are skipped: a follower that reads on from the last Seq+1 it
// saw keeps up with a run past its log cap.
func (r *RDB) ReadLog(ctx context.Context, sync, run string, seq int64) ([]LogLine, error) {
	res, err := readLogScript.Run(ctx, r.c, []string{RunLogKey(sync, run), RunKey(sync, run)}, max(seq, 0)).Slice()
	if err != nil {
		return nil, wrap("read run log "+run, err)
	}
	first, _ := res[0].(int64)
	vals, _ := res[1].([]any)
	out := make([]LogLine, 0, len(vals))
	for i, v := range vals {
		var l LogLine
		s, _ := v.(string)
		if json.Unmarshal([]byte(s), &l) == nil {
			l.Seq = first + int64(i)
			out = append(out, l)
		}
	}
	return out, nil
}

// renewScript extends a lease only if we still hold it.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// AcquireOrRenewLeader takes the scheduler lease or extends it when held
// by id. It reports whether id is the leader afterwards. The lease expires
// on the Redis server's clock.
func (r *RDB) AcquireOrRenewLeader(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, LeaderKey(), id, ttl).Result()
	if err != nil {
		return false, wrap("acquire leader lease", err)
	}
	if ok {
		return true, nil
	}
	n, err := renewScript.Run(ctx, r.c, []string{LeaderKey()}, id, ttl.Milliseconds()).Int()
	return n == 1, wrap("renew leader lease", err)
}

// Leader returns the id holding the scheduler lease ("" when none) and how
// long the lease has left.
func (r *RDB) Leader(ctx context.Context) (string, time.Duration, error) {
	p := r.c.Pipeline()
	get := p.Get(ctx, LeaderKey())
	ttl := p.PTTL(ctx, LeaderKey())
	if _, err := p.Exec(ctx); err != nil && !IsNil(err) {
		return "", 0, wrap("read leader lease", err)
	}
	return get.Val(), max(ttl.Val(), 0), nil
}

// leaderReleaseScript deletes the lease only if id still holds it. (The
// claims' release script also drops their fencing record: not this one.)
var leaderReleaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// ReleaseLeader gives up the lease if held by id (graceful shutdown).
func (r *RDB) ReleaseLeader(ctx context.Context, id string) error {
	return wrap("release leader lease", leaderReleaseScript.Run(ctx, r.c, []string{LeaderKey()}, id).Err())
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// statusBatch bounds one pipeline of SyncStatuses.
const statusBatch = 1000

// SyncStatuses reads the status fields of many syncs, pipelined: what a
// list of thousands of syncs costs in round trips is one per thousand.
func (r *RDB) SyncStatuses(ctx context.Context, syncs []string) ([]SyncStatus, error) {
	out := make([]SyncStatus, 0, len(syncs))
	for len(syncs) > 0 {
		n := min(len(syncs), statusBatch)
		cmds := make([]*redis.SliceCmd, n)
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range syncs[:n] {
				cmds[i] = p.HMGet(ctx, SyncKey(s), statusFields...)
			}
			return nil
		})
		if err != nil {
			return nil, wrap("read the status of syncs", err)
		}
		for _, c := range cmds {
			out = append(out, decodeStatus(c.Val()))
		}
		syncs = syncs[n:]
	}
	return out, nil
}
