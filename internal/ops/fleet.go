package ops

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/queue"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// The read side of operations that are not about one sync: executors,
// queues, the leader, pacers, recent failures, databases. The console
// shows them; the control API may serve them the same way.

// Executor is a live executor process, as its record in Redis says.
type Executor struct {
	ID, Worker, Build, Version, Host, Queue string
	PID, Concurrency, InFlight              int
	// LastSeen is its last refresh (server clock).
	LastSeen time.Time
	// Newest says its build is the worker's newest live build (the one
	// whose manifest counts).
	Newest bool
	// NotionPacer names its Notion token's pacer; NotionPerMinute is the
	// budget it paces at (0: unpaced). The workspace's, when declared.
	NotionPacer, NotionWorkspacePacer         string
	NotionPerMinute, NotionWorkspacePerMinute int
}

// Executors returns the live executors, by worker then host and pid.
func (o *Ops) Executors(ctx context.Context) ([]Executor, error) {
	recs, err := o.rdb.Executors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Executor, 0, len(recs))
	for id, m := range recs {
		atoi := func(k string) int { n, _ := strconv.Atoi(m[k]); return n }
		x := Executor{ID: id, Worker: m["worker"], Build: m["build"], Version: m["version"], Host: m["host"], Queue: m["queue"],
			PID: atoi("pid"), Concurrency: atoi("concurrency"), InFlight: atoi("in_flight"), Newest: m["newest"] == "true",
			NotionPacer: m[rdb.ExecutorNotionPacer], NotionPerMinute: atoi(rdb.ExecutorNotionPerMinute),
			NotionWorkspacePacer: m[rdb.ExecutorNotionWorkspacePacer], NotionWorkspacePerMinute: atoi(rdb.ExecutorNotionWorkspacePerMinute)}
		if ms, err := strconv.ParseInt(m["last_seen"], 10, 64); err == nil {
			x.LastSeen = time.UnixMilli(ms)
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Executor) int {
		return cmp.Or(strings.Compare(a.Worker, b.Worker), strings.Compare(a.Host, b.Host), cmp.Compare(a.PID, b.PID), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Queue is one worker's page queue.
type Queue struct {
	Worker string
	queue.QueueStats
	// Executors counts the live executors pulling from it.
	Executors int
}

// Queues returns the queue of every worker that has syncs or live
// executors, by worker.
func (o *Ops) Queues(ctx context.Context) ([]Queue, error) {
	cat, err := o.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	xs, err := o.Executors(ctx)
	if err != nil {
		return nil, err
	}
	workers := map[string]int{}
	for _, s := range cat {
		workers[s.Worker] += 0
	}
	for _, x := range xs {
		workers[x.Worker]++
	}
	out := make([]Queue, 0, len(workers))
	for _, w := range slices.Sorted(keys(workers)) {
		st, err := o.inspect.Stats(queue.ForWorker(w))
		if err != nil {
			return nil, err
		}
		out = append(out, Queue{Worker: w, QueueStats: st, Executors: workers[w]})
	}
	return out, nil
}

// Leader is the scheduler replica holding the leader lease.
type Leader struct {
	ID string // "" when no replica holds it
	// TTL is how long the lease has left; the leader renews it.
	TTL time.Duration
}

// Leader returns the scheduler leader.
func (o *Ops) Leader(ctx context.Context) (Leader, error) {
	id, ttl, err := o.rdb.Leader(ctx)
	return Leader{ID: id, TTL: ttl}, err
}

// Failures returns the runs that ended failed or with a warning since
// since, newest first, across every known sync.
func (o *Ops) Failures(ctx context.Context, since time.Time) ([]rdb.Run, error) {
	// Only the syncs whose last failure (or warning) is that recent: a
	// pipelined status read, not a round trip per sync.
	ls, _, err := o.Match(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	var out []rdb.Run
	for _, l := range ls {
		if l.Status.LastFailure.Before(since) {
			continue
		}
		// A run that failed since may have started a while before.
		rs, err := o.rdb.RunsStartedSince(ctx, l.Key, since.Add(-24*time.Hour))
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if (r.Status == rdb.RunFailed || r.Status == rdb.RunWarning) && !r.Finished.Before(since) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b rdb.Run) int { return b.Finished.Compare(a.Finished) })
	return out, nil
}

// DatabaseInfo is a managed database as Redis knows it.
type DatabaseInfo struct {
	Key string
	// Provisioned says an executor created or adopted it in Notion.
	Provisioned bool
	// URL opens it in Notion ("" until an executor read it).
	URL string
	// Rows counts the rows synq wrote (the key index); meaningful when
	// Indexed.
	Rows    int64
	Indexed bool
}

// Database returns what Redis knows of a managed database.
func (o *Ops) Database(ctx context.Context, key string) (DatabaseInfo, error) {
	ids, ok, err := o.rdb.GetDatabase(ctx, key)
	if err != nil || !ok {
		return DatabaseInfo{Key: key}, err
	}
	n, err := o.rdb.IndexLen(ctx, key)
	if err != nil {
		return DatabaseInfo{}, err
	}
	return DatabaseInfo{Key: key, Provisioned: true, URL: ids.URL, Rows: n, Indexed: ids.Indexed}, nil
}

// Pacer kinds.
const (
	PacerSDK             = "sdk"              // declared by workers (w.Pacer)
	PacerNotion          = "notion"           // a Notion token's connection budget
	PacerNotionWorkspace = "notion-workspace" // a Notion workspace's budget
)

// PacerView is one pacer: its budget, who uses it and its counters.
//
// Pacers are listed from what the live fleet declares, never by scanning
// Redis: the SDK pacers of the live manifests (with their budgets), and
// the Notion budgets the live executors name in their records (a token's
// pacer is named after a hash of the token, which the scheduler never
// sees). A pacer nothing live declares any more is not listed; its
// counters expire after a month unused.
type PacerView struct {
	// Name is the pacer's name in Redis ("sdk:helpdeskApi", "notion:3f9a…").
	Name string
	Kind string
	// Key is the SDK pacer's key; for Notion, the pacer's name.
	Key string
	// Limit is the budget; PerMinute the same per minute (0: unknown).
	Limit     pacer.Limit
	PerMinute float64
	// Workers declare or use it; Syncs declare it (SDK pacers).
	Workers []string
	Syncs   []string
	// Conflict: workers declare the same SDK pacer key with different
	// budgets (they then share one pacer; each paces at its own limit).
	Conflict bool
	Stats    pacer.Stats
}

// Share is the fraction of the budget each active consumer owns now.
func (p PacerView) Share() float64 {
	if n := len(p.Stats.Active); n > 0 {
		return 1 / float64(n)
	}
	return 1
}

// Pacers returns every pacer the live fleet declares: Notion's first,
// then the SDK pacers by key.
func (o *Ops) Pacers(ctx context.Context) ([]PacerView, error) {
	byName := map[string]*PacerView{}
	add := func(name, kind, key string, lim pacer.Limit, worker string) *PacerView {
		p, ok := byName[name]
		if !ok {
			p = &PacerView{Name: name, Kind: kind, Key: key, Limit: lim}
			if lim.Interval > 0 {
				p.PerMinute = float64(lim.Requests) * float64(time.Minute) / float64(lim.Interval)
			}
			byName[name] = p
		} else if p.Limit.Requests != lim.Requests || p.Limit.Interval != lim.Interval {
			p.Conflict = true
		}
		if !slices.Contains(p.Workers, worker) {
			p.Workers = append(p.Workers, worker)
		}
		return p
	}
	live, err := o.rdb.LiveBuilds(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range slices.Sorted(keys(live)) {
		m, err := spec.ParseManifest(live[w].Manifest)
		if err != nil {
			continue
		}
		for _, d := range m.Pacers {
			p := add("sdk:"+d.Key, PacerSDK, d.Key, pacer.Limit{Requests: d.AllowedRequests, Interval: d.Interval}, w)
			for _, s := range m.Syncs {
				if slices.Contains(s.Pacers, d.Key) && !slices.Contains(p.Syncs, s.Key) {
					p.Syncs = append(p.Syncs, s.Key)
				}
			}
		}
	}
	xs, err := o.Executors(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range xs {
		if x.NotionPacer != "" && x.NotionPerMinute > 0 {
			add(x.NotionPacer, PacerNotion, x.NotionPacer, pacer.Limit{Requests: x.NotionPerMinute, Interval: time.Minute}, x.Worker)
		}
		if x.NotionWorkspacePacer != "" {
			add(x.NotionWorkspacePacer, PacerNotionWorkspace, x.NotionWorkspacePacer, pacer.Limit{Requests: x.NotionWorkspacePerMinute, Interval: time.Minute}, x.Worker)
		}
	}
	out := make([]PacerView, 0, len(byName))
	for _, p := range byName {
		st, err := o.pacer.Stats(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		p.Stats = st
		slices.Sort(p.Workers)
		slices.Sort(p.Syncs)
		out = append(out, *p)
	}
	rank := map[string]int{PacerNotion: 0, PacerNotionWorkspace: 1, PacerSDK: 2}
	slices.SortFunc(out, func(a, b PacerView) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}
