package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// publishMany publishes a manifest of worker w declaring n manual syncs
// named <w>-00000 … (no executor runs them: the list is what is tested).
func (s *stack) publishMany(w string, n int) {
	s.t.Helper()
	m := spec.Manifest{Worker: w}
	for i := range n {
		m.Syncs = append(m.Syncs, spec.ManifestSync{Key: fmt.Sprintf("%s-%05d", w, i), Database: w + "db", Mode: spec.Incremental,
			Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}, MaxAttempts: 3, Timeout: time.Minute})
	}
	m.Build = m.BuildID()
	b, err := json.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.rdb.PublishBuild(context.Background(), w, m.Build, b, time.Hour); err != nil {
		s.t.Fatal(err)
	}
}

// At ten thousand syncs the syncs page lists one page (light), pages on,
// and filters by worker and health on the server.
func TestSyncsPageAtTenThousandSyncs(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.publishMany("many", 10_000)
	ctx := context.Background()
	// One sync of "many" failing three times in a row.
	for range 3 {
		run := fmt.Sprintf("many-00042-%d", time.Now().UnixNano())
		if _, err := s.rdb.StartRun(ctx, rdb.StartRun{Sync: "many-00042", Run: run, Trigger: "manual", Worker: "many"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.rdb.FailRun(ctx, rdb.Fail{Sync: "many-00042", Run: run, Message: "boom", Page: -1}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.client()
	r := c.get("/syncs")
	want(t, "syncs page", r, 200, "of 10003 syncs", "many-00000", "next »")
	if len(r.body) > 100<<10 {
		t.Fatalf("the syncs page weighs %d bytes at 10,000 syncs, want at most 100 KB", len(r.body))
	}
	t.Logf("the syncs page at 10,003 syncs: %d bytes", len(r.body))
	if strings.Contains(r.body, "many-00049") {
		t.Fatal("the first page lists past its page size")
	}
	r = c.get("/syncs?worker=many&after=many-00049")
	want(t, "second page", r, 200, "10000 of 10003 syncs", "many-00050", "« first")
	if strings.Contains(r.body, "many-00049</b></a>") {
		t.Fatal("the second page repeats the first page's last sync")
	}
	r = c.get("/syncs?health=ERROR")
	want(t, "ERROR syncs", r, 200, "1 of 10003 syncs", "many-00042")
	if strings.Contains(r.body, "many-00000") || strings.Contains(r.body, "next »") {
		t.Fatal("the health filter lists syncs of another health")
	}
	r = c.get("/syncs?q=00123")
	want(t, "search", r, 200, "1 of 10003 syncs", "many-00123")
	want(t, "overview", c.get("/"), 200, "Syncs by health")
}
