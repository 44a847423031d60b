package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/schema"
)

type feed struct{ changes []synq.Change }

func (f *feed) execute(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
	c := f.changes
	f.changes = nil
	return synq.Result[struct{}]{Changes: c}, nil
}

func TestRelationsAcrossDatabasesIncludingLateRows(t *testing.T) {
	projectsFeed, tasksFeed := &feed{}, &feed{}
	w := synq.NewWorker(synq.WorkerConfig{Name: "pm"})
	projects := w.Database("projects", synq.DatabaseConfig{InitialTitle: "Projects", PrimaryKey: "Key", Schema: schema.Properties{
		"Key": schema.Title(),
	}})
	tasks := w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":     schema.Title(),
		"Project": schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"}),
	}})
	synq.AddSync(w, "projectsSync", synq.SyncConfig[struct{}]{Database: projects, Mode: synq.Incremental, Execute: projectsFeed.execute})
	synq.AddSync(w, "tasksSync", synq.SyncConfig[struct{}]{Database: tasks, Mode: synq.Incremental, Execute: tasksFeed.execute})
	e := newEnv(t, w)

	projectsFeed.changes = []synq.Change{synq.Upsert("p1", nil)}
	e.cycle("projectsSync")
	tasksFeed.changes = []synq.Change{
		synq.Upsert("t1", builder.Properties{"Project": builder.Relation("p1")}),
		synq.Upsert("t2", builder.Properties{"Project": builder.Relation("p1", "p2")}), // p2 arrives later
	}
	res := e.cycle("tasksSync")
	if res.Counters["unresolved"] != 1 { // p2, for t2
		t.Fatalf("counters %v, want one unresolved related key", res.Counters)
	}
	rel := func(db, key, prop string) []string {
		t.Helper()
		ids, _, _ := e.rdb.GetDatabase(context.Background(), db)
		var out []string
		err := e.notion.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
			if p.Properties["Key"].Text() == key {
				for _, r := range p.Properties[prop].Relation {
					out = append(out, r.ID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	p1 := e.rows("projects")["p1"]["_id"]
	if got := rel("tasks", "t1", "Project"); len(got) != 1 || !sameID(got[0], p1) {
		t.Fatalf("t1.Project = %v, want [%s]", got, p1)
	}
	if got := rel("tasks", "t2", "Project"); len(got) != 1 {
		t.Fatalf("t2.Project before p2 exists = %v, want only p1", got)
	}
	pending, _ := e.rdb.Waiters(context.Background(), "projects", []string{"p1", "p2"})
	if len(pending) != 1 || pending[0].Key != "t2" || pending[0].Target != "p2" {
		t.Fatalf("waiting = %+v, want t2's relation waiting for p2", pending)
	}
	// The two-way relation shows on the projects side.
	if got := rel("projects", "p1", "Tasks"); len(got) != 2 {
		t.Fatalf("p1.Tasks = %v, want both tasks (two-way relation)", got)
	}

	// p2 arrives: the pending relation is completed after projectsSync's page.
	projectsFeed.changes = []synq.Change{synq.Upsert("p2", nil)}
	res = e.cycle("projectsSync")
	if res.Counters["relations_completed"] != 1 {
		t.Fatalf("counters after p2 = %v, want one completed relation", res.Counters)
	}
	if got := rel("tasks", "t2", "Project"); len(got) != 2 {
		t.Fatalf("t2.Project after p2 = %v, want p1 and p2", got)
	}
	if n, _ := e.rdb.WaitLen(context.Background(), "projects"); n != 0 {
		t.Fatalf("%d keys still waited for after completion", n)
	}
}

func sameID(a, b string) bool {
	strip := func(s string) string {
		out := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] != '-' {
				out = append(out, s[i])
			}
		}
		return string(out)
	}
	return strip(a) == strip(b)
}

func TestWaitingRelationsCompleteLaterAndCostNothingMeanwhile(t *testing.T) {
	lw := newLinksWorld()
	e := newEnv(t, lw.w)
	ctx := context.Background()
	lw.linksF.add("l1", "t1")
	lw.linksF.add("l2", "t1", "t2")
	lw.linksF.add("l3", "t3")
	var l logs
	res := e.run(e.eng, "linksSync", l.logger())
	if res.Counters["created"] != 3 || res.Counters["unresolved"] != 4 {
		t.Fatalf("first links run: %v", res.Counters)
	}
	if n := l.count("related rows are not written yet"); n != 1 {
		t.Fatalf("%d log lines about waiting relations for one page, want 1:\n%s", n, l.all())
	}
	// The same rows again: their only difference from Notion is the
	// missing relation, which costs no write.
	lw.linksF.add("l1", "t1")
	lw.linksF.add("l2", "t1", "t2")
	lw.linksF.add("l3", "t3")
	e.emu.ResetStats()
	res = e.cycle("linksSync")
	if total, routes := e.calls(); total != 0 || res.Counters["unchanged"] != 3 {
		t.Fatalf("unchanged rows with waiting relations: %d calls %v, counters %v", total, routes, res.Counters)
	}
	// t1 and t2 arrive in a later run of another sync: l1 and l2 are
	// completed, one update each.
	lw.targetsF.push(synq.Upsert("t1", nil), synq.Upsert("t2", nil))
	e.emu.ResetStats()
	res = e.cycle("targetsSync")
	if res.Counters["relations_completed"] != 2 {
		t.Fatalf("targets run: %v", res.Counters)
	}
	if _, routes := e.calls(); routes["PATCH /v1/pages/{id}"] != 2 {
		t.Fatalf("routes %v, want 2 updates", routes)
	}
	if got := e.related("links", "l2", "Target", "targets"); !slices.Equal(got, []string{"t1", "t2"}) {
		t.Fatalf("l2.Target = %v", got)
	}
	if got := e.related("links", "l1", "Target", "targets"); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("l1.Target = %v", got)
	}
	if got := e.related("links", "l3", "Target", "targets"); len(got) != 0 {
		t.Fatalf("l3.Target = %v", got)
	}
	if n, _ := e.rdb.WaitLen(ctx, "targets"); n != 1 {
		t.Fatalf("%d keys waited for, want 1 (t3)", n)
	}
	// A row rewritten without the missing key leaves a stale waiter that
	// completes nothing when the key arrives.
	lw.linksF.push(synq.Upsert("l3", builder.Properties{"Note": builder.RichText("no longer waits"), "Target": builder.Relation()}))
	e.cycle("linksSync")
	lw.targetsF.push(synq.Upsert("t3", nil))
	res = e.cycle("targetsSync")
	if res.Counters["relations_completed"] != 0 {
		t.Fatalf("a stale waiter completed a relation: %v", res.Counters)
	}
	if got := e.related("links", "l3", "Target", "targets"); len(got) != 0 {
		t.Fatalf("l3.Target = %v", got)
	}
	if n, _ := e.rdb.WaitLen(ctx, "targets"); n != 0 {
		t.Fatalf("%d keys still waited for", n)
	}
}

func TestWaitingRelationCompletesInALaterPageOfTheSameRun(t *testing.T) {
	lw := newLinksWorld()
	e := newEnv(t, lw.w)
	lw.linksF.add("l0", "late")
	for i := 1; i < 100; i++ {
		lw.linksF.add(key(i))
	}
	// Page 1 writes the target row into the other database.
	lw.linksF.push(synq.Upsert("late", nil).In(lw.targets))
	res := e.cycle("linksSync")
	if res.Pages != 2 || res.Counters["relations_completed"] != 1 || res.Counters["unresolved"] != 1 {
		t.Fatalf("run: %+v", res)
	}
	if got := e.related("links", "l0", "Target", "targets"); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("l0.Target = %v", got)
	}
}

func TestWaitingRelationsAreGivenUpAfterTheTTL(t *testing.T) {
	lw := newLinksWorld()
	e := newEnv(t, lw.w)
	ctx := context.Background()
	// The first run's executor waits an hour, the second's a second (a
	// slow first run must not expire its own waiters).
	eng := e.engineWith(func(c *engine.Config) { c.PendingTTL = time.Second })
	for i := range 150 {
		lw.linksF.add(key(i), "never-"+strconv.Itoa(i))
	}
	var l logs
	res := e.run(e.eng, "linksSync", l.logger())
	if res.Pages != 2 || res.Counters["unresolved"] != 150 || res.Counters["relations_dropped"] != 0 {
		t.Fatalf("first run: %+v", res)
	}
	if lines := strings.Count(l.all(), "\n") + 1; lines > 2 {
		t.Fatalf("%d log lines for 150 rows on 2 pages, want one a page:\n%s", lines, l.all())
	}
	time.Sleep(1100 * time.Millisecond)
	var l2 logs
	res = e.run(eng, "linksSync", l2.logger()) // an empty run ends: the waiters expire
	if res.Counters["relations_dropped"] != 150 {
		t.Fatalf("second run: %+v", res)
	}
	if n := l2.count("gave up on 150 relation values"); n != 1 || strings.Count(l2.all(), "\n") != 0 {
		t.Fatalf("want one warning line:\n%s", l2.all())
	}
	if n, _ := e.rdb.WaitLen(ctx, "targets"); n != 0 {
		t.Fatalf("%d keys still waited for after the TTL", n)
	}
	// A target that arrives now completes nothing (given up), and costs
	// no update.
	lw.targetsF.push(synq.Upsert("never-1", nil))
	e.emu.ResetStats()
	if res := e.cycle("targetsSync"); res.Counters["relations_completed"] != 0 {
		t.Fatalf("targets run: %v", res.Counters)
	}
}

// A waiter whose related row arrived without its writer seeing the waiter
// (the row was written between our lookup and our waiter) is completed at
// expiry instead of being given up.
func TestExpiryCompletesWaitersWhoseRowArrived(t *testing.T) {
	lw := newLinksWorld()
	e := newEnv(t, lw.w)
	eng := e.engineWith(func(c *engine.Config) { c.PendingTTL = time.Second })
	lw.linksF.add("l1", "t1")
	e.run(e.eng, "linksSync", quiet)
	// t1 is written behind synq's back of the waiters: straight into the
	// index, as a writer that raced us would have.
	lw.targetsF.push(synq.Upsert("t1", nil))
	hidden := e.newEngine()
	ctx := context.Background()
	ws, _ := e.rdb.Waiters(ctx, "targets", []string{"t1"})
	if err := e.rdb.RemoveWaiters(ctx, "targets", ws); err != nil {
		t.Fatal(err)
	}
	e.run(hidden, "targetsSync", quiet)
	if err := e.rdb.AddWaiter(ctx, "targets", ws[0], []string{"t1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	res := e.run(eng, "linksSync", quiet)
	if res.Counters["relations_completed"] != 1 || res.Counters["relations_dropped"] != 0 {
		t.Fatalf("expiry run: %v", res.Counters)
	}
	if got := e.related("links", "l1", "Target", "targets"); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("l1.Target = %v", got)
	}
}

func TestOldPendingRelationsAreMigrated(t *testing.T) {
	lw := newLinksWorld()
	e := newEnv(t, lw.w)
	ctx := context.Background()
	lw.linksF.add("l1", "t1")
	e.cycle("linksSync")
	lw.targetsF.push(synq.Upsert("t1", nil))
	e.cycle("targetsSync") // completes l1 through the new waiters
	// Make links look like an old version's: JSON index, pending hash.
	c := e.redis.Client()
	en, _ := e.rdb.IndexGet(ctx, "links", []string{"l1"})
	c.HSet(ctx, rdb.LegacyIndexKey("links"), "l1", fmt.Sprintf(`{"p":%q}`, en["l1"].PageID))
	c.HSet(ctx, rdb.LegacyPendingKey("links"), "l1\x00Target", `{"key":"l1","property":"Target","related":["t1"]}`)
	if err := e.rdb.IndexDrop(ctx, "links"); err != nil {
		t.Fatal(err)
	}
	// Forget the relation in Notion, as the old version never completed it.
	if _, err := e.notion.UpdatePage(ctx, en["l1"].PageID, notion.UpdatePageRequest{Properties: map[string]notion.PropertyValue{"Target": notion.RelationValue()}}); err != nil {
		t.Fatal(err)
	}
	e.cycle("linksSync") // an empty run: its lookups migrate
	lw.linksF.add("l2")
	res := e.cycle("linksSync")
	if res.Counters["created"] != 1 {
		t.Fatalf("counters %v", res.Counters)
	}
	if got := e.related("links", "l1", "Target", "targets"); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("l1.Target after migration = %v", got)
	}
	if n, _ := c.Exists(ctx, rdb.LegacyPendingKey("links"), rdb.LegacyIndexKey("links")).Result(); n != 0 {
		t.Fatal("old keys left")
	}
}
