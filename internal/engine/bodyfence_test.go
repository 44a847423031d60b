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
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/schema"
)

// A body write whose claim is lost while a block append is in flight:
// writer A appends the 10:00 paragraph and stalls (its append held on the
// way to Notion) past its claim; writer B claims the key and writes the
// 11:00 body; A's append reaches Notion after that, leaving a block B's
// body record does not name. B took the key over from a writer that had
// a body write in flight, so the key is left in doubt with its body to
// check: the check deletes the block, and the body is B's.
func TestLateBodyBlockWriteIsRepaired(t *testing.T) {
	fa, fb := &shotFeed{}, &shotFeed{}
	w := synq.NewWorker(synq.WorkerConfig{Name: "fence"})
	items := w.Database("items", synq.DatabaseConfig{InitialTitle: "Items", PrimaryKey: "ID",
		Schema: schema.Properties{"ID": schema.Title(), "Body": schema.RichText()}})
	synq.AddSync(w, "syncA", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: fa.execute})
	synq.AddSync(w, "syncB", synq.SyncConfig[feedState]{Database: items, Mode: synq.Incremental, Schedule: "manual", Execute: fb.execute})
	var proxy *holdProxy
	e := newEnvWith(t, w, envOptions{
		notion: func(c *notion.Config) {
			proxy = newHoldProxy(t, c.BaseURL, func(r *http.Request, body []byte) bool {
				return r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/children") && bytes.Contains(body, []byte("ten o'clock"))
			})
			c.BaseURL = proxy.srv.URL
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

	fb.set(up("k", "same", at(9)).Content("para one"))
	e.run(b, "syncB", quiet)

	// A appends the 10:00 paragraph; the append is held on its way.
	fa.set(up("k", "same", at(10)).Content("para one\n\nten o'clock"))
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		if _, err := a.RunCycle(ctx, "syncA", "a-run", quiet); err != nil {
			t.Errorf("A's run: %v", err)
		}
	}()
	select {
	case <-proxy.held:
	case <-time.After(30 * time.Second):
		t.Fatal("A's block append never reached Notion")
	}
	// A stalls past its claim: another writer claimed the key and its
	// claim ran out.
	pipe := e.redis.Client().TxPipeline()
	pipe.Del(ctx, rdb.ClaimKey("items", "k"))
	pipe.HSet(ctx, rdb.HeldKey("items"), "k", "a-writer-that-came-and-went")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
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
	// A's append reaches Notion after all.
	proxy.letGo()
	select {
	case <-proxy.landed:
	case <-time.After(30 * time.Second):
		t.Fatal("A's held append never landed")
	}
	if got := body(); len(got) != 3 {
		t.Fatalf("after A's late append the body is %q: the scenario did not happen", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.eng.CheckDoubts(ctx); err != nil {
			t.Fatal(err)
		}
		got := body()
		if same(got, "para one", "eleven o'clock") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the body is %q, want B's (para one, eleven o'clock): A's late append stayed", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The record still describes the body: an edit costs no read-back.
	fb.set(up("k", "same", at(12)).Content("para one\n\ntwelve o'clock"))
	e.run(b, "syncB", quiet)
	if got := body(); !same(got, "para one", "twelve o'clock") {
		t.Fatalf("after the next write the body is %q", got)
	}
}
