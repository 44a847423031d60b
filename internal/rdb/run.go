package rdb

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run statuses.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
	RunParked    = "parked" // stopped at a page boundary by a pause; resumable
)

// Run is a run record.
type Run struct {
	ID       string
	Sync     string
	Trigger  string // "schedule" | "manual" | "resume"
	Status   string
	Started  time.Time
	Finished time.Time
	Error    string
	Counters map[string]int64 // pages, created, updated, unchanged, trashed, skipped …
}

// startRunScript creates a run unless one is active for the sync; it
// returns the id of the active run in that case.
var startRunScript = redis.NewScript(`
local active = redis.call("HGET", KEYS[1], "active_run")
if active and active ~= "" then return active end
redis.call("HSET", KEYS[1], "active_run", ARGV[1])
redis.call("HSET", KEYS[2], "id", ARGV[1], "sync", ARGV[2], "trigger", ARGV[3],
  "status", "running", "started", ARGV[4], "pages", 0)
redis.call("ZADD", KEYS[3], ARGV[4], ARGV[1])
return ""`)

// StartRun records a new active run for a sync. It returns the id of the
// already active run (and started=false) when there is one: at most one
// run per sync is active.
func (r *RDB) StartRun(ctx context.Context, sync, run, trigger string, now time.Time) (active string, started bool, err error) {
	keys := []string{SyncKey(sync), RunKey(sync, run), RunsKey(sync)}
	res, err := startRunScript.Run(ctx, r.c, keys, run, sync, trigger, now.UnixNano()).Text()
	if err != nil {
		return "", false, wrap("start run of sync "+sync, err)
	}
	if res != "" {
		return res, false, nil
	}
	return run, true, nil
}

// finishRunScript ends a run if it is still the active one, and keeps the
// sync's health counters.
var finishRunScript = redis.NewScript(`
if redis.call("HGET", KEYS[2], "status") ~= "running" then return 0 end
redis.call("HSET", KEYS[2], "status", ARGV[2], "finished", ARGV[3], "error", ARGV[4])
if redis.call("HGET", KEYS[1], "active_run") == ARGV[1] then
  redis.call("HDEL", KEYS[1], "active_run")
end
if ARGV[2] == "succeeded" then
  redis.call("HSET", KEYS[1], "consecutive_failures", 0, "last_success", ARGV[3])
elseif ARGV[2] == "failed" then
  redis.call("HINCRBY", KEYS[1], "consecutive_failures", 1)
end
redis.call("HSET", KEYS[1], "last_run", ARGV[1])
return 1`)

// FinishRun ends an active run with a final status. It is a no-op for a
// run that already ended (a redelivered final page).
func (r *RDB) FinishRun(ctx context.Context, sync, run, status, errMsg string, now time.Time) (bool, error) {
	keys := []string{SyncKey(sync), RunKey(sync, run)}
	n, err := finishRunScript.Run(ctx, r.c, keys, run, status, now.UnixNano(), errMsg).Int()
	return n == 1, wrap("finish run "+run, err)
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

func decodeRun(m map[string]string) Run {
	run := Run{ID: m["id"], Sync: m["sync"], Trigger: m["trigger"], Status: m["status"], Error: m["error"],
		Counters: map[string]int64{}}
	if ns, _ := strconv.ParseInt(m["started"], 10, 64); ns > 0 {
		run.Started = time.Unix(0, ns)
	}
	if ns, _ := strconv.ParseInt(m["finished"], 10, 64); ns > 0 {
		run.Finished = time.Unix(0, ns)
	}
	for k, v := range m {
		switch k {
		case "id", "sync", "trigger", "status", "error", "started", "finished":
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			run.Counters[k] = n
		}
	}
	return run
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

// TrimRuns keeps the newest keep runs of a sync and deletes the rest with
// their logs (run retention).
func (r *RDB) TrimRuns(ctx context.Context, sync string, keep int) error {
	old, err := r.c.ZRange(ctx, RunsKey(sync), 0, int64(-keep-1)).Result()
	if err != nil || len(old) == 0 {
		return wrap("trim runs of sync "+sync, err)
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range old {
			p.Del(ctx, RunKey(sync, id), RunLogKey(sync, id))
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
	NextRun             time.Time
	SkippedTicks        int64
}

// GetSyncStatus reads a sync's status fields.
func (r *RDB) GetSyncStatus(ctx context.Context, sync string) (SyncStatus, error) {
	m, err := r.c.HGetAll(ctx, SyncKey(sync)).Result()
	if err != nil {
		return SyncStatus{}, wrap("read status of sync "+sync, err)
	}
	s := SyncStatus{Paused: m["paused"] == "1", ActiveRun: m["active_run"], LastRun: m["last_run"]}
	s.ConsecutiveFailures, _ = strconv.Atoi(m["consecutive_failures"])
	s.SkippedTicks, _ = strconv.ParseInt(m["skipped_ticks"], 10, 64)
	if ns, _ := strconv.ParseInt(m["last_success"], 10, 64); ns > 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	if ns, _ := strconv.ParseInt(m["next_run"], 10, 64); ns > 0 {
		s.NextRun = time.Unix(0, ns)
	}
	return s, nil
}

// SetPaused pauses or resumes a sync.
func (r *RDB) SetPaused(ctx context.Context, sync string, paused bool) error {
	v := "0"
	if paused {
		v = "1"
	}
	return wrap("pause sync "+sync, r.c.HSet(ctx, SyncKey(sync), "paused", v).Err())
}

// SetNextRun records when the scheduler will next start a sync.
func (r *RDB) SetNextRun(ctx context.Context, sync string, t time.Time) error {
	return wrap("set next run of sync "+sync, r.c.HSet(ctx, SyncKey(sync), "next_run", t.UnixNano()).Err())
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
}

// AppendLog appends lines to a run's log and caps it at max lines (the
// oldest go first: the end of a long run is what people look at).
func (r *RDB) AppendLog(ctx context.Context, sync, run string, max int, lines ...LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	vals := make([]any, len(lines))
	for i, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("rdb: encoding log line: %w", err)
		}
		vals[i] = b
	}
	key := RunLogKey(sync, run)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, vals...)
		p.LTrim(ctx, key, int64(-max), -1)
		return nil
	})
	return wrap("append run log "+run, err)
}

// ReadLog returns a run's log lines from index start on.
func (r *RDB) ReadLog(ctx context.Context, sync, run string, start int64) ([]LogLine, error) {
	vals, err := r.c.LRange(ctx, RunLogKey(sync, run), start, -1).Result()
	if err != nil {
		return nil, wrap("read run log "+run, err)
	}
	out := make([]LogLine, 0, len(vals))
	for _, v := range vals {
		var l LogLine
		if json.Unmarshal([]byte(v), &l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// PublishManifest stores a worker fleet's manifest.
func (r *RDB) PublishManifest(ctx context.Context, worker string, manifest []byte, now time.Time) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, ManifestKey(worker), manifest, 0)
		p.ZAdd(ctx, ManifestsKey(), redis.Z{Score: float64(now.Unix()), Member: worker})
		return nil
	})
	return wrap("publish manifest of "+worker, err)
}

// Manifests returns every published manifest by worker name.
func (r *RDB) Manifests(ctx context.Context) (map[string][]byte, error) {
	workers, err := r.c.ZRange(ctx, ManifestsKey(), 0, -1).Result()
	if err != nil {
		return nil, wrap("list manifests", err)
	}
	out := make(map[string][]byte, len(workers))
	for _, w := range workers {
		b, err := r.c.Get(ctx, ManifestKey(w)).Bytes()
		if err == nil {
			out[w] = b
		} else if !IsNil(err) {
			return nil, wrap("read manifest of "+w, err)
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
// by id. It reports whether id is the leader afterwards.
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

// ReleaseLeader gives up the lease if held by id (graceful shutdown).
func (r *RDB) ReleaseLeader(ctx context.Context, id string) error {
	return wrap("release leader lease", releaseScript.Run(ctx, r.c, []string{LeaderKey()}, id).Err())
}

// setRunStatusScript moves a run from one status to another, atomically,
// only if it is in the expected one.
var setRunStatusScript = redis.NewScript(`
if redis.call("HGET", KEYS[1], "status") ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "status", ARGV[2])
return 1`)

// SetRunStatus moves a run from status from to status to (park a run on
// pause, resume a parked one). It reports whether the run was in from.
func (r *RDB) SetRunStatus(ctx context.Context, sync, run, from, to string) (bool, error) {
	n, err := setRunStatusScript.Run(ctx, r.c, []string{RunKey(sync, run)}, from, to).Int()
	return n == 1, wrap("set status of run "+run, err)
}

// CancelRun ends an active run as cancelled (running or parked). The
// executor working on its current page notices at the page boundary.
func (r *RDB) CancelRun(ctx context.Context, sync, run string, now time.Time) (bool, error) {
	// A parked run is first made running so FinishRun ends it like any.
	if _, err := r.SetRunStatus(ctx, sync, run, RunParked, RunRunning); err != nil {
		return false, err
	}
	return r.FinishRun(ctx, sync, run, RunCancelled, "cancelled by an operator", now)
}
