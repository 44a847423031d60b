package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/internal/engine"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/holdproxy"
	"github.com/synqhq/synq/schema"
)

// shotFeed is a sync's upstream that returns whatever changes the test
// set, in one page, at every run.
type shotFeed struct {
	mu      sync.Mutex
	changes []synq.Change
}

func (f *shotFeed) set(c ...synq.Change) {
	f.mu.Lock()
	f.changes = c
	f.mu.Unlock()
}

func (f *shotFeed) execute(context.Context, *feedState) (synq.Result[feedState], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return synq.Result[feedState]{Changes: f.changes}, nil
}

// A writer whose claim on a key is lost while its Notion request is in
// flight: writer A sends the 10:00 value and stalls (its request held on
// the way to Notion) past its claim; writer B claims the key and writes
// the 11:00 value; A's request reaches Notion after that. Notion ends with
// one row holding the 11:00 value: A's request was cancelled with its
// claim, A decided the row again (skipped: older), and B's write, left in
// doubt, was checked and sent again after A's landed — for an update (an
// older value over a newer one) and for a create (a second page for the
// key, trashed).
func TestClaimLostWhileNotionRequestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		exists bool // the row exists before: A and B update it
	}{
		{"update", http.MethodPatch, true},
		{"create", http.MethodPost, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
						return r.Method == tc.method && strings.HasPrefix(r.URL.Path, "/v1/pages") && bytes.Contains(body, []byte("ten o'clock"))
					})
					c.BaseURL = proxy.URL()
				},
				engine: func(c *engine.Config) { c.DoubtFirst = 50 * time.Millisecond },
			})
			ctx := context.Background()
			provision(t, e)
			b := e.newEngine()
			a := e.engineWith(func(c *engine.Config) { c.ClaimTTL = 600 * time.Millisecond })
			if tc.exists {
				fb.set(up("k", "nine o'clock", at(9)))
				e.run(b, "syncB", quiet)
			}

			// A sends the 10:00 value; it is held on its way.
			fa.set(up("k", "ten o'clock", at(10)))
			aDone := make(chan engine.CycleResult, 1)
			go func() {
				res, err := a.RunCycle(ctx, "syncA", "a-run", quiet)
				if err != nil {
					t.Errorf("A's run: %v", err)
				}
				aDone <- res
			}()
			select {
			case <-proxy.Held():
			case <-time.After(30 * time.Second):
				t.Fatal("A's request never reached Notion")
			}
			// A stalls past its claim.
			e.claimTakenAndExpired(t, "items", "k")
			// B writes the 11:00 value.
			fb.set(up("k", "eleven o'clock", at(11)))
			e.run(b, "syncB", quiet)
			// A finds its claim lost; its request is cancelled and the row
			// decided again: older than B's, it is skipped.
			var resA engine.CycleResult
			select {
			case resA = <-aDone:
			case <-time.After(5 * time.Second):
				t.Error("A's write did not stop when its claim was lost")
			}
			// A's request reaches Notion after all.
			proxy.Release()
			select {
			case <-proxy.Landed():
			case <-time.After(30 * time.Second):
				t.Fatal("A's held request never landed")
			}
			// It landed: an older value over the newer one, or a second page.
			if got := pagesOf(t, e, "k"); (tc.exists && (len(got) != 1 || got[0] != "ten o'clock")) || (!tc.exists && len(got) != 2) {
				t.Fatalf("after A's late request Notion holds %q: the scenario did not happen", got)
			}
			if resA.Counters != nil && resA.Counters["skipped"] != 1 {
				t.Errorf("A's counters = %v, want its older change skipped", resA.Counters)
			}
			// The doubt checks put things right.
			deadline := time.Now().Add(20 * time.Second)
			var bodies []string
			for {
				if _, err := e.eng.CheckDoubts(ctx); err != nil {
					t.Fatal(err)
				}
				bodies = pagesOf(t, e, "k")
				if len(bodies) == 1 && bodies[0] == "eleven o'clock" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Notion holds %q for key k, want one row with the 11:00 value", bodies)
				}
				time.Sleep(50 * time.Millisecond)
			}
			m, _ := e.rdb.IndexGet(ctx, "items", []string{"k"})
			if m["k"].Upstream != at(11).UnixNano() {
				t.Errorf("index upstream = %v, want 11:00", time.Unix(0, m["k"].Upstream).UTC())
			}
		})
	}
}

// pagesOf returns the Body of every live page of key.
func pagesOf(t *testing.T, e *env, key string) []string {
	t.Helper()
	ids, _, err := e.rdb.GetDatabase(context.Background(), "items")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = e.notion.QueryAll(context.Background(), ids.DataSourceID, notion.QueryRequest{}, func(p *notion.Page) error {
		if p.Properties["ID"].Text() == key {
			out = append(out, p.Properties["Body"].Text())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// claimTakenAndExpired is what a writer stalled past its claim finds when
// it wakes: another writer claimed db/key and that claim ran out too. Done
// atomically, so the stalled writer cannot renew its claim in between.
func (e *env) claimTakenAndExpired(t *testing.T, db, key string) {
	t.Helper()
	pipe := e.redis.Client().TxPipeline()
	pipe.Del(context.Background(), rdb.ClaimKey(db, key))
	pipe.HSet(context.Background(), rdb.HeldKey(db), key, "a-writer-that-came-and-went")
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}
