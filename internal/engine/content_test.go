package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// Page bodies through the engine: Upsert(...).Content(md) on the items
// worker's incremental sync (src.delta), read back from the emulator.

func mustConvert(t testing.TB, md string) []notion.Block {
	t.Helper()
	bs, err := pagecontent.Convert(md)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// pageOf returns the page id the index holds for key.
func (e *env) pageOf(db, key string) string {
	e.t.Helper()
	m, err := e.rdb.IndexGet(context.Background(), db, []string{key})
	if err != nil || m[key].PageID == "" {
		e.t.Fatalf("%s/%s is not indexed: %v", db, key, err)
	}
	return m[key].PageID
}

// body reads the body of key's page from the emulator, all levels.
func (e *env) body(db, key string) []notion.Block {
	e.t.Helper()
	bs, err := pagecontent.Read(context.Background(), e.notion, e.pageOf(db, key))
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

// sameBody fails unless the page of key holds exactly md's blocks, in
// order, children included (no block missing, none twice).
func (e *env) sameBody(db, key, md string) {
	e.t.Helper()
	want, got := mustConvert(e.t, md), e.body(db, key)
	if !slices.Equal(pagecontent.Hashes(want), pagecontent.Hashes(got)) {
		e.t.Fatalf("%s: body in Notion differs from the Markdown:\nwant %d blocks: %s\ngot %d blocks: %s", key, len(want), outline(want), len(got), outline(got))
	}
}

// outline is a one-line picture of a body: types and first words.
func outline(bs []notion.Block) string {
	var parts []string
	for _, b := range bs {
		s := b.Type
		if rt := b.RichText(); len(rt) > 0 {
			txt := rt[0].Content()
			if len(txt) > 12 {
				txt = txt[:12]
			}
			s += ":" + txt
		}
		if len(b.Children) > 0 {
			s += fmt.Sprintf("(%s)", outline(b.Children))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// step runs one delta page of changes and returns the Notion calls it
// made by route.
func (e *env) step(src *source, changes ...synq.Change) (engine.CycleResult, map[string]int64) {
	e.t.Helper()
	src.mu.Lock()
	src.delta = changes
	src.mu.Unlock()
	e.emu.ResetStats()
	res := e.cycle("itemsDelta")
	_, routes := e.calls()
	return res, routes
}

func total(routes map[string]int64) int64 {
	var n int64
	for _, v := range routes {
		n += v
	}
	return n
}

// constructs are the Markdown constructs the converter supports (and a
// few it turns into plain text).
var constructs = map[string]string{
	"headings":    "# One\n## Two\n### Three\n#### Four\n",
	"paragraphs":  "first\nsecond line\n\nnext  \nhard\n",
	"inline":      "a *i* **b** ***bi*** ~~s~~ `code` [link](https://x.io/a?b=c) **[bold link](https://x.io)** <https://auto.io>",
	"lists":       "- a\n  - a1\n    - a11\n      - a111\n- b\n\n1. one\n2. two\n   1. two.one\n",
	"to-dos":      "- [ ] open\n- [x] done\n  - [ ] nested\n",
	"quote":       "> quoted *text*\n> more\n>\n> - item in quote\n",
	"code":        "```python\nprint('hi')\n```\n\n```\nplain\n```\n\n    indented\n",
	"divider":     "a\n\n---\n\nb\n",
	"image":       "![chart](https://img.io/c.png)\n\ntext ![i](https://img.io/i.png) more\n",
	"table":       "| k | v |\n|---|---|\n| a | **b** |\n| c |\n",
	"unsupported": "<div>\n<b>html</b>\n</div>\n\nnote[^1]\n\n[^1]: the source\n",
	"long text":   strings.Repeat("word ", 1000) + "\n\n" + strings.Repeat("😀", 1500),
	"nested blocks": "- item\n\n  | a | b |\n  |---|---|\n  | 1 | 2 |\n\n  ```go\n  x := 1\n  ```\n\n" +
		"- [ ] task\n  > quoted\n  > - with\n  >   - deep\n",
}

// demoBodies are the descriptions of the demo helpdesk's tickets.
func demoBodies(t testing.TB, n int) map[string]string {
	t.Helper()
	s, err := api.New(api.Config{Tickets: n, Customers: 5, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, tk := range s.Tickets() {
		if tk.Description == "" {
			t.Fatalf("demo ticket %s has no description", id)
		}
		out[id] = tk.Description
	}
	return out
}

// manyBlocks is a body of n top-level paragraphs.
func manyBlocks(n int, tag string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Paragraph %d %s.\n\n", i, tag)
	}
	return b.String()
}

// Every construct, the demo's ticket descriptions and a body longer than
// one request take go Markdown → engine → emulator and read back equal;
// bodies that fit one request cost one create each, and writing them all
// again costs nothing.
func TestContentRoundTripThroughTheEngine(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	bodies := map[string]string{"many": manyBlocks(250, "of many")}
	for k, md := range constructs {
		bodies[k] = md
	}
	for k, md := range demoBodies(t, 12) {
		bodies[k] = md
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range bodies {
			if !yield(k) {
				return
			}
		}
	})
	var changes []synq.Change
	for _, k := range keys {
		changes = append(changes, synq.Upsert(k, builder.Properties{"Body": builder.RichText("prop " + k)}).Content(bodies[k]))
	}
	res, routes := e.step(src, changes...)
	if res.Counters["created"] != int64(len(keys)) {
		t.Fatalf("counters %v, want %d created", res.Counters, len(keys))
	}
	for _, k := range keys {
		e.sameBody("items", k, bodies[k])
	}
	// Bodies within one request (all but "many" and the four-deep
	// "lists" and "nested blocks") cost one create; the others append
	// the rest.
	if n := routes["POST /v1/pages"]; n != int64(len(keys)) {
		t.Errorf("%d creates for %d rows", n, len(keys))
	}
	if n := routes["PATCH /v1/blocks/{id}/children"]; n < 2 || n > 12 {
		t.Errorf("%d appends after the creates (%v), want a few: the 250-block body and the deep lists", n, routes)
	}
	if n := total(routes) - routes["POST /v1/pages"] - routes["PATCH /v1/blocks/{id}/children"]; n != 0 {
		t.Errorf("creating rows with bodies made %d other calls: %v", n, routes)
	}
	res, routes = e.step(src, changes...)
	if res.Counters["unchanged"] != int64(len(keys)) || total(routes) != 0 {
		t.Fatalf("the same rows again: counters %v, calls %v; want all unchanged at no cost", res.Counters, routes)
	}
	// The body record of a 250-block body: 8 bytes a block until the ids
	// of the first 100 (sent with the create) are known.
	rec, ok, writing, err := e.rdb.Body(context.Background(), "items", "many")
	if err != nil || !ok || writing {
		t.Fatalf("body record of many: ok %v writing %v err %v", ok, writing, err)
	}
	refs, err := pagecontent.DecodeRefs(rec.Refs)
	if err != nil || len(refs) != 250 || refs[0].ID != "" || refs[249].ID == "" {
		t.Fatalf("refs of many: %d, %v", len(refs), err)
	}
	if rec.Hash != pagecontent.BodyHash(mustConvert(t, bodies["many"])) {
		t.Fatalf("stored body hash %s", rec.Hash)
	}
}

// Edits through the engine cost what changed: after the first edit (which
// reads the ids of blocks sent with the create), a changed paragraph is
// one call, an inserted one one append, a removed one one delete; a
// reorder converges; properties and body are written independently.
func TestContentEditsThroughTheEngine(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	props := builder.Properties{"Body": builder.RichText("v1")}
	paras := func(ps ...string) string {
		var b strings.Builder
		b.WriteString("# Title\n\n")
		for _, p := range ps {
			b.WriteString(p + "\n\n")
		}
		b.WriteString("- a list\n  - nested\n\n```go\nx := 1\n```\n")
		return b.String()
	}
	cur := paras("one", "two", "three", "four", "five")
	up := func(md string) synq.Change { return synq.Upsert("doc", props).Content(md) }
	check := func(name string, c synq.Change, md string, outcome string, want map[string]int64) {
		t.Helper()
		res, routes := e.step(src, c)
		if res.Counters[outcome] != 1 {
			t.Fatalf("%s: counters %v, want %s", name, res.Counters, outcome)
		}
		for k, v := range routes {
			if want[k] != v {
				t.Errorf("%s: calls %v, want %v", name, routes, want)
				break
			}
		}
		if total(routes) != total(want) {
			t.Errorf("%s: %d calls %v, want %v", name, total(routes), routes, want)
		}
		e.sameBody("items", "doc", md)
	}
	const (
		create = "POST /v1/pages"
		page   = "PATCH /v1/pages/{id}"
		upd    = "PATCH /v1/blocks/{id}"
		del    = "DELETE /v1/blocks/{id}"
		app    = "PATCH /v1/blocks/{id}/children"
		read   = "GET /v1/blocks/{id}/children"
	)
	check("create", up(cur), cur, "created", map[string]int64{create: 1})
	// The first edit reads the ids once.
	cur = paras("one", "TWO", "three", "four", "five")
	check("first edit", up(cur), cur, "updated", map[string]int64{read: 1, upd: 1})
	cur = paras("one", "TWO", "three", "FOUR", "five")
	check("change", up(cur), cur, "updated", map[string]int64{upd: 1})
	cur = paras("one", "TWO", "two and a half", "three", "FOUR", "five")
	check("insert", up(cur), cur, "updated", map[string]int64{app: 1})
	cur = paras("one", "TWO", "two and a half", "FOUR", "five")
	check("delete", up(cur), cur, "updated", map[string]int64{del: 1})
	cur = paras("one", "FOUR", "TWO", "two and a half", "five")
	res, routes := e.step(src, up(cur))
	if res.Counters["updated"] != 1 || total(routes) > 3 || routes[page] != 0 {
		t.Fatalf("reorder: counters %v, calls %v", res.Counters, routes)
	}
	e.sameBody("items", "doc", cur)
	check("unchanged", up(cur), cur, "unchanged", nil)
	// Properties only: one page update, no block call.
	props = builder.Properties{"Body": builder.RichText("v2")}
	check("properties only", up(cur), cur, "updated", map[string]int64{page: 1})
	// Both: one page update and one block update.
	props = builder.Properties{"Body": builder.RichText("v3")}
	cur = paras("ONE", "FOUR", "TWO", "two and a half", "five")
	check("both", up(cur), cur, "updated", map[string]int64{page: 1, upd: 1})
	// A change without Content leaves the body alone: unchanged
	// properties cost nothing, changed ones one page update.
	check("no content, same properties", synq.Upsert("doc", props), cur, "unchanged", nil)
	props = builder.Properties{"Body": builder.RichText("v4")}
	check("no content, new properties", synq.Upsert("doc", props), cur, "updated", map[string]int64{page: 1})
	if got := e.rows("items")["doc"]["Body"]; got != "v4" {
		t.Fatalf("properties after a change without Content: %q", got)
	}
	// The same body with Content again costs nothing: the row's hash
	// carried it.
	check("content again", up(cur), cur, "unchanged", nil)
	// Content("") empties the page: one delete per top-level block.
	n := int64(len(mustConvert(t, cur)))
	check("empty", up(""), "", "updated", map[string]int64{del: n})
	check("empty again", up(""), "", "unchanged", nil)
	cur = paras("back")
	check("refill", up(cur), cur, "updated", map[string]int64{app: 1})
	// A body edit and a change without Content of the same key in one
	// page: the second leaves the first's body.
	next := paras("back", "and forth")
	props = builder.Properties{"Body": builder.RichText("v5")}
	res, _ = e.step(src, up(next), synq.Upsert("doc", builder.Properties{"Body": builder.RichText("v6")}))
	if res.Counters["updated"] != 2 {
		t.Fatalf("two changes of one key: %v", res.Counters)
	}
	e.sameBody("items", "doc", next)
	if got := e.rows("items")["doc"]["Body"]; got != "v6" {
		t.Fatalf("properties after two changes: %q", got)
	}
	// A delete drops the row's body record with its index entry.
	if n, _ := e.rdb.BodyLen(context.Background(), "items"); n != 1 {
		t.Fatalf("%d body records for one row", n)
	}
	if res, _ := e.step(src, synq.Delete("doc")); res.Counters["trashed"] != 1 {
		t.Fatalf("delete: %v", res.Counters)
	}
	if n, _ := e.rdb.BodyLen(context.Background(), "items"); n != 0 {
		t.Fatalf("%d body records after the row was trashed", n)
	}
}

// Markdown over a page's limits, a table too wide, invalid UTF-8: the
// page fails at once (a validation error naming sync, key and what to
// shorten) and nothing of it is written.
func TestContentBadInputFailsThePage(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	wide := "|" + strings.Repeat(" c |", 101) + "\n|" + strings.Repeat("---|", 101) + "\n"
	cases := []struct {
		name, md string
		want     []string
	}{
		{"too many blocks", manyBlocks(1001, "x"), []string{"more than 1000 blocks", "shorten"}},
		{"table too wide", wide, []string{"101 columns", "100"}},
		{"invalid UTF-8", "ok\n\nbad \xff byte\n", []string{"UTF-8", "line 3"}},
		{"too long", strings.Repeat("x", pagecontent.MaxMarkdownBytes+1), []string{"bytes", "shorten"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src.mu.Lock()
			src.delta = []synq.Change{synq.Upsert("fine", builder.Properties{"Body": builder.RichText("ok")}), synq.Upsert("bad", nil).Content(c.md)}
			src.mu.Unlock()
			e.emu.ResetStats()
			_, err := e.tryCycle("itemsDelta")
			var p interface{ Permanent() bool }
			if !engine.IsValidation(err) || !errors.As(err, &p) || !p.Permanent() {
				t.Fatalf("err = %v, want a permanent validation error", err)
			}
			for _, w := range append([]string{`sync "itemsDelta"`, `key "bad"`, "page content"}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := e.emu.Stats().Requests; n != 0 {
				t.Errorf("%d Notion calls for a page with a bad body", n)
			}
		})
	}
}

// Redis losing its data loses the body records: the next body change
// reads the body from Notion and converges, no block duplicated or lost.
func TestContentAfterRedisLosesData(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	props := builder.Properties{"Body": builder.RichText("p")}
	v1 := manyBlocks(30, "v1")
	e.step(src, synq.Upsert("a", props).Content(v1), synq.Upsert("b", props).Content(v1))
	if err := e.redis.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(v1, "Paragraph 7 v1", "Paragraph 7 v2", 1) + "One more.\n"
	res, routes := e.step(src, synq.Upsert("a", props).Content(v2), synq.Upsert("b", props).Content(v1))
	if res.Counters["updated"] != 2 {
		t.Fatalf("after the loss: %v", res.Counters)
	}
	e.sameBody("items", "a", v2)
	e.sameBody("items", "b", v1)
	if routes["POST /v1/pages"] != 0 || routes["DELETE /v1/blocks/{id}"] != 0 {
		t.Fatalf("after the loss: %v; want no row created and no block deleted", routes)
	}
	// Known again: the next edit is one call.
	v3 := strings.Replace(v2, "Paragraph 9 v1", "Paragraph 9 v3", 1)
	if _, routes := e.step(src, synq.Upsert("a", props).Content(v3)); total(routes) != 1 {
		t.Fatalf("an edit after the recovery: %v", routes)
	}
	e.sameBody("items", "a", v3)
}

// failingWrites is a transport that fails every write after the first
// `writes`, as a Notion that went away mid-body would.
type failingWrites struct {
	mu     sync.Mutex
	writes int
}

func (f *failingWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := false
	if r.Method != http.MethodGet {
		fail = f.writes <= 0
		f.writes--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A body write that fails part-way leaves the row marked: the next
// attempt reads the body back, whatever it got to, and converges with no
// block duplicated, even when the upstream went back to the old body.
func TestContentInterruptedWriteConverges(t *testing.T) {
	for _, after := range []int{0, 1, 3, 6} {
		t.Run(fmt.Sprintf("after %d writes", after), func(t *testing.T) {
			src := newSource(0)
			e := newEnv(t, itemsWorker(src))
			provision(t, e)
			props := builder.Properties{"Body": builder.RichText("p")}
			v1 := manyBlocks(20, "v1")
			e.step(src, synq.Upsert("a", props).Content(strings.Replace(v1, "Paragraph 0 v1", "Paragraph 0", 1)))
			// A first edit reads the ids of the blocks sent with the create:
			// from here on the engine trusts its stored blocks.
			e.step(src, synq.Upsert("a", props).Content(v1))
			// Every other paragraph changes, some go, some come: a plan of
			// many writes.
			var b strings.Builder
			for i := range 24 {
				switch {
				case i%5 == 4:
					fmt.Fprintf(&b, "New paragraph %d.\n\n", i)
				case i%2 == 0:
					fmt.Fprintf(&b, "Paragraph %d v2.\n\n", i)
				default:
					fmt.Fprintf(&b, "Paragraph %d v1.\n\n", i)
				}
			}
			v2 := b.String()
			nc, err := notion.New(notion.Config{BaseURL: e.emu.URL(), Token: notiontest.Token, Logger: quiet, Timeout: 5 * time.Second,
				HTTPClient: &http.Client{Transport: &failingWrites{writes: after}}, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			broken := e.engineWith(func(c *engine.Config) { c.Notion = nc })
			src.mu.Lock()
			src.delta = []synq.Change{synq.Upsert("a", props).Content(v2)}
			src.mu.Unlock()
			if _, err := broken.RunCycle(context.Background(), "itemsDelta", "broken", quiet); err == nil {
				t.Fatal("the write did not fail")
			}
			if _, _, writing, _ := e.rdb.Body(context.Background(), "items", "a"); !writing {
				t.Fatal("a failed body write left no mark")
			}
			// The upstream went back to v1: the row's hash is v1's, but
			// the mark makes the engine write it.
			res, routes := e.step(src, synq.Upsert("a", props).Content(v1))
			if res.Counters["updated"] != 1 || routes["GET /v1/blocks/{id}/children"] == 0 {
				t.Fatalf("after the failure: %v, %v; want an update that reads the body", res.Counters, routes)
			}
			e.sameBody("items", "a", v1)
			if _, _, writing, _ := e.rdb.Body(context.Background(), "items", "a"); writing {
				t.Fatal("the mark outlived the commit")
			}
			e.step(src, synq.Upsert("a", props).Content(v2))
			e.sameBody("items", "a", v2)
		})
	}
}

// A row trashed in Notion by a person is created again, with its body.
func TestContentRowDeletedInNotionIsCreatedAgain(t *testing.T) {
	src := newSource(0)
	e := newEnv(t, itemsWorker(src))
	provision(t, e)
	v1 := manyBlocks(5, "v1")
	e.step(src, synq.Upsert("a", builder.Properties{"Body": builder.RichText("1")}).Content(v1))
	old := e.pageOf("items", "a")
	if _, err := e.notion.TrashPage(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	v2 := manyBlocks(6, "v2")
	res, _ := e.step(src, synq.Upsert("a", builder.Properties{"Body": builder.RichText("2")}).Content(v2))
	if res.Counters["created"] != 1 || e.pageOf("items", "a") == old {
		t.Fatalf("counters %v", res.Counters)
	}
	e.sameBody("items", "a", v2)
}
