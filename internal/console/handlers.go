package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/alerts"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.overview)
	mux.HandleFunc("GET /syncs", c.syncs)
	mux.HandleFunc("GET /syncs/{key}", c.syncDetail)
	mux.HandleFunc("POST /syncs/{key}/trigger", c.trigger)
	mux.HandleFunc("GET /syncs/{key}/trigger", c.confirmPage("trigger"))
	mux.HandleFunc("POST /syncs/{key}/pause", c.pause)
	mux.HandleFunc("POST /syncs/{key}/resume", c.resume)
	mux.HandleFunc("GET /syncs/{key}/reset", c.confirmPage("reset"))
	mux.HandleFunc("POST /syncs/{key}/reset", c.reset)
	mux.HandleFunc("GET /syncs/{key}/forget", c.confirmPage("forget"))
	mux.HandleFunc("POST /syncs/{key}/forget", c.forget)
	mux.HandleFunc("GET /syncs/{key}/preview", c.previewForm)
	mux.HandleFunc("POST /syncs/{key}/preview", c.preview)
	mux.HandleFunc("GET /runs/{id}", c.runDetail)
	mux.HandleFunc("GET /runs/{id}/events", c.runEvents)
	mux.HandleFunc("GET /runs/{id}/cancel", c.confirmCancel)
	mux.HandleFunc("POST /runs/{id}/cancel", c.cancel)
	mux.HandleFunc("GET /pacers", c.pacers)
	mux.HandleFunc("GET /webhooks", c.webhooks)
	mux.HandleFunc("POST /webhooks/{key}/enable", c.enableWebhook)
	mux.HandleFunc("GET /executors", c.executors)
	mux.HandleFunc("GET /alerts", c.alerts)
	mux.HandleFunc("GET /login", c.login)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.logout)
	mux.HandleFunc("GET /static/{name}", c.static)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "Page not found", fmt.Sprintf("There is no page at %s: start from the overview.", r.URL.Path))
	})
	// Cross-origin protection refuses state-changing requests that a
	// browser marks as coming from another site, before the CSRF token is
	// even looked at.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "Request refused (cross-origin)", "This request came from another site: the console only accepts its own forms.")
	}))
	return cop.Handler(c.guard(mux))
}

func (c *Console) refresh() int { return max(1, int(c.cfg.Refresh/time.Second)) }

// healthOrder is how the overview lists health, worst first.
var healthOrder = []ops.Health{ops.Error, ops.Warning, ops.Initializing, ops.Disabled, ops.Healthy}

// reason says in words why a sync has its health.
func reason(v ops.View) string { return v.HealthReason() }

type healthCount struct {
	Health ops.Health
	N      int
}

type overviewData struct {
	Total, Undeclared int
	Counts            []healthCount
	Active            []ops.View
	Failures          []rdb.Run
	Notion            []ops.PacerView
	Leader            ops.Leader
	Me                string
	Executors         int
	InFlight          int
	Capacity          int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Statuses of every sync (pipelined), views of the active ones only:
	// the overview stays cheap at thousands of syncs.
	ls, sum, err := c.ops.Match(ctx, ops.Filter{})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := overviewData{Total: sum.Total, Undeclared: sum.Undeclared, Me: c.cfg.SchedulerID}
	var active []ops.Listed
	for _, l := range ls {
		if l.Status.ActiveRun != "" {
			active = append(active, l)
		}
	}
	if d.Active, err = c.ops.ViewsOf(ctx, active); err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, h := range healthOrder {
		d.Counts = append(d.Counts, healthCount{h, sum.Counts[h]})
	}
	if d.Failures, err = c.ops.Failures(ctx, c.cfg.Now().Add(-24*time.Hour)); err != nil {
		c.failErr(w, r, err)
		return
	}
	pacers, err := c.ops.Pacers(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, p := range pacers {
		if p.Kind != ops.PacerSDK {
			d.Notion = append(d.Notion, p)
		}
	}
	if d.Leader, err = c.ops.Leader(ctx); err != nil {
		c.failErr(w, r, err)
		return
	}
	xs, err := c.ops.Executors(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d.Executors = len(xs)
	for _, x := range xs {
		d.InFlight += x.InFlight
		d.Capacity += x.Concurrency
	}
	c.render(w, r, "overview", page{Title: "Overview", Nav: "overview", Data: d, Refresh: c.refresh()})
}

type syncRow struct {
	ops.View
	Reason string
	DB     ops.DatabaseInfo
}

type syncsData struct {
	Rows    []syncRow
	All     int
	Matched int
	Q       string
	Health  string
	Healths []ops.Health
	Worker  string
	Workers []string
	// After is the key this page lists after; Next the key the next page
	// lists after ("" on the last page).
	After, Next string
}

// syncsPage is how many syncs one page of the syncs table lists: at ten
// thousand syncs the page stays far below 100 KB.
const syncsPage = 50

func (c *Console) syncs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	d := syncsData{Q: strings.TrimSpace(q.Get("q")), Health: strings.ToUpper(q.Get("health")), Healths: healthOrder,
		Worker: q.Get("worker"), After: q.Get("after")}
	f := ops.Filter{Words: d.Q, Worker: d.Worker}
	switch {
	case d.Health == "UNDECLARED":
		f.Undeclared = true
	case d.Health != "":
		f.Health = []ops.Health{ops.Health(d.Health)}
	}
	p, err := c.ops.List(ctx, f, d.After, syncsPage)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d.Matched, d.Next = p.Matched, p.Next
	if d.Workers, err = c.ops.Workers(ctx); err != nil {
		c.failErr(w, r, err)
		return
	}
	d.All = p.Summary.All
	dbs := map[string]ops.DatabaseInfo{}
	for _, v := range p.Views {
		db, ok := dbs[v.Database]
		if !ok {
			if db, err = c.ops.Database(ctx, v.Database); err != nil {
				c.failErr(w, r, err)
				return
			}
			dbs[v.Database] = db
		}
		d.Rows = append(d.Rows, syncRow{View: v, Reason: reason(v), DB: db})
	}
	c.render(w, r, "syncs", page{Title: "Syncs", Nav: "syncs", Data: d, Refresh: c.refresh()})
}

type syncData struct {
	syncRow
	Runs     []rdb.Run
	State    string
	StateLen int
	More     bool
}

// stateShown bounds the state JSON a page shows.
const stateShown = 64 << 10

func (c *Console) syncDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := c.ops.View(ctx, r.PathValue("key"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := syncData{syncRow: syncRow{View: v, Reason: reason(v)}}
	if d.DB, err = c.ops.Database(ctx, v.Database); err != nil {
		c.failErr(w, r, err)
		return
	}
	runs, err := c.ops.Runs(ctx, v.Key, 0, 26)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if len(runs) > 25 {
		runs, d.More = runs[:25], true
	}
	d.Runs = runs
	st, err := c.ops.State(ctx, v.Key)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d.StateLen = len(st)
	if len(st) > stateShown {
		d.State = string(st[:stateShown]) + "\n… (" + fmtNum(int64(len(st))) + " bytes in all: `ctl state get " + v.Key + "` prints it whole)"
	} else {
		d.State = prettyJSON(st)
	}
	c.render(w, r, "sync", page{Title: v.Key, Nav: "syncs", Data: d, Refresh: c.refresh()})
}

func (c *Console) back(w http.ResponseWriter, r *http.Request, to, done string) {
	http.Redirect(w, r, to+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func syncURL(key string) string { return "/syncs/" + url.PathEscape(key) }
func runURL(id string) string   { return "/runs/" + url.PathEscape(id) }

// confirmData is a confirmation page for an action that destroys
// something (or lifts a guard).
type confirmData struct {
	Action, Key, Run, Question, Detail, Button, PostTo, Back string
	Danger                                                   bool
	Fields                                                   map[string]string
}

func (c *Console) confirmPage(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := c.ops.View(r.Context(), r.PathValue("key"))
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		c.confirm(w, r, action, v)
	}
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request, action string, v ops.View) {
	d := confirmData{Action: action, Key: v.Key, PostTo: syncURL(v.Key) + "/" + action, Back: syncURL(v.Key), Danger: true,
		Fields: map[string]string{"confirm": "yes"}}
	switch action {
	case "reset":
		d.Question = "Reset the state of " + v.Key + "?"
		d.Detail = "The committed state and any replace cycle under way are cleared: the next run starts from the beginning (a replace sync reads everything again; an incremental sync loses its cursor). Notion rows are not touched."
		d.Button = "Reset state"
	case "forget":
		d.Question = "Forget " + v.Key + "?"
		d.Detail = "Every record of the sync goes from Redis: its state, runs, logs and health. Its rows in Notion stay. Only a sync that no live executor declares can be forgotten."
		d.Button = "Forget sync"
	case "trigger":
		d.Question = "Start a run of " + v.Key + " without the deletion guard?"
		d.Detail = "This run may trash any share of the database's rows that the upstream no longer returns — even all of them, if the upstream answers empty. Use it when a large deletion is expected."
		d.Button = "Start run, allow trash"
		d.Fields["allow_trash"] = "1"
	}
	c.render(w, r, "confirm", page{Title: d.Question, Nav: "syncs", Data: d})
}

func confirmed(r *http.Request) bool { return r.PostFormValue("confirm") == "yes" }

func (c *Console) trigger(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	allow := r.PostFormValue("allow_trash") == "1"
	if allow && !confirmed(r) {
		v, err := c.ops.View(r.Context(), key)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		c.confirm(w, r, "trigger", v)
		return
	}
	run, err := c.ops.Trigger(r.Context(), key, "manual", ops.TriggerOptions{AllowTrash: allow})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, runURL(run), "triggered")
}

func (c *Console) pause(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := c.ops.Pause(r.Context(), key); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, syncURL(key), "paused")
}

func (c *Console) resume(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if _, err := c.ops.Resume(r.Context(), key); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, syncURL(key), "resumed")
}

func (c *Console) reset(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !confirmed(r) {
		c.confirmPage("reset")(w, r)
		return
	}
	if err := c.ops.ResetState(r.Context(), key); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, syncURL(key), "reset")
}

func (c *Console) forget(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !confirmed(r) {
		c.confirmPage("forget")(w, r)
		return
	}
	if err := c.ops.Forget(r.Context(), key); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, "/syncs", "forgotten")
}

func (c *Console) confirmCancel(w http.ResponseWriter, r *http.Request) {
	run, err := c.ops.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := confirmData{Action: "cancel", Key: run.Sync, Run: run.ID, PostTo: runURL(run.ID) + "/cancel", Back: runURL(run.ID), Danger: true,
		Question: "Cancel run " + run.ID + "?", Button: "Cancel run", Fields: map[string]string{"confirm": "yes"},
		Detail: "The page in flight finishes its writes and no further page runs. A cancelled replace cycle trashes nothing; the next run resumes the cycle from its committed state."}
	c.render(w, r, "confirm", page{Title: d.Question, Nav: "syncs", Data: d})
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !confirmed(r) {
		c.confirmCancel(w, r)
		return
	}
	if _, err := c.ops.Cancel(r.Context(), id); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, runURL(id), "cancelled")
}

type runData struct {
	Run   rdb.Run
	Pages []rdb.PageRecord
	Log   []rdb.LogLine
	// NextLog is the sequence number of the line after Log: the live log
	// follows from there (past the log cap, too).
	NextLog int64
	Active  bool
	// Page is the page the run is on (running) or continues with (parked).
	Page int
}

func (c *Console) runData(r *http.Request, id string) (runData, error) {
	ctx := r.Context()
	run, err := c.ops.Run(ctx, id)
	if err != nil {
		return runData{}, err
	}
	pages, err := c.ops.RunPages(ctx, id)
	if err != nil {
		return runData{}, err
	}
	d := runData{Run: run, Pages: pages, Active: !run.Ended(), Page: run.TaskPage}
	if run.Status == rdb.RunParked {
		d.Page = run.ParkedPage
	}
	return d, nil
}

func (c *Console) runDetail(w http.ResponseWriter, r *http.Request) {
	d, err := c.runData(r, r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if d.Log, err = c.ops.Logs(r.Context(), d.Run.ID, 0); err != nil {
		c.failErr(w, r, err)
		return
	}
	if n := len(d.Log); n > 0 {
		d.NextLog = d.Log[n-1].Seq + 1
	}
	c.render(w, r, "run", page{Title: d.Run.ID, Nav: "syncs", Data: d})
}

type previewData struct {
	View  ops.View
	State string
	// After a preview ran:
	Ran      bool
	Result   ops.PreviewResult
	Groups   []previewGroup
	Took     time.Duration
	Counts   map[string]int
	NextJSON string
}

type previewGroup struct {
	Kind, Title, Hint string
	Changes           []previewRow
	Open              bool
}

type previewRow struct {
	ops.PreviewChange
	Changed []string
	Same    []string
}

func (c *Console) previewForm(w http.ResponseWriter, r *http.Request) {
	v, err := c.ops.View(r.Context(), r.PathValue("key"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.render(w, r, "preview", page{Title: "Preview " + v.Key, Nav: "syncs", Data: previewData{View: v}})
}

func (c *Console) preview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := c.ops.View(ctx, r.PathValue("key"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := previewData{View: v, State: strings.TrimSpace(r.PostFormValue("state"))}
	var state json.RawMessage
	if d.State != "" {
		state = json.RawMessage(d.State)
	}
	// A preview waits for an executor to run one page (up to the sync's
	// Timeout): longer than the server's timeouts allow an ordinary page.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(v.Timeout + 2*time.Minute))
	start := time.Now()
	res, err := c.ops.Preview(ctx, v.Key, state)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d.Ran, d.Result, d.Took, d.NextJSON = true, res, time.Since(start), prettyJSON(res.NextState)
	d.Counts = map[string]int{}
	groups := map[string]*previewGroup{
		"created":   {Kind: "created", Title: "Created", Hint: "new keys: one page each", Open: true},
		"updated":   {Kind: "updated", Title: "Updated", Hint: "old → new, changed properties first", Open: true},
		"trashed":   {Kind: "trashed", Title: "Trashed", Hint: "deleted upstream: moved to Notion's trash", Open: true},
		"skipped":   {Kind: "skipped", Title: "Skipped as stale", Hint: "older than what was written for the key"},
		"unchanged": {Kind: "unchanged", Title: "Unchanged", Hint: "same content: no Notion call"},
	}
	for _, ch := range res.Changes {
		d.Counts[ch.Kind]++
		g := groups[ch.Kind]
		if g == nil {
			continue
		}
		row := previewRow{PreviewChange: ch}
		if ch.Kind == "updated" && ch.Old != nil {
			row.Changed = ch.Changed()
			for _, k := range sortedKeys(ch.Properties) {
				if !slices.Contains(row.Changed, k) {
					row.Same = append(row.Same, k)
				}
			}
		}
		g.Changes = append(g.Changes, row)
	}
	for _, k := range []string{"created", "updated", "trashed", "skipped", "unchanged"} {
		d.Groups = append(d.Groups, *groups[k])
	}
	c.render(w, r, "preview", page{Title: "Preview " + v.Key, Nav: "syncs", Data: d})
}

type pacersData struct {
	Pacers []ops.PacerView
	// Syncs are the known sync keys: consumers that are syncs link to them.
	Syncs []string
}

func (c *Console) pacers(w http.ResponseWriter, r *http.Request) {
	ps, err := c.ops.Pacers(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	cat, err := c.ops.Catalog(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := pacersData{Pacers: ps}
	for k := range cat {
		d.Syncs = append(d.Syncs, k)
	}
	c.render(w, r, "pacers", page{Title: "Pacers", Nav: "pacers", Data: d, Refresh: c.refresh()})
}

type executorsData struct {
	Executors []ops.Executor
	Queues    []ops.Queue
	Leader    ops.Leader
	Me        string
	Builds    map[string]string // worker → newest live build
}

func (c *Console) executors(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	xs, err := c.ops.Executors(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	qs, err := c.ops.Queues(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	l, err := c.ops.Leader(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.render(w, r, "executors", page{Title: "Executors and queues", Nav: "executors", Refresh: c.refresh(),
		Data: executorsData{Executors: xs, Queues: qs, Leader: l, Me: c.cfg.SchedulerID}})
}

// scheduleText says when a sync runs, in words.
func scheduleText(s spec.Schedule) string {
	switch s.Kind {
	case spec.Manual:
		return "manual"
	case spec.Continuous:
		return "continuous"
	}
	return "every " + s.Text
}

type webhooksData struct {
	Webhooks   []ops.WebhookView
	Deliveries map[string][]rdb.WebhookDeliveryRecord
}

// webhookDeliveriesShown is how many recent deliveries a webhook shows.
const webhookDeliveriesShown = 20

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request) {
	vs, err := c.ops.Webhooks(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := webhooksData{Webhooks: vs, Deliveries: map[string][]rdb.WebhookDeliveryRecord{}}
	for _, v := range vs {
		ds, err := c.ops.Deliveries(r.Context(), v.Key, webhookDeliveriesShown)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		d.Deliveries[v.Key] = ds
	}
	c.render(w, r, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Data: d, Refresh: c.refresh()})
}

func (c *Console) enableWebhook(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if _, err := c.ops.EnableWebhook(r.Context(), key); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.back(w, r, "/webhooks", "enabled")
}

type alertRow struct {
	alerts.Notification
	Created    time.Time
	Deliveries []rdb.DeliveryRecord
}

type alertsData struct {
	Alerts       []alertRow
	Destinations []string
}

func (c *Console) alerts(w http.ResponseWriter, r *http.Request) {
	recs, err := c.ops.RDB().RecentAlerts(r.Context(), 100)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	d := alertsData{Destinations: c.cfg.AlertDestinations}
	for _, rec := range recs {
		n, err := alerts.Decode(rec.Payload)
		if err != nil {
			continue
		}
		d.Alerts = append(d.Alerts, alertRow{Notification: n, Created: rec.Created, Deliveries: rec.Deliveries})
	}
	c.render(w, r, "alerts", page{Title: "Alerts", Nav: "alerts", Data: d, Refresh: c.refresh()})
}
