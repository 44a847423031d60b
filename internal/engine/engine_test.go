package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/schema"
)

// item is an upstream record.
type item struct {
	Body    string
	N       float64
	Updated time.Time
}

// source is a fake upstream API: a dataset served in pages, and a feed of
// incremental changes.
type source struct {
	mu       sync.Mutex
	items    map[string]item
	pageSize int
	failPage int // replace page that fails once (-1: none)
	failed   bool
	delta    []synq.Change
	calls    int
	// content, when set, gives each replace row's page body (Markdown).
	content func(key string) string
}

func newSource(n int) *source {
	s := &source{items: map[string]item{}, pageSize: 100, failPage: -1}
	for i := range n {
		s.items[key(i)] = item{Body: "body " + strconv.Itoa(i), N: float64(i)}
	}
	return s
}

func key(i int) string { return fmt.Sprintf("k%05d", i) }

type cursor struct {
	Offset int `json:"offset"`
}

func (s *source) page(ctx context.Context, c *cursor) (synq.Result[cursor], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	page := c.Offset / s.pageSize
	if page == s.failPage && !s.failed {
		s.failed = true
		return synq.Result[cursor]{}, errors.New("upstream 502")
	}
	keys := sortedKeys(s.items)
	end := min(len(keys), c.Offset+s.pageSize)
	res := synq.Result[cursor]{HasMore: end < len(keys), NextState: &cursor{Offset: end}}
	for _, k := range keys[c.Offset:end] {
		it := s.items[k]
		ch := synq.Upsert(k, builder.Properties{"Body": builder.RichText(it.Body), "N": builder.Number(it.N)})
		if !it.Updated.IsZero() {
			ch = ch.UpdatedAt(it.Updated)
		}
		if s.content != nil {
			ch = ch.Content(s.content(k))
		}
		res.Changes = append(res.Changes, ch)
	}
	return res, nil
}

type deltaState struct {
	Seq int `json:"seq"`
}

func (s *source) deltaPage(ctx context.Context, st *deltaState) (synq.Result[deltaState], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changes := s.delta
	s.delta = nil
	return synq.Result[deltaState]{Changes: changes, NextState: &deltaState{Seq: st.Seq + len(changes)}}, nil
}

func itemsWorker(src *source) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "test"})
	items := w.Database("items", synq.DatabaseConfig{
		InitialTitle: "Items",
		PrimaryKey:   "ID",
		Schema: schema.Properties{
			"ID":    schema.Title(),
			"Body":  schema.RichText(),
			"N":     schema.Number(),
			"Tag":   schema.Select(schema.Options("a", "b")...),
			"Owner": schema.People(),
		},
	})
	synq.AddSync(w, "itemsBackfill", synq.SyncConfig[cursor]{Database: items, Schedule: "manual", Execute: src.page})
	synq.AddSync(w, "itemsDelta", synq.SyncConfig[deltaState]{Database: items, Mode: synq.Incremental, Schedule: "5m", Execute: src.deltaPage})
	return w
}

func TestReplaceCyclesAddChangeRemove(t *testing.T) {
	src := newSource(250)
	e := newEnv(t, itemsWorker(src))

	res := e.cycle("itemsBackfill")
	if res.Pages != 3 || res.Counters["created"] != 250 {
		t.Fatalf("first cycle: %+v", res)
	}
	rows := e.rows("items")
	if len(rows) != 250 || rows["k00007"]["Body"] != "body 7" {
		t.Fatalf("after first cycle: %d rows, k00007 = %v", len(rows), rows["k00007"])
	}

	// Change 3, remove 5, add 2.
	src.mu.Lock()
	for _, i := range []int{1, 100, 249} {
		src.items[key(i)] = item{Body: "changed " + strconv.Itoa(i), N: -1}
	}
	for i := 10; i < 15; i++ {
		delete(src.items, key(i))
	}
	src.items["new1"] = item{Body: "new one"}
	src.items["new2"] = item{Body: "new two"}
	src.mu.Unlock()
	e.emu.ResetStats()
	res = e.cycle("itemsBackfill")
	c := res.Counters
	if c["created"] != 2 || c["updated"] != 3 || c["trashed"] != 5 || c["unchanged"] != 242 {
		t.Fatalf("second cycle counters = %v", c)
	}
	total, routes := e.calls()
	if want := int64(2 + 3 + 5); total != want {
		t.Errorf("second cycle made %d Notion calls (%v), want %d: one per created, updated or trashed row", total, routes, want)
	}
	rows = e.rows("items")
	if len(rows) != 247 || rows["k00100"]["Body"] != "changed 100" || rows["new2"]["Body"] != "new two" {
		t.Fatalf("after second cycle: %d rows, k00100 = %v", len(rows), rows["k00100"])
	}
	if _, ok := rows[key(12)]; ok {
		t.Fatal("a removed key is still live")
	}
	// The completed cycle reset the state: the next cycle starts over.
	st, err := e.rdb.GetSync(context.Background(), "itemsBackfill")
	if err != nil || st.State != nil {
		t.Fatalf("state after a completed cycle = %s, %v; want empty", st.State, err)
	}
	e.emu.ResetStats()
	res = e.cycle("itemsBackfill")
	if total, _ := e.calls(); total != 0 || res.Counters["unchanged"] != 247 {
		t.Fatalf("unchanged cycle: %d Notion calls, counters %v", total, res.Counters)
	}
}

func TestFailingPageDeletesNothingAndResumes(t *testing.T) {
	src := newSource(300)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")

	// Next cycle: the dataset shrinks and page 1 fails once.
	src.mu.Lock()
	for i := 200; i < 300; i++ {
		delete(src.items, key(i))
	}
	src.failPage = 1
	src.mu.Unlock()
	if _, err := e.tryCycle("itemsBackfill"); err == nil || !strings.Contains(err.Error(), "upstream 502") {
		t.Fatalf("cycle with a failing page: err = %v", err)
	}
	if n := len(e.rows("items")); n != 300 {
		t.Fatalf("a failed cycle trashed rows: %d live, want 300", n)
	}
	st, _ := e.rdb.GetSync(context.Background(), "itemsBackfill")
	if string(st.State) != `{"offset":100}` {
		t.Fatalf("state after the failure = %s, want the committed page 0's", st.State)
	}
	// The next run resumes from page 1 (the last, now that 200 items
	// remain), not from page 0, and sweeps at the end.
	before := src.calls
	res := e.cycle("itemsBackfill")
	if src.calls-before != 1 || res.Counters["trashed"] != 100 || res.Counters["unchanged"] != 100 {
		t.Fatalf("resumed cycle: %d Execute calls, counters %v; want 1 call, 100 unchanged and 100 trashed", src.calls-before, res.Counters)
	}
	if n := len(e.rows("items")); n != 200 {
		t.Fatalf("after the resumed cycle: %d rows, want 200", n)
	}
}

func TestIncrementalWithDeletesAndStale(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	up := func(k, body string, at time.Time) synq.Change {
		return synq.Upsert(k, builder.Properties{"Body": builder.RichText(body)}).UpdatedAt(at)
	}
	src.delta = []synq.Change{up("a", "a1", t0), up("b", "b1", t0), up("c", "c1", t0)}
	e.cycle("itemsDelta")
	src.delta = []synq.Change{up("a", "a2", t0.Add(time.Hour)), up("b", "b-old", t0.Add(-time.Hour)), synq.Delete("c"), synq.Delete("never-written")}
	res := e.cycle("itemsDelta")
	if c := res.Counters; c["updated"] != 1 || c["skipped"] != 1 || c["trashed"] != 1 {
		t.Fatalf("second delta counters = %v", c)
	}
	rows := e.rows("items")
	if len(rows) != 2 || rows["a"]["Body"] != "a2" || rows["b"]["Body"] != "b1" {
		t.Fatalf("rows = %v", rows)
	}
	st, _ := e.rdb.GetSync(context.Background(), "itemsDelta")
	if string(st.State) != `{"seq":7}` {
		t.Fatalf("incremental state = %s, want it kept across runs", st.State)
	}
	// Deleted then upserted again: a new row.
	src.delta = []synq.Change{up("c", "c again", t0.Add(2*time.Hour))}
	if res := e.cycle("itemsDelta"); res.Counters["created"] != 1 {
		t.Fatalf("re-created row counters = %v", res.Counters)
	}
}

func TestConcurrentSyncsNeverDuplicateRows(t *testing.T) {
	src := newSource(150)
	e := newEnv(t, itemsWorker(src))
	// The delta sends the same keys as the backfill, at the same time.
	src.mu.Lock()
	for _, k := range sortedKeys(src.items) {
		src.delta = append(src.delta, synq.Upsert(k, builder.Properties{"Body": builder.RichText("from delta")}))
	}
	src.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, s := range []string{"itemsBackfill", "itemsDelta"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng := e.newEngine() // another executor
			if _, err := eng.RunCycle(context.Background(), s, s+"-concurrent", quiet); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rows := e.rows("items"); len(rows) != 150 { // rows() fails on duplicate keys
		t.Fatalf("%d rows, want 150", len(rows))
	}
	if st := e.emu.Stats(); st.ByRoute["POST /v1/pages"] != 150 {
		t.Fatalf("%d creates for 150 keys: %v", st.ByRoute["POST /v1/pages"], st.ByRoute)
	}
}

func TestIndexRebuiltAfterRedisFlush(t *testing.T) {
	src := newSource(230)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")
	if err := e.redis.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	e.eng = e.newEngine() // a fresh executor: nothing cached in memory
	e.emu.ResetStats()
	res := e.cycle("itemsBackfill")
	_, routes := e.calls()
	if routes["POST /v1/databases"] != 0 {
		t.Fatalf("a second database was created after the flush: %v", routes)
	}
	if q := routes["POST /v1/data_sources/{id}/query"]; q != 3 {
		t.Errorf("index rebuild made %d queries for 230 rows, want 3 (100 rows a request)", q)
	}
	if routes["POST /v1/pages"] != 0 || res.Counters["created"] != 0 {
		t.Fatalf("rows were created again after the flush: %v, counters %v", routes, res.Counters)
	}
	if n := len(e.rows("items")); n != 230 {
		t.Fatalf("%d rows, want 230", n)
	}
	// The rebuild computed each row's content hash from Notion: no row
	// was written again.
	if routes["PATCH /v1/pages/{id}"] != 0 || res.Counters["updated"] != 0 || res.Counters["unchanged"] != 230 {
		t.Fatalf("the cycle after the rebuild wrote rows again: %v, counters %v", routes, res.Counters)
	}
	e.emu.ResetStats()
	e.cycle("itemsBackfill")
	if total, routes := e.calls(); total != 0 {
		t.Fatalf("cycle after the rebuild made %d calls: %v", total, routes)
	}
}

// After Redis lost its data, a replace cycle that changed a few rows
// upstream writes those rows only: the rebuilt index knows the content
// hash of every row from what Notion holds.
func TestRebuiltIndexWritesOnlyChangedRows(t *testing.T) {
	src := newSource(200)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")
	if err := e.redis.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	e.eng = e.newEngine()
	src.mu.Lock()
	for i := 0; i < 200; i += 50 {
		src.items[key(i)] = item{Body: "changed " + strconv.Itoa(i), N: float64(i)}
	}
	src.mu.Unlock()
	e.emu.ResetStats()
	res := e.cycle("itemsBackfill")
	_, routes := e.calls()
	if routes["PATCH /v1/pages/{id}"] != 4 || routes["POST /v1/pages"] != 0 || res.Counters["updated"] != 4 || res.Counters["unchanged"] != 196 {
		t.Fatalf("after the flush, 4 changed rows of 200: %v, counters %v; want 4 updates and nothing created", routes, res.Counters)
	}
	if got := e.rows("items")[key(50)]["Body"]; got != "changed 50" {
		t.Fatalf("k00050 Body %q", got)
	}
}

func TestValidationFailsPageAndWritesNothing(t *testing.T) {
	cases := []struct {
		props builder.Properties
		want  string
	}{
		{builder.Properties{"Nope": builder.RichText("x")}, `property "Nope": not a property`},
		{builder.Properties{"N": builder.RichText("x")}, `property "N": is a number property`},
		{builder.Properties{"Tag": builder.MultiSelect("a")}, `property "Tag": is a select property`},
		{builder.Properties{"Body": builder.RichText(strings.Repeat("x", 200001))}, `Notion allows 100 items`},
	}
	for _, tc := range cases {
		src := newSource(0)
		e := newEnv(t, itemsWorker(src))
		src.delta = []synq.Change{
			synq.Upsert("good", builder.Properties{"Body": builder.RichText("fine")}),
			synq.Upsert("bad", tc.props),
		}
		e.emu.ResetStats()
		_, err := e.tryCycle("itemsDelta")
		if err == nil || !engine.IsValidation(err) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), `sync "itemsDelta"`) || !strings.Contains(err.Error(), `key "bad"`) {
			t.Errorf("err = %v, want a validation error naming sync, key and %q", err, tc.want)
		}
		if st := e.emu.Stats(); st.ByRoute["POST /v1/pages"] != 0 || st.ByRoute["PATCH /v1/pages/{id}"] != 0 {
			t.Errorf("a page with an invalid row wrote rows: %v", st.ByRoute)
		}
	}
}

func TestPeopleResolvedByEmail(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	users, err := e.notion.AllUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var email, id string
	for _, u := range users {
		if u.Email() != "" {
			email, id = u.Email(), u.ID
			break
		}
	}
	if email == "" {
		t.Fatal("the emulator has no people")
	}
	src.delta = []synq.Change{synq.Upsert("p", builder.Properties{"Owner": builder.People(strings.ToUpper(email), "nobody@example.invalid")})}
	e.cycle("itemsDelta")
	ids, _, _ := e.rdb.GetDatabase(context.Background(), "items")
	list, err := e.notion.QueryDataSource(context.Background(), ids.DataSourceID, notion.QueryRequest{})
	if err != nil || len(list.Results) != 1 {
		t.Fatalf("query: %v", err)
	}
	people := list.Results[0].Properties["Owner"].People
	if len(people) != 1 || people[0].ID != id {
		t.Fatalf("Owner = %+v, want user %s", people, id)
	}
}

// A preview reads at most PreviewReadsMax updated rows; the others say so.
// People and dates read back as they were written.
func TestPreviewOldValuesAreCapped(t *testing.T) {
	src := newSource(engine.PreviewReadsMax + 5)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")
	src.mu.Lock()
	for k, it := range src.items {
		it.Body += " (edited)"
		src.items[k] = it
	}
	src.mu.Unlock()
	e.emu.ResetStats()
	p, err := e.eng.Preview(context.Background(), "itemsBackfill", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	read, capped := 0, 0
	for _, c := range p.Changes {
		switch {
		case c.Old != nil && c.Old["Body"]+" (edited)" == c.Properties["Body"]:
			read++
		case c.Old == nil && strings.Contains(c.OldError, "at most"):
			capped++
		default:
			t.Fatalf("row %s: old %v (%q), new %v", c.Key, c.Old, c.OldError, c.Properties)
		}
	}
	if read != engine.PreviewReadsMax || capped != 5 {
		t.Fatalf("%d rows read and %d capped, want %d and 5", read, capped, engine.PreviewReadsMax)
	}
	if total, _ := e.calls(); total != engine.PreviewReadsMax {
		t.Fatalf("preview made %d Notion calls, want %d", total, engine.PreviewReadsMax)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	src := newSource(120)
	e := newEnv(t, itemsWorker(src))
	e.cycle("itemsBackfill")
	src.mu.Lock()
	src.items[key(3)] = item{Body: "changed"}
	src.items["zzz"] = item{Body: "new"}
	src.mu.Unlock()
	e.emu.ResetStats()
	p, err := e.eng.Preview(context.Background(), "itemsBackfill", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[engine.Outcome]int{}
	for _, c := range p.Changes {
		kinds[c.Kind]++
	}
	if kinds[engine.Updated] != 1 || kinds[engine.Unchanged] != 99 || !p.HasMore || string(p.NextState) != `{"offset":100}` {
		t.Fatalf("preview = %v, has_more %v, next %s", kinds, p.HasMore, p.NextState)
	}
	// The one updated row is read, to show its old values; nothing else.
	if total, routes := e.calls(); total != 1 || routes["GET /v1/pages/{id}"] != 1 {
		t.Fatalf("preview called Notion %d times: %v, want one read of the updated row", total, routes)
	}
	for _, c := range p.Changes {
		if c.Kind == engine.Updated {
			if c.Key != key(3) || c.Old["Body"] != "body 3" || c.Properties["Body"] != "changed" || c.Old["N"] != "3" || c.Properties["N"] != "0" || c.Old["ID"] != c.Properties["ID"] {
				t.Fatalf("updated row %s: old %v, new %v; want Body body 3 → changed, N 3 → 0, ID unchanged", c.Key, c.Old, c.Properties)
			}
		} else if c.Old != nil {
			t.Fatalf("%s row %s has old values %v", c.Kind, c.Key, c.Old)
		}
	}
	st, _ := e.rdb.GetSync(context.Background(), "itemsBackfill")
	if st.State != nil {
		t.Fatalf("preview changed the stored state to %s", st.State)
	}
}

// A preview's old values name people by email and options by name, as the
// new values do.
func TestPreviewOldPeopleAndOptions(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	src.delta = []synq.Change{synq.Upsert("p", builder.Properties{"Owner": builder.People("ada@example.com"), "Tag": builder.Select("a")})}
	e.cycle("itemsDelta")
	src.delta = []synq.Change{synq.Upsert("p", builder.Properties{"Owner": builder.People("grace@example.com"), "Tag": builder.Select("a")})}
	p, err := e.eng.Preview(context.Background(), "itemsDelta", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || p.Changes[0].Kind != engine.Updated {
		t.Fatalf("preview: %+v", p.Changes)
	}
	c := p.Changes[0]
	if c.Old["Owner"] != "ada@example.com" || c.Properties["Owner"] != "grace@example.com" || c.Old["Tag"] != "a" || c.Properties["Tag"] != "a" {
		t.Fatalf("old %v → new %v", c.Old, c.Properties)
	}
}

// A delete in a preview says what it is, and whether its row is there.
func TestPreviewDeletesSayWhatTheyAre(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	src.delta = []synq.Change{synq.Upsert("p", builder.Properties{"Body": builder.RichText("x")})}
	e.cycle("itemsDelta")
	src.delta = []synq.Change{synq.Delete("p"), synq.Delete("never")}
	p, err := e.eng.Preview(context.Background(), "itemsDelta", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].Kind != engine.Trashed || p.Changes[0].Message != "delete" ||
		p.Changes[1].Kind != engine.Unchanged || !strings.Contains(p.Changes[1].Message, "no such row in Notion") {
		t.Fatalf("preview: %+v", p.Changes)
	}
	// After the delete, a preview sees its tombstone as a write would.
	src.delta = []synq.Change{synq.Delete("p").UpdatedAt(at(5))}
	e.cycle("itemsDelta")
	src.delta = []synq.Change{up("p", "older", at(4)), up("q", "new", at(4))}
	if p, err = e.eng.Preview(context.Background(), "itemsDelta", nil, quiet); err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].Kind != engine.Skipped || p.Changes[1].Kind != engine.Created {
		t.Fatalf("preview after the delete: %+v", p.Changes)
	}
}
