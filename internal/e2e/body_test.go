package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

// bodyPage returns the page of bodySync's row doc-0 and its body read
// back from the emulator.
func (s *stack) bodyPage(nc *notion.Client) (string, []notion.Block) {
	s.t.Helper()
	ctx := context.Background()
	m, err := s.rdb.IndexGet(ctx, "docs", []string{"doc-0"})
	if err != nil || m["doc-0"].PageID == "" {
		s.t.Fatalf("doc-0 is not indexed: %v", err)
	}
	page := m["doc-0"].PageID
	bs, err := pagecontent.Read(ctx, nc, page)
	if err != nil {
		s.t.Fatal(err)
	}
	return page, bs
}

// TestKill9MidBodyWrite kills an executor with kill -9 while it changes a
// row's page body block by block (an edit that inserts 30 paragraphs, one
// append each, paced at 5 Notion requests a second): some are written,
// the commit is not. Another executor takes the page over and converges
// to the new body, no paragraph written twice: the row was marked "body
// write in flight", so it reads the body back instead of replaying the
// edit from the stored blocks.
func TestKill9MidBodyWrite(t *testing.T) {
	if testing.Short() {
		t.Log("runs the full asynq lease recovery (up to 90 s)")
	}
	bodyFile := filepath.Join(t.TempDir(), "body.md")
	var v0, v1, v2 strings.Builder
	for i := range 60 {
		fmt.Fprintf(&v0, "Paragraph %d.\n\n", i)
		if i == 0 {
			v1.WriteString("Paragraph 0, edited.\n\n")
			v2.WriteString("Paragraph 0, edited.\n\n")
		} else {
			fmt.Fprintf(&v1, "Paragraph %d.\n\n", i)
			fmt.Fprintf(&v2, "Paragraph %d.\n\n", i)
		}
		if i%2 == 1 {
			fmt.Fprintf(&v2, "Inserted after %d.\n\n", i)
		}
	}
	if err := os.WriteFile(bodyFile, []byte(v0.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, "E2E_BODY_FILE="+bodyFile)
	nc, err := notion.New(notion.Config{BaseURL: s.emu.URL(), Token: notiontest.Token})
	if err != nil {
		t.Fatal(err)
	}
	a := s.executor("SYNQ_NOTION_RATE_LIMIT=300")
	if r := s.waitRun(s.trigger("bodySync"), 60*time.Second); r.Status != rdb.RunSucceeded || r.Counters["created"] != 1 {
		t.Fatalf("first run = %+v", r)
	}
	// A first edit, so that the stored blocks know their ids (a create
	// does not return them): from here on an edit trusts them.
	if err := os.WriteFile(bodyFile, []byte(v1.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.waitRun(s.trigger("bodySync"), 60*time.Second); r.Status != rdb.RunSucceeded || r.Counters["updated"] != 1 {
		t.Fatalf("second run = %+v", r)
	}
	want1, _ := pagecontent.Convert(v1.String())
	if _, got := s.bodyPage(nc); !slices.Equal(pagecontent.Hashes(got), pagecontent.Hashes(want1)) {
		t.Fatalf("after the first edit the page has %d blocks, want the 60 of v1", len(got))
	}

	// The edit: a paragraph inserted after every other one.
	if err := os.WriteFile(bodyFile, []byte(v2.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := s.trigger("bodySync")
	inserted := func(bs []notion.Block) int {
		n := 0
		for _, b := range bs {
			if rt := b.RichText(); len(rt) > 0 && strings.HasPrefix(rt[0].Content(), "Inserted") {
				n++
			}
		}
		return n
	}
	s.waitFor(60*time.Second, "the edit to be under way", func() bool {
		_, bs := s.bodyPage(nc)
		return inserted(bs) >= 3
	})
	a.signal(syscall.SIGKILL)
	_, _ = a.exited(10 * time.Second)
	page, mid := s.bodyPage(nc)
	if n := inserted(mid); n >= 30 {
		t.Fatalf("the executor finished the edit (%d paragraphs inserted) before it was killed: slow it down", n)
	}
	if _, _, writing, err := s.rdb.Body(context.Background(), "docs", "doc-0"); err != nil || !writing {
		t.Fatalf("the killed body write left no mark (err %v)", err)
	}
	t.Logf("killed with %d of 30 paragraphs inserted", inserted(mid))

	killed := time.Now()
	s.executor()
	r, took := s.waitEnded(run, killed, 180*time.Second)
	if r.Status != rdb.RunSucceeded {
		t.Fatalf("run after kill -9 = %+v", r)
	}
	t.Logf("the run succeeded %v after the kill", took.Round(time.Second))
	want2, _ := pagecontent.Convert(v2.String())
	p2, got := s.bodyPage(nc)
	if p2 != page {
		t.Fatalf("the row's page changed from %s to %s", page, p2)
	}
	if inserted(got) != 30 || !slices.Equal(pagecontent.Hashes(got), pagecontent.Hashes(want2)) {
		t.Fatalf("after the retry the page has %d blocks (%d inserted paragraphs), want the %d of v2 with 30 inserted", len(got), inserted(got), len(want2))
	}
	if _, _, writing, _ := s.rdb.Body(context.Background(), "docs", "doc-0"); writing {
		t.Fatal("the body write mark outlived the commit")
	}
}
