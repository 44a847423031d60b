package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// env is a real redis-server, the Notion emulator over HTTP and an engine.
type env struct {
	t      testing.TB
	redis  *redistest.Server
	emu    *emulator.Server
	notion *notion.Client
	rdb    *rdb.RDB
	set    *spec.Set
	eng    *engine.Engine
	// engCfg adjusts the config of every engine newEngine makes.
	engCfg func(*engine.Config)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newEnv(t testing.TB, w *synq.Worker) *env {
	t.Helper()
	return newEnvWith(t, w, envOptions{})
}

// envOptions adjust an env: the emulator's config, the Notion client's
// and the engines'.
type envOptions struct {
	emulator emulator.Config
	notion   func(*notion.Config)
	engine   func(*engine.Config)
}

func newEnvWith(t testing.TB, w *synq.Worker, o envOptions) *env {
	t.Helper()
	set, err := w.Spec(spec.Access{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, redis: redistest.Start(t), emu: notiontest.Start(t, o.emulator), set: set, engCfg: o.engine}
	ncfg := notion.Config{BaseURL: e.emu.URL(), Token: notiontest.Token, Logger: quiet}
	if o.notion != nil {
		o.notion(&ncfg)
	}
	e.notion, err = notion.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	e.rdb = rdb.New(e.redis.Client())
	e.eng = e.newEngine()
	return e
}

func (e *env) newEngine() *engine.Engine { return e.engineWith(nil) }

// engineWith is another executor's engine, its Config changed by the
// env's engCfg and then by f.
func (e *env) engineWith(f func(*engine.Config)) *engine.Engine {
	cfg := engine.Config{Redis: e.rdb, Notion: e.notion, ParentPageID: notiontest.ParentPageID(), Set: e.set, Logger: quiet}
	if e.engCfg != nil {
		e.engCfg(&cfg)
	}
	if f != nil {
		f(&cfg)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

// run runs a whole run of sync on eng, logging to log.
func (e *env) run(eng *engine.Engine, sync string, log *slog.Logger) engine.CycleResult {
	e.t.Helper()
	runSeq++
	res, err := eng.RunCycle(context.Background(), sync, fmt.Sprintf("%s-run-%d", sync, runSeq), log)
	if err != nil {
		e.t.Fatalf("run of %s: %v", sync, err)
	}
	return res
}

var runSeq int

func (e *env) cycle(sync string) engine.CycleResult {
	e.t.Helper()
	res, err := e.tryCycle(sync)
	if err != nil {
		e.t.Fatalf("cycle of %s: %v", sync, err)
	}
	return res
}

func (e *env) tryCycle(sync string) (engine.CycleResult, error) {
	runSeq++
	return e.eng.RunCycle(context.Background(), sync, fmt.Sprintf("%s-run-%d", sync, runSeq), quiet)
}

// rows returns the live rows of a database as key → property text.
func (e *env) rows(db string) map[string]map[string]string {
	e.t.Helper()
	ids, ok, err := e.rdb.GetDatabase(context.Background(), db)
	if err != nil || !ok {
		e.t.Fatalf("database %s not provisioned: %v", db, err)
	}
	d := e.set.Databases[db]
	out := map[string]map[string]string{}
	err = e.notion.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		key := p.Properties[d.PrimaryKey].Text()
		if _, dup := out[key]; dup {
			e.t.Errorf("database %s: key %q has two rows", db, key)
		}
		m := map[string]string{"_id": p.ID}
		for name, v := range p.Properties {
			m[name] = v.Text()
		}
		out[key] = m
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// calls counts Notion requests by route since the last reset.
func (e *env) calls() (total int64, byRoute map[string]int64) {
	st := e.emu.Stats()
	return st.Requests, st.ByRoute
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
