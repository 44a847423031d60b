package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/holdproxy"
	"github.com/synqhq/synq/schema"
)

// A body write whose claim is lost while a block write is in flight:
// writer A changes the body toward the 10:00 paragraph and stalls (its
// block request held on the way to Notion) past its claim; writer B claims
// the key and writes the 11:00 body; A's request reaches Notion after
// that. B took the key over from a writer that had a body write in
// flight, so the key is left in doubt with its body to check. A late
// append leaves a block B's body record does not name: the check deletes
// it. A late block update changes a block the record names (whose content
// it does not keep): the check forgets the row's content hash and body
// record, and the row's next write rewrites the body whole.
func TestLateBodyBlockWriteIsRepaired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		update  bool // A's held request updates a block (else appends)
		initial string
	}{
		{"append", false, "para one"},
		{"update", true, "para one\n\npara two"},
	} {
		t.Run(tc.name, func(t *testing.T) { lateBodyWrite(t, tc.update, tc.initial) })
	}
}

func lateBodyWrite(t *testing.T, update bool, initial string) {
	fa, fb := &shotFeed{}, &shotFeed{}
	w := synq.NewWorker(synq.WorkerConfig{Name: "fence"})
	items := w.Database("items", synq.DatabaseConfig{InitialTitle: "Items", PrimaryKey: "ID",
		Schema: schema.Properties{"ID": schema.Title(), "Body": schema.RichText()}})
	synq.AddSync(w, "syncA", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: fa.execute})
	synq.AddSync(w, "syncB", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: fb.execute})
	var proxy *holdproxy.Proxy
	e := newEnvWith(t, w, envOptions{
		notion: func(c *notion.Config) {
			proxy = holdproxy.New(t, c.BaseURL, func(r *http.Request, body []byte) bool {
				return r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/v1/blocks/") &&
					strings.HasSuffix(r.URL.Path, "/children") != update && bytes.Contains(body, []byte("ten o'clock"))
			})
			c.BaseURL = proxy.URL()
		},
		engine: func(c *engine.Config) { c.DoubtFirst = 50 * time.Millisecond },
	})
	ctx := context.Background()
	provision(t, e)
	b := e.newEngine()
	a := e.engineWith(func(c *engine.Config) { c.ClaimTTL = 600 * time.Millisecond })
	body := func() []string {
		t.Helper()
		m, err := e.rdb.IndexGet(ctx, "items", []string{"k"})
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := e.notion.AllBlockChildren(ctx, m["k"].PageID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, bl := range blocks {
			out = append(out, notion.PlainText(bl.RichText()))
		}
		return out
	}
	same := func(got []string, want ...string) bool {
		return strings.Join(got, "\n") == strings.Join(want, "\n")
	}

	fb.set(up("k", "same", at(9)).Content(initial))
	e.run(b, "syncB", quiet)

	// A writes the 10:00 paragraph; its block request is held on its way.
	fa.set(up("k", "same", at(10)).Content("para one\n\nten o'clock"))
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		if _, err := a.RunCycle(ctx, "syncA", "a-run", quiet); err != nil {
			t.Errorf("A's run: %v", err)
		}
	}()
	select {
	case <-proxy.Held():
	case <-time.After(30 * time.Second):
		t.Fatal("A's block request never reached Notion")
	}
	// A stalls past its claim.
	e.claimTakenAndExpired(t, "items", "k")
	// B writes the 11:00 body.
	fb.set(up("k", "same", at(11)).Content("para one\n\neleven o'clock"))
	e.run(b, "syncB", quiet)
	if got := body(); !same(got, "para one", "eleven o'clock") {
		t.Fatalf("after B's write the body is %q", got)
	}
	select {
	case <-aDone:
	case <-time.After(10 * time.Second):
		t.Error("A's write did not stop when its claim was lost")
	}
	// A's request reaches Notion after all.
	proxy.Release()
	select {
	case <-proxy.Landed():
	case <-time.After(30 * time.Second):
		t.Fatal("A's held request never landed")
	}
	if got := body(); !same(got, "para one", "ten o'clock", "eleven o'clock") && !same(got, "para one", "ten o'clock") {
		t.Fatalf("after A's late request the body is %q: the scenario did not happen", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for checked := 0; ; {
		n, err := e.eng.CheckDoubts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checked += n
		got := body()
		if same(got, "para one", "eleven o'clock") {
			if update {
				t.Fatalf("the check rewrote a late block update it cannot know the content of: %q", got)
			}
			break
		}
		if update && checked > 0 {
			m, _ := e.rdb.IndexGet(ctx, "items", []string{"k"})
			_, recorded, _, err := e.rdb.Body(ctx, "items", "k")
			if err != nil || m["k"].Hash != "" || recorded {
				t.Fatalf("after a check the row's entry is %+v (body record: %v, %v), want its content hash and body record forgotten", m["k"], recorded, err)
			}
			// The row's next write rewrites it whole: the same change again.
			e.run(b, "syncB", quiet)
			if got := body(); !same(got, "para one", "eleven o'clock") {
				t.Fatalf("after the row's next write the body is %q, want B's", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the body is %q, want B's (para one, eleven o'clock): A's late write stayed", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The record describes the body: the next edit writes it.
	fb.set(up("k", "same", at(12)).Content("para one\n\ntwelve o'clock"))
	e.run(b, "syncB", quiet)
	if got := body(); !same(got, "para one", "twelve o'clock") {
		t.Fatalf("after the next write the body is %q", got)
	}
}
