package synqtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/schema"
)

type state struct {
	N int `json:"n"`
}

// worker declares projects and tasks (a task relates to its project, two
// ways) and one sync per database writing what rows returns for page n;
// a nil rows function writes nothing.
type fixture struct {
	projects, tasks func(n int) ([]synq.Change, bool, error)
	mode            synq.Mode
}

func (f *fixture) worker() *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "synqtest"})
	projects := w.Database("projects", synq.DatabaseConfig{InitialTitle: "Projects", PrimaryKey: "ID", Schema: schema.Properties{
		"ID":    schema.Title(),
		"Stage": schema.Status(schema.Options("planned", "active", "done")),
		"Owner": schema.People(),
	}})
	tasks := w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "Task", Schema: schema.Properties{
		"Task":    schema.RichText(),
		"Title":   schema.Title(),
		"Project": schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"}),
		"Points":  schema.Number(),
		"Done":    schema.Checkbox(),
	}})
	add := func(key string, db *synq.Database, rows func(int) ([]synq.Change, bool, error)) {
		synq.AddSync(w, key, synq.SyncConfig[state]{Database: db, Mode: f.mode, Schedule: "manual", MaxAttempts: 3,
			Execute: func(ctx context.Context, s *state) (synq.Result[state], error) {
				if rows == nil {
					return synq.Result[state]{}, nil
				}
				changes, more, err := rows(s.N)
				if err != nil {
					return synq.Result[state]{}, err
				}
				return synq.Result[state]{Changes: changes, HasMore: more, NextState: &state{N: s.N + 1}}, nil
			}})
	}
	add("projectsSync", projects, f.projects)
	add("tasksSync", tasks, f.tasks)
	return w
}

func task(key, title, project string, points float64) synq.Change {
	props := builder.Properties{"Title": builder.Title(title), "Points": builder.Number(points)}
	if project != "" {
		props["Project"] = builder.Relation(project)
	}
	return synq.Upsert(key, props)
}

// fatalTB is a TB whose Fatalf ends the calling goroutine's function with
// a panic that catch recovers, to test what fails the test.
type fatalTB struct {
	testing.TB
}

type fatal string

func (f fatalTB) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }

func catch(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			m, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			msg = string(m)
		}
	}()
	f()
	return ""
}

func TestExecute(t *testing.T) {
	f := &fixture{tasks: func(n int) ([]synq.Change, bool, error) {
		return []synq.Change{
			task("t1", "Write docs", "p1", 3).Content("# Docs\n\nfor **everyone**").WithIcon("📝"),
			synq.Delete("t0"),
		}, n == 0, nil
	}}
	page := Execute(t, f.worker(), "tasksSync", &state{N: 0})
	if !page.HasMore || page.NextState == nil || page.NextState.N != 1 || !reflect.DeepEqual(page.Keys(), []string{"t1", "t0"}) {
		t.Fatalf("page = %+v", page)
	}
	c, ok := page.Change("t1")
	if !ok || c.Database != "tasks" || c.Icon != "📝" || c.Content == nil || *c.Content != "# Docs\n\nfor **everyone**" {
		t.Fatalf("change t1 = %+v", c)
	}
	// The values as written: the primary key filled in from the key.
	want := map[string]any{"Task": "t1", "Title": "Write docs", "Project": []string{"p1"}, "Points": 3.0}
	if !reflect.DeepEqual(c.Properties, want) {
		t.Errorf("properties %#v, want %#v", c.Properties, want)
	}
	if d, _ := page.Change("t0"); !d.Delete || d.Properties != nil {
		t.Errorf("delete = %+v", d)
	}
	// A nil state is the zero state.
	if p := Execute[state](t, f.worker(), "tasksSync", nil); p.NextState.N != 1 {
		t.Errorf("from a nil state: next %+v", p.NextState)
	}
}

// Execute checks the changes with the engine's validation: values
// against the schema, Notion's limits, the page content.
func TestTryExecuteValidates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change synq.Change
		want   string
	}{
		{"wrong type", synq.Upsert("t1", builder.Properties{"Points": builder.RichText("three")}), `property "Points": is a number property but the value is a rich_text value`},
		{"undeclared property", synq.Upsert("t1", builder.Properties{"Colour": builder.RichText("red")}), `property "Colour": not a property of the database`},
		{"text over Notion's limit", synq.Upsert("t1", builder.Properties{"Title": builder.Title(strings.Repeat("x", 200_001))}), "Notion allows 100 items"},
		{"page content", synq.Upsert("t1", nil).Content("| a |\n|" + strings.Repeat("-|", 101) + "\n|" + strings.Repeat(" x |", 101)), "page content (Content)"},
		{"empty key", synq.Upsert("", nil), "empty key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{tasks: func(int) ([]synq.Change, bool, error) { return []synq.Change{tc.change}, false, nil }}
			_, err := TryExecute(t, f.worker(), "tasksSync", &state{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			var p interface{ Permanent() bool }
			if !errors.As(err, &p) || !p.Permanent() {
				t.Errorf("error %v is not permanent: an executor would retry it", err)
			}
		})
	}
	boom := errors.New("upstream down")
	f := &fixture{tasks: func(int) ([]synq.Change, bool, error) { return nil, false, boom }}
	if _, err := TryExecute(t, f.worker(), "tasksSync", &state{}); !errors.Is(err, boom) {
		t.Errorf("Execute's error: got %v", err)
	}
}

// Mistakes of the test itself fail it, naming what to fix.
func TestMisuseFails(t *testing.T) {
	f := &fixture{}
	ft := fatalTB{t}
	for _, tc := range []struct {
		name string
		call func()
		want string
	}{
		{"undeclared sync", func() { Execute(ft, f.worker(), "nope", &state{}) }, `sync "nope" is not declared by worker "synqtest" (declared: [projectsSync tasksSync])`},
		{"state of another type", func() { Execute(ft, f.worker(), "tasksSync", &struct{ X int }{}) }, "has state type synqtest.state"},
		{"invalid declarations", func() {
			w := synq.NewWorker(synq.WorkerConfig{})
			w.Database("x", synq.DatabaseConfig{})
			Execute(ft, w, "tasksSync", &state{})
		}, "InitialTitle is empty"},
		{"nil worker", func() { NewEnv(ft, nil) }, "the worker is nil"},
	} {
		if got := catch(tc.call); !strings.Contains(got, tc.want) {
			t.Errorf("%s: failure %q, want one saying %q", tc.name, got, tc.want)
		}
	}
}

// Without redis-server, Run fails the test with how to install it.
func TestRunWithoutRedisServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("REDIS_SERVER_BIN", "")
	got := catch(func() { Run(fatalTB{t}, (&fixture{}).worker(), "tasksSync") })
	if !strings.Contains(got, "redis-server not found") || !strings.Contains(got, "apt-get install redis-server") {
		t.Fatalf("failure %q, want the install hint", got)
	}
}

// Relations resolve whichever sync runs first; the rows show related rows
// by key, people by email, a two-way relation on both sides.
func TestRunRelations(t *testing.T) {
	f := &fixture{
		projects: func(int) ([]synq.Change, bool, error) {
			return []synq.Change{synq.Upsert("p1", builder.Properties{"Stage": builder.Status("active"), "Owner": builder.People("ada@example.com")})}, false, nil
		},
		tasks: func(n int) ([]synq.Change, bool, error) {
			if n == 0 {
				return []synq.Change{task("t1", "Write docs", "p1", 3)}, true, nil
			}
			return []synq.Change{task("t2", "Ship", "p1", 5).Cover("https://img.example/c.png")}, false, nil
		},
	}
	env := NewEnv(t, f.worker())
	res := env.Run("tasksSync")
	if res.Pages != 2 || res.Counts.Created != 2 || res.Counts.Unresolved != 2 {
		t.Fatalf("tasks run: pages %d, counts %+v", res.Pages, res.Counts)
	}
	if got := res.Rows["t1"].Properties["Project"]; !reflect.DeepEqual(got, []string{}) {
		t.Fatalf("t1's project before p1 exists: %#v", got)
	}
	res = env.Run("projectsSync")
	if res.Counts.Created != 1 || res.Counts.RelationsCompleted != 2 {
		t.Fatalf("projects run: counts %+v", res.Counts)
	}
	// The two-way relation's other side ("Tasks") is not in the schema:
	// rows hold the declared properties only.
	want := map[string]any{"ID": "p1", "Stage": "active", "Owner": []string{"ada@example.com"}}
	if p1 := res.Rows["p1"].Properties; !reflect.DeepEqual(p1, want) {
		t.Errorf("p1 = %#v, want %#v", p1, want)
	}
	tasks := res.Databases["tasks"]
	if !reflect.DeepEqual(tasks.Keys(), []string{"t1", "t2"}) {
		t.Fatalf("tasks %v", tasks.Keys())
	}
	want = map[string]any{"Task": "t2", "Title": "Ship", "Project": []string{"p1"}, "Points": 5.0, "Done": false}
	if got := tasks["t2"]; !reflect.DeepEqual(got.Properties, want) || got.Cover != "https://img.example/c.png" {
		t.Errorf("t2 = %#v, want properties %#v", got, want)
	}
	if got := env.Rows("tasks")["t1"].Properties["Project"]; !reflect.DeepEqual(got, []string{"p1"}) {
		t.Errorf("t1's project after p1 was written: %#v", got)
	}
}

// A replace sync's rows that leave the upstream are trashed at the end of
// the run; a run that would trash most rows is held by the deletion guard
// unless AllowTrash.
func TestRunReplace(t *testing.T) {
	var keys atomic.Int64
	keys.Store(24)
	f := &fixture{tasks: func(int) ([]synq.Change, bool, error) {
		var out []synq.Change
		for i := range int(keys.Load()) {
			out = append(out, task(fmt.Sprintf("t%02d", i), "task", "", float64(i)))
		}
		return out, false, nil
	}}
	env := NewEnv(t, f.worker())
	if res := env.Run("tasksSync", Runs(2)); res.Counts.Unchanged != 24 || len(res.Rows) != 24 || res.State != nil {
		t.Fatalf("second run: counts %+v, %d rows, state %s", res.Counts, len(res.Rows), res.State)
	}
	keys.Store(20)
	if res := env.Run("tasksSync"); res.Counts.Trashed != 4 || len(res.Rows) != 20 || res.Held != "" {
		t.Fatalf("run without 4 keys: counts %+v, %d rows, held %q", res.Counts, len(res.Rows), res.Held)
	}
	keys.Store(2)
	res := env.Run("tasksSync")
	if res.Counts.Trashed != 0 || len(res.Rows) != 20 || !strings.Contains(res.Held, "deletion guard") {
		t.Fatalf("run keeping 2 of 20: counts %+v, %d rows, held %q", res.Counts, len(res.Rows), res.Held)
	}
	if res := env.Run("tasksSync", AllowTrash()); res.Counts.Trashed != 18 || len(res.Rows) != 2 {
		t.Fatalf("run with AllowTrash: counts %+v, %d rows", res.Counts, len(res.Rows))
	}
}

// A failing page is retried up to MaxAttempts; an error that retrying
// cannot fix fails the run at once; committed pages stay committed.
func TestRunRetries(t *testing.T) {
	var calls atomic.Int64
	fails := 2
	f := &fixture{mode: synq.Incremental, tasks: func(n int) ([]synq.Change, bool, error) {
		calls.Add(1)
		if n == 1 && fails > 0 {
			fails--
			return nil, false, &synq.RateLimitError{RetryAfter: time.Hour}
		}
		if n == 3 {
			return []synq.Change{synq.Upsert("bad", builder.Properties{"Points": builder.Select("x")})}, false, nil
		}
		return []synq.Change{task(fmt.Sprintf("t%d", n), "x", "", float64(n))}, n < 2, nil
	}}
	env := NewEnv(t, f.worker())
	res := env.Run("tasksSync")
	if calls.Load() != 5 || res.Pages != 3 || len(res.Rows) != 3 {
		t.Fatalf("%d calls, %d pages, rows %v", calls.Load(), res.Pages, res.Rows.Keys())
	}
	var s state
	if !env.State("tasksSync", &s) || s.N != 3 {
		t.Fatalf("state after the run: %+v", s)
	}
	calls.Store(0)
	_, err := env.TryRun("tasksSync")
	if !engine.IsValidation(err) || calls.Load() != 1 || !strings.Contains(err.Error(), "retrying cannot fix") {
		t.Fatalf("invalid change: %d calls, err %v", calls.Load(), err)
	}
	fails = 5
	calls.Store(0)
	_, err = env.TryRun("tasksSync", InitialState(state{N: 1}))
	var rl *synq.RateLimitError
	if !errors.As(err, &rl) || calls.Load() != 3 || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("failing page: %d calls, err %v", calls.Load(), err)
	}
}

// Under Notion faults the rows come out right, each written once.
func TestRunUnderFaults(t *testing.T) {
	f := &fixture{tasks: func(n int) ([]synq.Change, bool, error) {
		var out []synq.Change
		for i := range 10 {
			out = append(out, task(fmt.Sprintf("t%d-%d", n, i), "task", "", float64(i)).Content("- a\n- b"))
		}
		return out, n < 2, nil
	}}
	env := NewEnv(t, f.worker())
	res := env.Run("tasksSync", NotionFaults("500=0.1,503=0.05,applied503=0.1,applied500=0.05,seed=11"))
	faults := env.emu.Stats().Faults
	var n int64
	for _, c := range faults {
		n += c
	}
	if n == 0 {
		t.Fatalf("no fault injected: %v", faults)
	}
	if len(res.Rows) != 30 || res.Counts.Created != 30 {
		t.Fatalf("%d rows, counts %+v (faults %v)", len(res.Rows), res.Counts, faults)
	}
	for k, row := range res.Rows {
		if row.Content != "- a\n- b" {
			t.Errorf("%s: content %q", k, row.Content)
		}
	}
	// The faults were for that run only.
	before := env.emu.Stats().Faults
	env.Run("tasksSync")
	if after := env.emu.Stats().Faults; !reflect.DeepEqual(before, after) {
		t.Errorf("faults after the run: %v, then %v", before, after)
	}
}
