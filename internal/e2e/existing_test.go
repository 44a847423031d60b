package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// backlogState reads the Backlog's live rows: page id → page.
func backlogState(t *testing.T, nc *notion.Client, ds string) map[string]*notion.Page {
	t.Helper()
	out := map[string]*notion.Page{}
	if err := nc.QueryAll(context.Background(), ds, notion.QueryRequest{}, func(p *notion.Page) error {
		cp := *p
		out[p.ID] = &cp
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func propBytes(p *notion.Page, name string) string {
	b, _ := json.Marshal(p.Properties[name])
	return string(b)
}

// untouched is a page as the API returns it, without the column synq
// added to every row.
func untouched(p *notion.Page) string {
	cp := *p
	cp.Properties = map[string]notion.PropertyValue{}
	for k, v := range p.Properties {
		if k != "Estimate days" {
			cp.Properties[k] = v
		}
	}
	b, _ := json.Marshal(cp)
	return string(b)
}

// TestSyncIntoExistingDatabase is issue 23's scenario with real processes:
// a database people already have (3 filled extra columns, 50 keyed rows, 5
// keyless, 2 duplicate keys, 1 column of a conflicting type), an executor
// refused on the conflict, then fixed: adoption, owned columns only, a
// replace cycle that lost 10 keys, a Redis flush, and `ctl schema`.
func TestSyncIntoExistingDatabase(t *testing.T) {
	ctx := context.Background()
	s := newStack(t)
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := notiontest.SeedBacklog(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	upFile := filepath.Join(t.TempDir(), "upstream.json")
	setUpstream := func(lost, changed []int, extra ...string) {
		b, _ := json.Marshal(map[string]any{"lost": lost, "changed": changed, "extra": extra})
		if err := os.WriteFile(upFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"E2E_BACKLOG=" + bl.URL, "E2E_BACKLOG_UPSTREAM=" + upFile}

	// The conflicting declaration: the executor refuses to start, saying
	// what and how to fix it, and writes nothing.
	s.emu.ResetStats()
	bad := s.start("backlogworker", append(env, "E2E_BACKLOG_CONFLICT=1")...)
	select {
	case <-bad.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the executor with a conflicting column did not exit:\n%s", bad.out.String())
	}
	bad.done <- nil // for the cleanup
	for _, want := range []string{`property "Estimate" is a rich_text column`, "declares number", `declare it as "Estimate": schema.RichText()`, "under another name"} {
		if !strings.Contains(bad.out.String(), want) {
			t.Fatalf("the refusal lacks %q:\n%s", want, bad.out.String())
		}
	}
	if w := s.emu.Stats().Writes; w != 0 {
		t.Fatalf("the refused executor wrote %d times to Notion", w)
	}
	before := backlogState(t, nc, bl.DataSourceID)

	// Fixed: the first run adopts the 50 (0 created for them).
	setUpstream(nil, []int{1, 2, 3, 4, 5}, "T-100")
	s.worker("backlogworker", env...)
	addr := s.scheduler()
	r := s.waitRun(s.triggerWhenDeclared("backlogSync"), 90*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["created"] != 1 || r.Counters["updated"] != 5 || r.Counters["unchanged"] != 45 {
		t.Fatalf("first run = %+v, want 1 created (T-100), 5 updated, 45 unchanged", r)
	}
	after := backlogState(t, nc, bl.DataSourceID)
	for id, p := range before {
		for _, col := range append([]string{"Estimate"}, notiontest.BacklogExtra...) {
			if propBytes(p, col) != propBytes(after[id], col) {
				t.Errorf("row %s: the people's column %q changed", id, col)
			}
		}
	}
	leftAlone := append(append([]string{}, bl.Keyless...), bl.Duplicates...)
	for _, id := range leftAlone {
		if untouched(before[id]) != untouched(after[id]) {
			t.Errorf("row %s (keyless or duplicate) changed:\n%s\n%s", id, untouched(before[id]), untouched(after[id]))
		}
	}

	// ctl status marks the database as existing: columns, rows adopted,
	// rows left alone and why.
	out, errOut, code := s.ctl(addr, "status", "backlogSync", "-o", "table")
	if code != 0 {
		t.Fatalf("ctl status: %d %s", code, errOut)
	}
	for _, want := range []string{"EXISTING Notion database", "owned columns (synq writes them): Estimate days, Name, Points, Status",
		"(added by synq: Estimate days)", "never written): Estimate, Notes, Priority, Reviewed", "rows adopted: 50 with a key",
		"5 with an empty key (people's rows), 2 whose key an older row has", `"T-003": page ` + bl.Duplicates[0]} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl status lacks %q:\n%s", want, out)
		}
	}
	// The run log reports the duplicates too.
	logs, _, _ := s.ctl(addr, "runs", "logs", r.ID, "-o", "table")
	if !strings.Contains(logs, "leaves the others alone") || !strings.Contains(logs, bl.Duplicates[1]) {
		t.Errorf("the run log does not report the duplicate keys:\n%s", logs)
	}

	// A replace cycle whose upstream lost 10 keys trashes only those synq
	// has written (T-001…T-005) and T-100, which it created.
	setUpstream([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int{1, 2, 3, 4, 5})
	r = s.waitRun(s.trigger("backlogSync"), 90*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["trashed"] != 6 {
		t.Fatalf("replace cycle = %+v, want 6 trashed", r)
	}
	live := backlogState(t, nc, bl.DataSourceID)
	for i := 1; i <= 10; i++ {
		if _, ok := live[bl.Keyed[notiontest.BacklogKey(i)]]; ok != (i > 5) {
			t.Errorf("row %s live = %v after the sweep", notiontest.BacklogKey(i), ok)
		}
	}
	for _, id := range leftAlone {
		if _, ok := live[id]; !ok {
			t.Errorf("the sweep trashed row %s", id)
		}
	}

	// Redis loses everything; the next run duplicates nothing.
	if err := s.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r = s.waitRun(s.triggerWhenDeclared("backlogSync"), 120*time.Second)
	if r.Status != rdb.RunSucceeded || r.Counters["created"] != 0 {
		t.Fatalf("run after the flush = %+v, want nothing created", r)
	}
	keys := map[string]int{}
	for _, p := range backlogState(t, nc, bl.DataSourceID) {
		keys[p.Properties["Name"].Text()]++
	}
	for k, n := range keys {
		if k != "" && n > 1 && k != notiontest.BacklogDuplicates[0] && k != notiontest.BacklogDuplicates[1] {
			t.Errorf("key %q has %d rows after the flush", k, n)
		}
	}

	// ctl schema prints a declaration that compiles and, declared as is,
	// changes nothing in Notion when an executor starts.
	schemaOut := ctlSchema(t, s, bl.URL)
	// gofmt aligns the values: compare with single spaces.
	flat := strings.Join(strings.Fields(schemaOut), " ")
	if !strings.Contains(flat, `"Name": schema.Title(),`) || !strings.Contains(flat, `"Reviewed": schema.Checkbox(),`) ||
		!strings.Contains(flat, `schema.Option{Name: "P1"`) {
		t.Fatalf("ctl schema:\n%s", schemaOut)
	}
	bin := buildDeclared(t, bl.URL, schemaOut)
	s.emu.ResetStats()
	p := s.start(bin)
	s.waitFor(60*time.Second, "the executor declaring ctl schema's output", func() bool {
		return strings.Contains(p.out.String(), "executor started")
	})
	if st := s.emu.Stats(); st.Writes != 0 {
		t.Fatalf("starting an executor with ctl schema's declaration wrote to Notion: %v", st.ByRoute)
	}
}

// ctlSchema runs `ctl schema URL` against the stack's emulator.
func ctlSchema(t *testing.T, s *stack, url string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "ctl"), "schema", url)
	cmd.Env = []string{"NOTION_API_TOKEN=" + notiontest.Token, "NOTION_API_BASE_URL=" + s.emu.URL(), "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ctl schema: %v\n%s", err, out)
	}
	return string(out)
}

// buildDeclared builds an executor whose only database is the existing
// one at url, declared with decl (ctl schema's output) verbatim, and
// returns its path relative to the binaries directory.
func buildDeclared(t *testing.T, url, decl string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if err := os.MkdirAll(filepath.Join(root, "internal", "e2e", "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "internal", "e2e", "testdata"), "declared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := fmt.Sprintf(`package main

import (
	"context"
	"log"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/schema"
)

func main() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "declared"})
	w.Database("backlog2", synq.DatabaseConfig{Existing: %q, PrimaryKey: "Name", Schema: declared})
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		log.Fatal(err)
	}
}

var declared = %s
`, url, decl)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, dir)
	name := "declared-" + filepath.Base(dir)
	cmd := exec.Command("go", "build", "-o", filepath.Join(binaries(t), name), "./"+rel)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctl schema's declaration does not compile: %v\n%s\n%s", err, out, src)
	}
	return name
}
