// Command testworker is the executor the end-to-end tests run as separate
// processes: a worker whose syncs misbehave on demand.
//
// Env: the executor's own (REDIS_URL, NOTION_*), plus E2E_PAGES and
// E2E_ROWS (pages per run and rows per page of pagesSync), E2E_SLEEP (time
// Execute takes per page), E2E_MAX_ATTEMPTS (pagesSync's MaxAttempts),
// E2E_SCHEDULE (scheduledSync's schedule: a rolling deploy changes it),
// E2E_RETIRED=1 (declare retiredSync, which a later deploy drops),
// E2E_BODY_FILE and E2E_BODY_ROWS (declare bodySync: rows whose page body
// is that file's Markdown) and
// E2E_WEBHOOK=1 (declare the "events" webhook, see declareWebhook),
// E2E_SHARED=1 (declare sharedA and sharedB, which write the same keys:
// see sharedExec) and
// E2E_MARK (a file each Execute call appends "<sync> <page> <pid>" to, so
// tests can see who ran what).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

type pageState struct {
	Page int `json:"page"`
}

func main() {
	pages := envInt("E2E_PAGES", 3)
	rows := envInt("E2E_ROWS", 5)
	sleep, _ := time.ParseDuration(os.Getenv("E2E_SLEEP"))

	w := synq.NewWorker(synq.WorkerConfig{Name: "e2e"})
	schedule := os.Getenv("E2E_SCHEDULE")
	if schedule == "" {
		schedule = "5m"
	}
	things := w.Database("things", synq.DatabaseConfig{
		InitialTitle: "Things",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title(), "Page": schema.Number()},
	})
	// scheduledSync runs on its own as soon as a scheduler starts: it
	// writes to its own database so that it never races the replace
	// cycles of the syncs a test triggers.
	ticks := w.Database("ticks", synq.DatabaseConfig{
		InitialTitle: "Ticks",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title(), "Page": schema.Number()},
	})
	pagesExec := func(name string) func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
		return func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark(name, s.Page)
			synq.Logger(ctx).Info("fetching page")
			select {
			case <-time.After(sleep):
			case <-ctx.Done():
				return synq.Result[pageState]{}, ctx.Err()
			}
			res := synq.Result[pageState]{HasMore: s.Page+1 < pages, NextState: &pageState{Page: s.Page + 1}}
			for r := range rows {
				k := fmt.Sprintf("%s-%03d-%03d", name, s.Page, r)
				res.Changes = append(res.Changes, synq.Upsert(k, builder.Properties{"Page": builder.Int(int64(s.Page))}))
			}
			return res, nil
		}
	}
	synq.AddSync(w, "pagesSync", synq.SyncConfig[pageState]{Database: things, Schedule: "manual", Execute: pagesExec("pagesSync"),
		MaxAttempts: envInt("E2E_MAX_ATTEMPTS", 0)})
	synq.AddSync(w, "scheduledSync", synq.SyncConfig[pageState]{Database: ticks, Mode: synq.Incremental, Schedule: schedule, Execute: pagesExec("scheduledSync")})
	// flakySync fails its first attempt at a page and is slow on the
	// second, its last: the test kills the executor then.
	synq.AddSync(w, "flakySync", synq.SyncConfig[pageState]{Database: ticks, Mode: synq.Incremental, Schedule: "manual", MaxAttempts: 2,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark("flakySync", s.Page)
			if count("flakySync") == 1 {
				return synq.Result[pageState]{}, errors.New("first attempt fails")
			}
			time.Sleep(time.Hour)
			return synq.Result[pageState]{}, nil
		}})
	// hangSync ignores its context: the page stops waiting for it.
	synq.AddSync(w, "hangSync", synq.SyncConfig[pageState]{Database: ticks, Mode: synq.Incremental, Schedule: "manual", MaxAttempts: 1, Timeout: time.Second,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark("hangSync", s.Page)
			time.Sleep(time.Hour)
			return synq.Result[pageState]{}, nil
		}})
	// bodySync (declared when E2E_BODY_FILE is set) upserts E2E_BODY_ROWS
	// rows (default 1) whose page body is the Markdown in that file, read
	// at every Execute: a test changes the file between runs.
	if path := os.Getenv("E2E_BODY_FILE"); path != "" {
		docs := w.Database("docs", synq.DatabaseConfig{
			InitialTitle: "Docs",
			PrimaryKey:   "Key",
			Schema:       schema.Properties{"Key": schema.Title()},
		})
		synq.AddSync(w, "bodySync", synq.SyncConfig[pageState]{Database: docs, Mode: synq.Incremental, Schedule: "manual",
			Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
				mark("bodySync", s.Page)
				md, err := os.ReadFile(path)
				if err != nil {
					return synq.Result[pageState]{}, err
				}
				var res synq.Result[pageState]
				for r := range envInt("E2E_BODY_ROWS", 1) {
					res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("doc-%d", r), nil).Content(string(md)))
				}
				return res, nil
			}})
	}
	if os.Getenv("E2E_RETIRED") == "1" {
		retired := w.Database("retired", synq.DatabaseConfig{
			InitialTitle: "Retired",
			PrimaryKey:   "Key",
			Schema:       schema.Properties{"Key": schema.Title(), "Page": schema.Number()},
		})
		synq.AddSync(w, "retiredSync", synq.SyncConfig[pageState]{Database: retired, Mode: synq.Incremental, Schedule: "5m", Execute: pagesExec("retiredSync")})
	}
	// E2E_WEBHOOK=1 declares the "events" webhook and slowSync, which
	// takes E2E_SLOW (default 15s) per run: webhook deliveries that
	// trigger it arrive while it runs.
	if os.Getenv("E2E_WEBHOOK") == "1" {
		slowFor, err := time.ParseDuration(os.Getenv("E2E_SLOW"))
		if err != nil {
			slowFor = 15 * time.Second
		}
		slow := synq.AddSync(w, "slowSync", synq.SyncConfig[pageState]{Database: ticks, Mode: synq.Incremental, Schedule: "manual",
			Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
				mark("slowSync", s.Page)
				select {
				case <-time.After(slowFor):
				case <-ctx.Done():
					return synq.Result[pageState]{}, ctx.Err()
				}
				return synq.Result[pageState]{}, nil
			}})
		declareWebhook(w, slow)
	}
	synq.AddSync(w, "noopSync", synq.SyncConfig[pageState]{Database: things, Mode: synq.Incremental, Schedule: "manual",
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark("noopSync", s.Page)
			return synq.Result[pageState]{}, nil
		}})
	synq.AddSync(w, "failSync", synq.SyncConfig[pageState]{Database: things, Schedule: "manual", MaxAttempts: 1,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark("failSync", s.Page)
			return synq.Result[pageState]{}, errors.New("upstream says no")
		}})
	// flipSync (E2E_FLIP=1) fails while the file $E2E_MARK.broken exists:
	// a test breaks and mends its upstream. Off by default, so tests that
	// list the worker's syncs see the same ones.
	if os.Getenv("E2E_FLIP") == "1" {
		synq.AddSync(w, "flipSync", synq.SyncConfig[pageState]{Database: things, Mode: synq.Incremental, Schedule: "manual", MaxAttempts: 1,
			Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
				mark("flipSync", s.Page)
				if _, err := os.Stat(os.Getenv("E2E_MARK") + ".broken"); err == nil {
					return synq.Result[pageState]{}, errors.New("helpdesk answered 502 Bad Gateway")
				}
				return synq.Result[pageState]{}, nil
			}})
	}
	synq.AddSync(w, "panicSync", synq.SyncConfig[pageState]{Database: things, Schedule: "manual", MaxAttempts: 2,
		Execute: func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
			mark("panicSync", s.Page)
			var m map[string]int
			m["boom"]++ // a nil map write: a real bug in user code
			return synq.Result[pageState]{}, nil
		}})
	if os.Getenv("E2E_SHARED") == "1" {
		synq.AddSync(w, "sharedA", synq.SyncConfig[pageState]{Database: things, Mode: synq.Incremental, Schedule: "manual", Execute: sharedExec("sharedA", 1, pages, rows, sleep)})
		synq.AddSync(w, "sharedB", synq.SyncConfig[pageState]{Database: things, Mode: synq.Incremental, Schedule: "manual", Execute: sharedExec("sharedB", 2, pages, rows, sleep)})
	}
	// Load syncs for the scaling benchmark: many runs at once.
	for i := range envInt("E2E_LOAD_SYNCS", 0) {
		name := fmt.Sprintf("load%02d", i)
		synq.AddSync(w, name, synq.SyncConfig[pageState]{Database: things, Mode: synq.Incremental, Schedule: "manual", Execute: pagesExec(name)})
	}
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		log.Fatal(err)
	}
}

// hookEvent is the body the e2e tests send to the "events" webhook.
type hookEvent struct {
	Key     string    `json:"key"`
	Title   string    `json:"title"`
	N       int64     `json:"n"`
	Updated time.Time `json:"updated"`
	// Fail fails this many attempts first; Sleep is how long Handle takes.
	Fail  int    `json:"fail"`
	Sleep string `json:"sleep"`
	// Trigger asks for a run of slowSync.
	Trigger bool `json:"trigger"`
}

// declareWebhook declares the "events" webhook: HMAC-SHA256 of the body
// in X-Signature with the secret E2E_WEBHOOK_SECRET; each delivery
// upserts its key into the "hooked" database and may trigger slowSync.
func declareWebhook(w *synq.Worker, slow *synq.Sync) {
	hooked := w.Database("hooked", synq.DatabaseConfig{
		InitialTitle: "Hooked",
		PrimaryKey:   "Key",
		Schema:       schema.Properties{"Key": schema.Title(), "Title": schema.RichText(), "N": schema.Number()},
	})
	synq.AddWebhook(w, "events", synq.WebhookConfig{
		Verify:   synq.VerifyHMACSHA256("X-Signature", "sha256=", "E2E_WEBHOOK_SECRET"),
		Database: hooked,
		Handle: func(ctx context.Context, d *synq.WebhookDelivery) (synq.WebhookResult, error) {
			var ev hookEvent
			if err := d.JSON(&ev); err != nil {
				return synq.WebhookResult{}, err
			}
			mark("webhook:"+ev.Key, d.Attempt)
			if d.Attempt <= ev.Fail {
				return synq.WebhookResult{}, fmt.Errorf("attempt %d fails on purpose", d.Attempt)
			}
			if t, _ := time.ParseDuration(ev.Sleep); t > 0 {
				select {
				case <-time.After(t):
				case <-ctx.Done():
					return synq.WebhookResult{}, ctx.Err()
				}
			}
			var res synq.WebhookResult
			if ev.Key != "" {
				c := synq.Upsert(ev.Key, builder.Properties{"Title": builder.RichText(ev.Title), "N": builder.Int(ev.N)})
				if !ev.Updated.IsZero() {
					c = c.UpdatedAt(ev.Updated)
				}
				res.Changes = append(res.Changes, c)
			}
			if ev.Trigger {
				res.Trigger = append(res.Trigger, slow)
			}
			return res, nil
		},
	})
}

func mark(sync string, page int) {
	path := os.Getenv("E2E_MARK")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %d %d %d\n", sync, page, os.Getpid(), time.Now().UnixNano())
}

// count returns how many Execute calls of sync the mark file holds.
func count(sync string) int {
	b, _ := os.ReadFile(os.Getenv("E2E_MARK"))
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, sync+" ") {
			n++
		}
	}
	return n
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}

// sharedBase is the upstream time of sharedA's and sharedB's rows.
var sharedBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sharedExec is sharedA's (v 1) or sharedB's (v 2) Execute: both write
// the keys shared-<page>-<row> with Page = v, sharedA's newer (sharedBase
// + 2h, else + 1h) on even rows and sharedB's on odd ones. Whatever order
// their writes land in, a key ends with the newer value: 1 on even rows,
// 2 on odd ones.
func sharedExec(name string, v int64, pages, rows int, sleep time.Duration) func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
	return func(ctx context.Context, s *pageState) (synq.Result[pageState], error) {
		mark(name, s.Page)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return synq.Result[pageState]{}, ctx.Err()
		}
		res := synq.Result[pageState]{HasMore: s.Page+1 < pages, NextState: &pageState{Page: s.Page + 1}}
		for r := range rows {
			newer := (r%2 == 0) == (v == 1)
			at := sharedBase.Add(time.Hour)
			if newer {
				at = sharedBase.Add(2 * time.Hour)
			}
			k := fmt.Sprintf("shared-%03d-%03d", s.Page, r)
			res.Changes = append(res.Changes, synq.Upsert(k, builder.Properties{"Page": builder.Int(v)}).UpdatedAt(at))
		}
		return res, nil
	}
}
