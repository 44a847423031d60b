package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// fleet publishes manifests the way executors do, on a real redis-server.
type fleet struct {
	t   *testing.T
	ctx context.Context
	rdb *rdb.RDB
	ops *ops.Ops
}

func newFleet(t *testing.T) *fleet {
	r := redistest.Start(t)
	o, err := ops.New(ops.Config{Redis: r.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fleet{t: t, ctx: context.Background(), rdb: rdb.New(r.Client()), ops: o}
}

// manifest is a worker's build declaring syncs (all every 15m on db) and
// pacers (key → requests a second).
func manifest(worker string, syncs []string, pacers map[string]int) spec.Manifest {
	sched, _ := spec.ParseSchedule("15m")
	m := spec.Manifest{Worker: worker}
	for _, k := range syncs {
		m.Syncs = append(m.Syncs, spec.ManifestSync{Key: k, Database: "db", Mode: spec.Incremental, Schedule: sched,
			Timeout: time.Minute, MaxAttempts: 3, Pacers: []string{"api"}})
	}
	for k, n := range pacers {
		m.Pacers = append(m.Pacers, spec.Pacer{Key: k, AllowedRequests: n, Interval: time.Second})
	}
	m.Build = m.BuildID()
	return m
}

// publish refreshes m as an executor does: the manifest, and when m is its
// worker's newest build and register is set, the registry entries of its
// syncs.
func (f *fleet) publish(m spec.Manifest, register bool) {
	f.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	newest, err := f.rdb.PublishBuild(f.ctx, m.Worker, m.Build, b, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	if !register || newest != m.Build {
		return
	}
	reg := map[string][]byte{}
	for _, s := range m.Syncs {
		e, err := json.Marshal(spec.Registered{Worker: m.Worker, Build: m.Build, Sync: s})
		if err != nil {
			f.t.Fatal(err)
		}
		reg[s.Key] = e
	}
	if err := f.rdb.Register(f.ctx, reg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) catalog() map[string]ops.SyncInfo {
	f.t.Helper()
	cat, err := f.ops.Catalog(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return cat
}

// The catalog is the newest live build of each worker, and the registry's
// memory of syncs no live build declares any more, with since when.
func TestCatalogLiveBuildsAndRegistry(t *testing.T) {
	f := newFleet(t)
	if _, err := f.ops.Sync(f.ctx, "ticketsDelta"); !errors.Is(err, ops.ErrUnknownSync) || !strings.Contains(err.Error(), "no executor has published") {
		t.Fatalf("before any executor: %v", err)
	}
	v1 := manifest("helpdesk", []string{"ticketsDelta", "customersSync"}, map[string]int{"api": 7})
	f.publish(v1, true)
	cat := f.catalog()
	for _, k := range []string{"ticketsDelta", "customersSync"} {
		s := cat[k]
		if !s.Declared || s.Worker != "helpdesk" || s.Build != v1.Build || s.Since.IsZero() || s.Conflict != "" ||
			s.MaxAttempts != 3 || s.Schedule.Text != "15m" || s.PacerLimits["api"].Requests != 7 || s.PacerLimits["api"].Interval != time.Second {
			t.Errorf("live %s = %+v", k, s)
		}
	}
	_, err := f.ops.Sync(f.ctx, "nope")
	var unknown *ops.UnknownSyncError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "customersSync, ticketsDelta") {
		t.Errorf("an unknown key: %v; want the known keys listed", err)
	}

	// A deploy drops customersSync: the new build declares ticketsDelta
	// only; the registry still knows customersSync, since its last
	// declaration.
	reg, err := f.rdb.Registry(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastDeclared := reg["customersSync"].Declared
	time.Sleep(20 * time.Millisecond) // the registry's clock is in ms
	v2 := manifest("helpdesk", []string{"ticketsDelta"}, nil)
	f.publish(v2, true)
	cat = f.catalog()
	if s := cat["ticketsDelta"]; !s.Declared || s.Build != v2.Build {
		t.Errorf("after the deploy ticketsDelta = %+v; want declared by build %s", s, v2.Build)
	}
	gone := cat["customersSync"]
	if gone.Declared || gone.Worker != "helpdesk" || gone.Build != v1.Build || !gone.Since.Equal(lastDeclared) {
		t.Errorf("dropped sync = %+v; want undeclared since %v, last declared by build %s", gone, lastDeclared, v1.Build)
	}
	if msg := gone.Undeclared(); !strings.Contains(msg, lastDeclared.UTC().Format(time.RFC3339)) || !strings.Contains(msg, "ctl forget customersSync") {
		t.Errorf("Undeclared() = %q", msg)
	}
	if _, err := f.ops.Trigger(f.ctx, "customersSync", "manual"); !errors.Is(err, ops.ErrUndeclared) {
		t.Errorf("trigger of an undeclared sync: %v", err)
	}

	// Forget removes only what no live build declares.
	if err := f.ops.Forget(f.ctx, "ticketsDelta"); !errors.Is(err, ops.ErrDeclared) || strings.HasSuffix(err.Error(), ops.ErrDeclared.Error()) {
		t.Errorf("forget of a declared sync: %v (want ErrDeclared, in words that do not repeat its text)", err)
	}
	if _, err := f.ops.Run(f.ctx, "ticketsDelta-20200101T000000-000000"); !errors.Is(err, ops.ErrUnknownRun) || strings.HasSuffix(err.Error(), ops.ErrUnknownRun.Error()) {
		t.Errorf("an unknown run: %v (want ErrUnknownRun, in words that do not repeat its text)", err)
	}
	if err := f.ops.Forget(f.ctx, "customersSync"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.catalog()["customersSync"]; ok {
		t.Error("a forgotten sync is still in the catalog")
	}

	// The new build's last executor stops: the previous build, still
	// live, declares again; when it stops too, ticketsDelta is remembered
	// as undeclared.
	if err := f.rdb.WithdrawBuild(f.ctx, "helpdesk", v2.Build); err != nil {
		t.Fatal(err)
	}
	if s := f.catalog()["ticketsDelta"]; !s.Declared || s.Build != v1.Build {
		t.Errorf("after build %s stopped: %+v; want build %s's", v2.Build, s, v1.Build)
	}
	if err := f.rdb.WithdrawBuild(f.ctx, "helpdesk", v1.Build); err != nil {
		t.Fatal(err)
	}
	if s := f.catalog()["ticketsDelta"]; s.Declared || s.Build != v2.Build || s.Since.IsZero() {
		t.Errorf("after the last executor stopped: %+v; want undeclared, last declared by build %s", s, v2.Build)
	}
}

// Two live workers declaring one key is a conflict: the registry's owner
// keeps the key and the other is named.
func TestCatalogConflict(t *testing.T) {
	f := newFleet(t)
	a := manifest("alpha", []string{"shared", "alphaOnly"}, nil)
	b := manifest("beta", []string{"shared"}, nil)
	f.publish(b, false) // beta's executor refused to start: it never registered
	f.publish(a, true)
	cat := f.catalog()
	if s := cat["shared"]; s.Worker != "alpha" || s.Conflict != "beta" || !s.Declared {
		t.Errorf("shared = %+v; want alpha's, in conflict with beta", s)
	}
	if s := cat["alphaOnly"]; s.Conflict != "" {
		t.Errorf("alphaOnly = %+v; want no conflict", s)
	}
	// Both started at once and beta registered last: beta keeps the key.
	f.publish(b, true)
	if s := f.catalog()["shared"]; s.Worker != "beta" || s.Conflict != "alpha" || s.Build != b.Build {
		t.Errorf("shared after beta registered = %+v; want beta's, in conflict with alpha", s)
	}
}

// Pacers are listed from the live fleet: SDK pacers from the manifests
// (two workers declaring one key with different budgets is a conflict) and
// Notion budgets from the executors' records.
func TestPacers(t *testing.T) {
	f := newFleet(t)
	f.publish(manifest("alpha", []string{"a1"}, map[string]int{"api": 10}), true)
	f.publish(manifest("beta", []string{"b1"}, map[string]int{"api": 20}), true)
	if err := f.rdb.Heartbeat(f.ctx, "x1", time.Minute, map[string]string{"worker": "alpha",
		rdb.ExecutorNotionPacer: "notion:3f9a", rdb.ExecutorNotionPerMinute: "180"}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.ops.Pacers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("pacers = %+v; want Notion's and api", ps)
	}
	if n := ps[0]; n.Kind != ops.PacerNotion || n.Name != "notion:3f9a" || n.PerMinute != 180 || strings.Join(n.Workers, ",") != "alpha" {
		t.Errorf("Notion pacer = %+v", n)
	}
	if p := ps[1]; p.Kind != ops.PacerSDK || p.Name != "sdk:api" || !p.Conflict ||
		strings.Join(p.Workers, ",") != "alpha,beta" || strings.Join(p.Syncs, ",") != "a1,b1" {
		t.Errorf("SDK pacer = %+v; want api declared by alpha and beta with different budgets", p)
	}
}
