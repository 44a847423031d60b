package rdb

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// publishBuildScript refreshes one build's manifest, records when the
// build first appeared (server clock) and returns the worker's newest
// live build. Builds whose manifest expired are dropped from the set: a
// build that comes back later counts as a new deploy.
//
// A manifest that comes back after it expired (a Redis outage longer than
// its TTL, a failover to a replica that never had it) is a change too: a
// leader that read the catalog while it was gone holds its syncs as
// undeclared, and nothing else would tell it that they are declared again.
//
// The script reads the manifests of the worker's other builds by name;
// they share the worker's hash tag, so they live in the same slot.
var publishBuildScript = redis.NewScript(`
local back = 1 - redis.call("EXISTS", KEYS[2])
redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[3])
local t = redis.call("TIME")
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changed = redis.call("ZADD", KEYS[1], "NX", ms, ARGV[1]) + back
local builds = redis.call("ZREVRANGE", KEYS[1], 0, -1)
local newest = ""
for _, b in ipairs(builds) do
  if redis.call("EXISTS", ARGV[4] .. b) == 1 then
    if newest == "" then newest = b end
  else
    changed = changed + redis.call("ZREM", KEYS[1], b)
  end
end
return {newest, changed}`)

// PublishBuild stores the manifest of one build of a worker for ttl and
// returns the worker's newest live build (the one whose manifest counts).
func (r *RDB) PublishBuild(ctx context.Context, worker, build string, manifest []byte, ttl time.Duration) (string, error) {
	prefix := strings.TrimSuffix(BuildManifestKey(worker, "x"), "x")
	keys := []string{BuildsKey(worker), BuildManifestKey(worker, build)}
	res, err := publishBuildScript.Run(ctx, r.c, keys, build, manifest, ttl.Milliseconds(), prefix).Slice()
	if err != nil {
		return "", wrap("publish manifest of worker "+worker, err)
	}
	newest, _ := res[0].(string)
	if changed, _ := res[1].(int64); changed > 0 {
		// A new build, one dropped or one back: the leader reads the
		// catalog again.
		if err := r.c.SAdd(ctx, WorkersKey(), worker).Err(); err != nil {
			return "", wrap("register worker "+worker, err)
		}
		if err := r.BumpCatalog(ctx); err != nil {
			return "", err
		}
	}
	return newest, nil
}

// WithdrawBuild removes a build's manifest at once (its last executor
// stopped gracefully), so the worker's previous build or nothing declares
// its syncs without waiting for the TTL. Callers withdraw only when no
// other executor of the build is alive.
func (r *RDB) WithdrawBuild(ctx context.Context, worker, build string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, BuildManifestKey(worker, build))
		p.ZRem(ctx, BuildsKey(worker), build)
		p.Set(ctx, catalogVersionKey, newCatalogVersion(), 0)
		return nil
	})
	return wrap("withdraw manifest of worker "+worker, err)
}

// LiveBuild is the manifest that counts for a worker: its newest build
// whose manifest has not expired.
type LiveBuild struct {
	Worker   string
	Build    string
	Since    time.Time // when the build first published (server clock)
	Manifest []byte
}

// LiveBuilds returns, for every worker, its newest live build. Workers with
// no live build are absent.
func (r *RDB) LiveBuilds(ctx context.Context) (map[string]LiveBuild, error) {
	workers, err := r.c.SMembers(ctx, WorkersKey()).Result()
	if err != nil {
		return nil, wrap("list workers", err)
	}
	sort.Strings(workers)
	builds := make([]*redis.ZSliceCmd, len(workers))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range workers {
			builds[i] = p.ZRevRangeWithScores(ctx, BuildsKey(w), 0, -1)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list builds", err)
	}
	out := map[string]LiveBuild{}
	for i, w := range workers {
		for _, z := range builds[i].Val() {
			b, _ := z.Member.(string)
			m, err := r.c.Get(ctx, BuildManifestKey(w, b)).Bytes()
			if IsNil(err) {
				continue
			}
			if err != nil {
				return nil, wrap("read manifest of worker "+w, err)
			}
			out[w] = LiveBuild{Worker: w, Build: b, Since: time.UnixMilli(int64(z.Score)), Manifest: m}
			break
		}
	}
	return out, nil
}

// registerScript records syncs as declared now (server clock): each entry
// is "<ms> <json>".
var registerScript = redis.NewScript(`
local t = redis.call("TIME")
local ms = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
for i = 1, #ARGV, 2 do
  redis.call("HSET", KEYS[1], ARGV[i], ms .. " " .. ARGV[i + 1])
end
return 1`)

// Register records the given syncs (key → JSON of the declared sync) as
// declared now by a live build.
func (r *RDB) Register(ctx context.Context, syncs map[string][]byte) error {
	if len(syncs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(syncs))
	for k, v := range syncs {
		args = append(args, k, v)
	}
	if err := registerScript.Run(ctx, r.c, []string{RegistryKey()}, args...).Err(); err != nil {
		return wrap("register syncs", err)
	}
	return r.BumpCatalog(ctx)
}

// Registered is a sync as last declared.
type Registered struct {
	Spec     []byte
	Declared time.Time // the last time a live build declared it
}

// Registry returns every registered sync.
func (r *RDB) Registry(ctx context.Context) (map[string]Registered, error) {
	m, err := r.c.HGetAll(ctx, RegistryKey()).Result()
	if err != nil {
		return nil, wrap("read the sync registry", err)
	}
	out := make(map[string]Registered, len(m))
	for k, v := range m {
		ms, spec, ok := strings.Cut(v, " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(ms, 10, 64)
		out[k] = Registered{Spec: []byte(spec), Declared: time.UnixMilli(n)}
	}
	return out, nil
}

// Forget deletes every record of a sync: registry entry, state, runs with
// their logs and page records, health. Notion is not touched.
func (r *RDB) Forget(ctx context.Context, sync string) error {
	ids, err := r.c.ZRange(ctx, RunsKey(sync), 0, -1).Result()
	if err != nil {
		return wrap("forget sync "+sync, err)
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Del(ctx, RunKey(sync, id), RunLogKey(sync, id), RunPagesKey(sync, id))
		}
		p.Del(ctx, SyncKey(sync), SeenKey(sync), RunsKey(sync))
		dropScript.Eval(ctx, p, []string{SeenMetaKey(sync)}) // Run cannot load a script inside MULTI
		p.HDel(ctx, RegistryKey(), sync)
		p.ZRem(ctx, dueKey, sync)
		p.SRem(ctx, activeKey, sync)
		p.Set(ctx, catalogVersionKey, newCatalogVersion(), 0)
		return nil
	})
	return wrap("forget sync "+sync, err)
}

// heartbeatScript refreshes an executor's record and its expiry (server
// clock) in the set of executors, dropping the expired ones.
var heartbeatScript = redis.NewScript(`
local t = redis.call("TIME")
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("HSET", KEYS[1], "last_seen", ms, unpack(ARGV, 3))
redis.call("PEXPIRE", KEYS[1], ARGV[2])
redis.call("ZADD", KEYS[2], ms + tonumber(ARGV[2]), ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ms)
return 1`)

// Heartbeat refreshes a live executor's record for ttl.
func (r *RDB) Heartbeat(ctx context.Context, id string, ttl time.Duration, fields map[string]string) error {
	args := []any{id, ttl.Milliseconds()}
	for _, k := range sortedKeys(fields) {
		args = append(args, k, fields[k])
	}
	err := heartbeatScript.Run(ctx, r.c, []string{ExecutorKey(id), ExecutorsKey()}, args...).Err()
	return wrap("refresh executor "+id, err)
}

// Gone removes an executor's record (graceful stop).
func (r *RDB) Gone(ctx context.Context, id string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, ExecutorKey(id))
		p.ZRem(ctx, ExecutorsKey(), id)
		return nil
	})
	return wrap("remove executor "+id, err)
}

// Fields of an executor's record (ExecutorKey) beyond its identity, which
// operators read: the Notion budgets it paces its calls on. A token's pacer
// is named after a hash of the token, so this is how a scheduler, which
// knows no token, finds it.
const (
	ExecutorNotionPacer              = "notion_pacer"
	ExecutorNotionPerMinute          = "notion_per_minute"
	ExecutorNotionWorkspacePacer     = "notion_workspace_pacer"
	ExecutorNotionWorkspacePerMinute = "notion_workspace_per_minute"
)

// Executors returns the records of the live executors by id.
func (r *RDB) Executors(ctx context.Context) (map[string]map[string]string, error) {
	ids, err := r.c.ZRange(ctx, ExecutorsKey(), 0, -1).Result()
	if err != nil {
		return nil, wrap("list executors", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, ExecutorKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list executors", err)
	}
	out := map[string]map[string]string{}
	for i, id := range ids {
		if m := cmds[i].Val(); len(m) > 0 {
			out[id] = m
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ServerTime is the Redis server's clock: the one clock every process
// shares.
func (r *RDB) ServerTime(ctx context.Context) (time.Time, error) {
	t, err := r.c.Time(ctx).Result()
	if err != nil {
		return time.Time{}, wrap("read the server clock", err)
	}
	return t, nil
}
