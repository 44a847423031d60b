package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/schema"
)

// guardWorker has one replace sync that returns the first n.Load() rows of
// its upstream, on one page.
func guardWorker(n *atomic.Int64, fraction float64) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "guard"})
	db := w.Database("annotated", synq.DatabaseConfig{InitialTitle: "Annotated", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title(), "N": schema.Number()}})
	synq.AddSync(w, "mirror", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual", MaxTrashFraction: fraction,
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			var res synq.Result[struct{}]
			for i := range n.Load() {
				res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("row-%02d", i), builder.Properties{"N": builder.Int(i)}))
			}
			return res, nil
		}})
	return w
}

func TestDeletionGuard(t *testing.T) {
	ctx := context.Background()
	cycle := func(e *env, allow bool) engine.CycleResult {
		t.Helper()
		runSeq++
		res, err := e.eng.RunCycleWith(ctx, "mirror", fmt.Sprintf("mirror-run-%d", runSeq), engine.CycleOptions{AllowTrash: allow}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("an empty answer trashes nothing and says why", func(t *testing.T) {
		var n atomic.Int64
		e := newEnv(t, guardWorker(&n, 0))
		n.Store(20)
		cycle(e, false)
		n.Store(0) // an outage answered with 200 []
		res := cycle(e, false)
		if res.Counters["trashed"] != 0 || len(e.rows("annotated")) != 20 {
			t.Fatalf("the guard let %d rows be trashed; %d left", res.Counters["trashed"], len(e.rows("annotated")))
		}
		for _, want := range []string{"would trash 20 of the 20 rows", `database "annotated"`, "ctl trigger mirror --allow-trash", "MaxTrashFraction"} {
			if !strings.Contains(res.Held, want) {
				t.Fatalf("guard message %q lacks %q", res.Held, want)
			}
		}
		// The cycle ended: a later complete answer sweeps nothing and the
		// data is intact.
		n.Store(20)
		if res := cycle(e, false); res.Held != "" || res.Counters["trashed"] != 0 {
			t.Fatalf("cycle after the upstream came back = %+v", res)
		}
	})
	t.Run("a truncated answer over the fraction is held; --allow-trash lifts it for one run", func(t *testing.T) {
		var n atomic.Int64
		e := newEnv(t, guardWorker(&n, 0))
		n.Store(20)
		cycle(e, false)
		n.Store(8) // 12 of 20 (60%) would go
		if res := cycle(e, false); res.Held == "" || !strings.Contains(res.Held, "12 of the 20 rows") || len(e.rows("annotated")) != 20 {
			t.Fatalf("held = %q, rows = %d", res.Held, len(e.rows("annotated")))
		}
		if res := cycle(e, true); res.Held != "" || res.Counters["trashed"] != 12 || len(e.rows("annotated")) != 8 {
			t.Fatalf("with --allow-trash: %+v, %d rows", res, len(e.rows("annotated")))
		}
	})
	t.Run("below the fraction rows not seen are deleted", func(t *testing.T) {
		var n atomic.Int64
		e := newEnv(t, guardWorker(&n, 0))
		n.Store(20)
		cycle(e, false)
		n.Store(15) // 5 of 20 (25%)
		if res := cycle(e, false); res.Held != "" || res.Counters["trashed"] != 5 || len(e.rows("annotated")) != 15 {
			t.Fatalf("%+v, %d rows", res, len(e.rows("annotated")))
		}
	})
	t.Run("small databases and a fraction of 1 are not guarded", func(t *testing.T) {
		var n atomic.Int64
		e := newEnv(t, guardWorker(&n, 0))
		n.Store(10)
		cycle(e, false)
		n.Store(0)
		if res := cycle(e, false); res.Held != "" || res.Counters["trashed"] != 10 {
			t.Fatalf("10-row database: %+v", res)
		}
		var m atomic.Int64
		e = newEnv(t, guardWorker(&m, 1))
		m.Store(30)
		cycle(e, false)
		m.Store(1)
		if res := cycle(e, false); res.Held != "" || res.Counters["trashed"] != 29 {
			t.Fatalf("MaxTrashFraction 1: %+v", res)
		}
	})
}
