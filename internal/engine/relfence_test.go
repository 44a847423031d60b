package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/holdproxy"
	"github.com/synqhq/synq/schema"
)

// relFence is two databases, tasks relating to projects, each written by
// its own sync, with every Notion request through a hold proxy whose
// match the test picks.
type relFence struct {
	*env
	projects, tasks *shotFeed
	proxy           *holdproxy.Proxy
}

func newRelFence(t *testing.T, match func(*http.Request, []byte) bool) *relFence {
	f := &relFence{projects: &shotFeed{}, tasks: &shotFeed{}}
	w := synq.NewWorker(synq.WorkerConfig{Name: "relfence"})
	projects := w.Database("projects", synq.DatabaseConfig{InitialTitle: "Projects", PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	tasks := w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":     schema.Title(),
		"Note":    schema.RichText(),
		"Project": schema.Relation("projects", schema.RelationConfig{}),
	}})
	synq.AddSync(w, "projectsSync", synq.SyncConfig[feedState]{Database: projects, Mode: synq.Incremental, Schedule: "manual", Execute: f.projects.execute})
	synq.AddSync(w, "tasksSync", synq.SyncConfig[feedState]{Database: tasks, Mode: synq.Incremental, Schedule: "manual", Execute: f.tasks.execute})
	f.env = newEnvWith(t, w, envOptions{
		notion: func(c *notion.Config) {
			f.proxy = holdproxy.New(t, c.BaseURL, match)
			c.BaseURL = f.proxy.URL()
		},
		engine: func(c *engine.Config) { c.DoubtFirst = 50 * time.Millisecond },
	})
	if err := f.eng.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func task(key, note string, when time.Time, projects ...string) synq.Change {
	return synq.Upsert(key, builder.Properties{"Note": builder.RichText(note), "Project": builder.Relation(projects...)}).UpdatedAt(when)
}

// related returns the relation of key's task row: how many pages it names,
// and its note.
func (f *relFence) related(key string) (int, string) {
	f.t.Helper()
	ids, _, err := f.rdb.GetDatabase(context.Background(), "tasks")
	if err != nil {
		f.t.Fatal(err)
	}
	n, note, rows := 0, "", 0
	err = f.notion.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		if p.Properties["Key"].Text() == key {
			rows++
			n, note = len(p.Properties["Project"].Relation), p.Properties["Note"].Text()
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if rows != 1 {
		f.t.Fatalf("task %q has %d rows, want 1", key, rows)
	}
	return n, note
}

// setUp writes project p1 and task t1 relating to p1 and p2; p2 is not
// written yet, so t1's relation waits for it.
func (f *relFence) setUp(b *engine.Engine) {
	f.t.Helper()
	f.projects.set(synq.Upsert("p1", nil))
	f.run(b, "projectsSync", quiet)
	f.tasks.set(task("t1", "old", at(9), "p1", "p2"))
	f.run(b, "tasksSync", quiet)
	if n, _ := f.related("t1"); n != 1 {
		f.t.Fatalf("t1 relates to %d projects before p2 exists, want 1", n)
	}
}

// A relation completion whose request is already on its way when its
// writer stalls: executor A writes p2 and sends t1's completed relation
// (p1, p2); the request is held, and A's claim on t1 runs out while A is
// frozen. Executor B writes t1 anew (relating to p1 only). Then A's
// request reaches Notion: an old value over B's. The completion went out
// under t1's claim, so B found the claim's fencing record (a write of
// another writer may still land), left the key in doubt, and a doubt
// check sends B's value again: t1 ends relating to p1 only.
func TestRelationCompletionStalledInFlightIsRepaired(t *testing.T) {
	f := newRelFence(t, func(r *http.Request, body []byte) bool {
		return r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/v1/pages/") && bytes.Contains(body, []byte(`"Project"`))
	})
	ctx := context.Background()
	b := f.newEngine()
	// A's claim never runs out by itself during the test: the test makes
	// it run out, as a frozen VM's would.
	a := f.engineWith(func(c *engine.Config) { c.ClaimTTL = time.Minute })
	f.setUp(b)

	f.projects.set(synq.Upsert("p2", nil))
	aDone := make(chan engine.CycleResult, 1)
	go func() {
		res, err := a.RunCycle(ctx, "projectsSync", "a-run", quiet)
		if err != nil {
			t.Errorf("A's run: %v", err)
		}
		aDone <- res
	}()
	select {
	case <-f.proxy.Held():
	case <-time.After(30 * time.Second):
		t.Fatal("A's relation completion never reached Notion")
	}
	// A is frozen past its claim on t1: the claim expires.
	if err := f.redis.Client().Del(ctx, rdb.ClaimKey("tasks", "t1")).Err(); err != nil {
		t.Fatal(err)
	}
	// B writes t1 anew: it relates to p1 only.
	f.tasks.set(task("t1", "new", at(11), "p1"))
	f.run(b, "tasksSync", quiet)
	if n, note := f.related("t1"); n != 1 || note != "new" {
		t.Fatalf("after B's write t1 relates to %d projects with note %q, want 1 and %q", n, note, "new")
	}
	// A wakes up; its request reaches Notion.
	f.proxy.Release()
	select {
	case <-f.proxy.Landed():
	case <-time.After(30 * time.Second):
		t.Fatal("A's held request never landed")
	}
	select {
	case <-aDone:
	case <-time.After(30 * time.Second):
		t.Fatal("A's run never ended")
	}
	if n, _ := f.related("t1"); n != 2 {
		t.Fatalf("after A's late request t1 relates to %d projects: the scenario did not happen", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := f.eng.CheckDoubts(ctx); err != nil {
			t.Fatal(err)
		}
		n, note := f.related("t1")
		if n == 1 && note == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t1 relates to %d projects with note %q, want B's newer value (p1 only, %q): A's late relation completion stayed over it", n, note, "new")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A relation completion that stalls before it sends: it waits for the
// row's claim, held by another writer, and reads the row again under it;
// that writer rewrote the row meanwhile, so the completion (an old value)
// is never sent and its waiter is forgotten.
func TestRelationCompletionRereadsTheRowUnderItsClaim(t *testing.T) {
	f := newRelFence(t, func(*http.Request, []byte) bool { return false })
	ctx := context.Background()
	f.setUp(f.eng)

	// Another writer holds t1's claim.
	st, err := f.rdb.ClaimRow(ctx, "tasks", "t1", "another-writer", time.Minute, false)
	if err != nil || !st.Got {
		t.Fatalf("claim t1: %+v %v", st, err)
	}
	f.projects.set(synq.Upsert("p2", nil))
	done := make(chan engine.CycleResult, 1)
	a := f.newEngine()
	go func() {
		res, err := a.RunCycle(ctx, "projectsSync", "a-run", quiet)
		if err != nil {
			t.Errorf("A's run: %v", err)
		}
		done <- res
	}()
	// Let A reach t1's claim and wait for it.
	time.Sleep(300 * time.Millisecond)
	if n, _ := f.related("t1"); n != 1 {
		t.Fatalf("t1 relates to %d projects while another writer holds its claim, want 1: the completion was written outside the claim", n)
	}
	// That writer rewrites t1 (its new content relates to p1 only, already
	// written) and commits.
	next := st.Entry
	next.Hash = "a-newer-content"
	res, err := f.rdb.CommitRow(ctx, "tasks", "t1", st.RowState, &next, "another-writer", rdb.BodyKeep, 0, nil)
	if err != nil || !res.OK {
		t.Fatalf("commit t1: %+v %v", res, err)
	}
	var r engine.CycleResult
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("A's run never ended")
	}
	if n, _ := f.related("t1"); n != 1 {
		t.Fatalf("t1 relates to %d projects, want 1: a completion of the old content was sent after the row was rewritten", n)
	}
	if r.Counters["relations_completed"] != 0 {
		t.Errorf("counters %v, want no relation completed", r.Counters)
	}
	if ws, _ := f.rdb.Waiters(ctx, "projects", []string{"p2"}); len(ws) != 0 {
		t.Errorf("waiters %+v, want the stale one forgotten", ws)
	}
}

// A relation completed while the row is in doubt: the row's writer took
// the key over from a writer that never finished, so a doubt check sends
// its write (relating to p1 only: p2 was not written yet) again while the
// index names it. The completion, made since, must not be undone by it:
// the doubt's stored write gains the completed relation.
func TestDoubtCheckKeepsACompletedRelation(t *testing.T) {
	f := newRelFence(t, func(*http.Request, []byte) bool { return false })
	ctx := context.Background()
	f.projects.set(synq.Upsert("p1", nil))
	f.run(f.eng, "projectsSync", quiet)
	f.tasks.set(task("t1", "old", at(9)))
	f.run(f.eng, "tasksSync", quiet)
	// The next writer of t1 finds the fencing record of one that never
	// finished: its write is left in doubt.
	if err := f.redis.Client().HSet(ctx, rdb.HeldKey("tasks"), "t1", "a-writer-that-came-and-went").Err(); err != nil {
		t.Fatal(err)
	}
	f.tasks.set(task("t1", "new", at(10), "p1", "p2"))
	f.run(f.eng, "tasksSync", quiet)
	if ks, _ := f.rdb.Doubts(ctx, "tasks"); len(ks) != 1 {
		t.Fatalf("doubts %v, want t1's", ks)
	}
	f.projects.set(synq.Upsert("p2", nil))
	if r := f.run(f.eng, "projectsSync", quiet); r.Counters["relations_completed"] != 1 {
		t.Fatalf("counters %v, want t1's relation completed", r.Counters)
	}
	checked := 0
	deadline := time.Now().Add(20 * time.Second)
	for checked < 2 && time.Now().Before(deadline) {
		n, err := f.eng.CheckDoubts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checked += n
		time.Sleep(50 * time.Millisecond)
	}
	if checked < 2 {
		t.Fatalf("%d doubt checks ran, want 2", checked)
	}
	if n, note := f.related("t1"); n != 2 || note != "new" {
		t.Fatalf("t1 relates to %d projects with note %q after the doubt checks, want 2 and %q: a check undid the completed relation", n, note, "new")
	}
}
