package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/runs"
)

// pass is one detector pass's view of the alert state: the fields it read
// and the changes it will make, applied together only if none of the read
// fields changed meanwhile.
type pass struct {
	orig    map[string]string
	cur     map[string]string
	changed []string
	alerts  []Notification
}

func newPass(state map[string]string) *pass {
	cur := make(map[string]string, len(state))
	for k, v := range state {
		cur[k] = v
	}
	return &pass{orig: state, cur: cur}
}

func (p *pass) get(f string) string { return p.cur[f] }

func (p *pass) set(f, v string) {
	if p.cur[f] == v {
		return
	}
	if !slices.Contains(p.changed, f) {
		p.changed = append(p.changed, f)
	}
	if v == "" {
		delete(p.cur, f)
	} else {
		p.cur[f] = v
	}
}

func (p *pass) notify(n Notification) { p.alerts = append(p.alerts, n) }

// record applies the pass. false: another leader changed the state first.
func (d *Service) record(ctx context.Context, p *pass) (bool, error) {
	if len(p.changed) == 0 && len(p.alerts) == 0 {
		return true, nil
	}
	changes := make([]rdb.StateChange, 0, len(p.changed))
	for _, f := range p.changed {
		changes = append(changes, rdb.StateChange{Field: f, Expect: p.orig[f], New: p.cur[f]})
	}
	dests := make([]string, 0, len(d.cfg.Destinations))
	for _, dst := range d.cfg.Destinations {
		dests = append(dests, dst.ID())
	}
	news := make([]rdb.NewAlert, 0, len(p.alerts))
	for _, n := range p.alerts {
		b, err := json.Marshal(n)
		if err != nil {
			return false, fmt.Errorf("alerts: encode notification: %w", err)
		}
		news = append(news, rdb.NewAlert{ID: n.ID, Kind: string(n.Kind), Payload: b, Dests: dests})
	}
	ok, err := d.rdb.RecordAlerts(ctx, changes, news)
	if err != nil || !ok {
		return ok, err
	}
	for _, n := range p.alerts {
		d.log.Info("alert", "kind", n.Kind, "severity", n.Severity, "title", n.Title, "id", n.ID)
		if m := d.cfg.Metrics; m != nil {
			m.Alerts.WithLabelValues(string(n.Kind), n.Severity).Inc()
		}
	}
	return true, nil
}

// Detect runs one detector pass: run ends since the last pass, and, every
// FleetEvery, the fleet (declared syncs, workers' executors, refused
// Notion tokens). The scheduler calls it while it leads.
func (d *Service) Detect(ctx context.Context) error {
	if err := d.detectEnds(ctx); err != nil {
		return err
	}
	if time.Since(d.fleetAt) < d.cfg.FleetEvery {
		return nil
	}
	if err := d.detectFleet(ctx); err != nil {
		return err
	}
	d.fleetAt = time.Now()
	return nil
}

// detectEnds turns the run ends after the feed's cursor into health
// transitions.
func (d *Service) detectEnds(ctx context.Context) error {
	for range 10 { // at most 10 batches a pass: the loop comes back
		state, err := d.rdb.AlertState(ctx)
		if err != nil {
			return err
		}
		cursor := state["cursor"]
		ends, next, err := d.rdb.ReadRunEnds(ctx, cursor, 200)
		if err != nil {
			return err
		}
		if next == cursor {
			return nil
		}
		p := newPass(state)
		p.set("cursor", next)
		now, err := d.rdb.ServerTime(ctx)
		if err != nil {
			return err
		}
		for _, e := range ends {
			d.onEnd(p, e, now)
		}
		if _, err := d.record(ctx, p); err != nil {
			return err
		}
		if len(ends) < 200 {
			return nil
		}
	}
	return nil
}

// healthAfter is the health a run end leaves ("" for an end that does
// not change it: a cancel).
func healthAfter(e rdb.RunEnd) ops.Health {
	switch e.Status {
	case rdb.RunSucceeded:
		return ops.Healthy
	case rdb.RunFailed, rdb.RunWarning:
		return ops.HealthOf(rdb.SyncStatus{ConsecutiveFailures: e.ConsecutiveFailures, LastSuccess: time.Unix(1, 0)})
	}
	return ""
}

// problemOf says what a person must do about an end beyond its health:
// a warning end (the deletion guard) or an error retrying cannot fix. Its
// signature (digits dropped) makes the same problem on every run one
// notification.
func problemOf(e rdb.RunEnd) (kind Kind, signature string) {
	switch {
	case e.Status == rdb.RunWarning:
		kind = KindRunWarning
	case e.Status == rdb.RunFailed && strings.HasPrefix(e.Message, runs.WhyPermanent):
		kind = KindRunFailed
	default:
		return "", ""
	}
	sig := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, firstLine(e.Message))
	return kind, string(kind) + ":" + sig
}

func (d *Service) onEnd(p *pass, e rdb.RunEnd, now time.Time) {
	h := healthAfter(e)
	if h == "" {
		return
	}
	hf, pf := "h:"+e.Sync, "p:"+e.Sync
	prev := ops.Health(p.get(hf))
	if prev == "" {
		prev = ops.Healthy
	}
	kind, sig := problemOf(e)
	newProblem := sig != "" && p.get(pf) != sig
	healthChanged := h != prev
	if h == ops.Healthy {
		p.set(hf, "")
		p.set(pf, "")
	} else {
		p.set(hf, string(h))
		if sig != "" {
			p.set(pf, sig)
		}
	}
	if !healthChanged && !newProblem {
		return
	}
	n := Notification{ID: "end-" + e.ID, Kind: KindHealth, Sync: e.Sync, Run: e.Run, Health: string(h),
		PreviousHealth: string(prev), Error: firstLine(e.Message), URL: d.consoleURL("syncs", e.Sync), Time: now}
	var why string
	switch e.Status {
	case rdb.RunSucceeded:
		n.Error = ""
		why = fmt.Sprintf("Run %s succeeded.", e.Run)
	case rdb.RunWarning:
		why = fmt.Sprintf("Run %s ended with a warning: %s", e.Run, n.Error)
	default:
		why = fmt.Sprintf("Run %s failed: %s", e.Run, n.Error)
	}
	var todo string
	switch {
	case kind == KindRunWarning:
		todo = fmt.Sprintf("Nothing was trashed. If the upstream really lost those rows, run `ctl trigger %s --allow-trash`; otherwise fix the upstream answer.", e.Sync)
	case kind == KindRunFailed:
		todo = "Retrying cannot fix this error: fix the sync's code or its data, deploy, then `ctl trigger " + e.Sync + "`."
	case h == ops.Error:
		todo = fmt.Sprintf("%d runs in a row failed: see `ctl runs logs %s`.", e.ConsecutiveFailures, e.Sync)
	}
	switch {
	case healthChanged && h == ops.Healthy:
		n.Severity = SeverityResolved
		n.Title = fmt.Sprintf("%s is HEALTHY again (was %s)", e.Sync, prev)
	case healthChanged:
		n.Severity = map[ops.Health]string{ops.Warning: SeverityWarning, ops.Error: SeverityError}[h]
		n.Title = fmt.Sprintf("%s is %s (was %s)", e.Sync, h, prev)
	default:
		n.Kind = kind
		n.Severity = SeverityWarning
		if kind == KindRunFailed {
			n.Severity = SeverityError
			n.Title = fmt.Sprintf("%s failed with an error retrying cannot fix", e.Sync)
		} else {
			n.Title = fmt.Sprintf("%s ended with a warning", e.Sync)
		}
	}
	n.finish(why, todo)
	p.notify(n)
}

// detectFleet looks at what is not a run end: syncs no live executor
// declares, workers without executors, Notion refusing a token.
func (d *Service) detectFleet(ctx context.Context) error {
	cat, err := d.cfg.Ops.CachedCatalog(ctx)
	if err != nil {
		return err
	}
	xs, err := d.cfg.Ops.Executors(ctx)
	if err != nil {
		return err
	}
	refused, err := d.rdb.NotionAuthFailures(ctx)
	if err != nil {
		return err
	}
	state, err := d.rdb.AlertState(ctx)
	if err != nil {
		return err
	}
	now, err := d.rdb.ServerTime(ctx)
	if err != nil {
		return err
	}
	p := newPass(state)
	stamp := strconv.FormatInt(now.UnixMilli(), 10)

	workers := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(cat)) {
		s := cat[k]
		workers[s.Worker] = true
		f := "u:" + k
		switch {
		case !s.Declared && p.get(f) == "":
			p.set(f, stamp)
			n := Notification{ID: "undeclared-" + k + "-" + stamp, Kind: KindUndeclared, Severity: SeverityWarning, Sync: k, Worker: s.Worker,
				Title: fmt.Sprintf("%s is no longer declared by any live executor", k), URL: d.consoleURL("syncs", k), Time: now}
			n.finish(fmt.Sprintf("Worker %q's live executors do not declare it: it is not scheduled and its runs are failed.", s.Worker),
				fmt.Sprintf("Deploy an executor that declares it, or retire it with `ctl forget %s`.", k))
			p.notify(n)
		case s.Declared && p.get(f) != "":
			p.set(f, "")
			n := Notification{ID: "declared-" + k + "-" + stamp, Kind: KindUndeclared, Severity: SeverityResolved, Sync: k, Worker: s.Worker,
				Title: fmt.Sprintf("%s is declared again", k), URL: d.consoleURL("syncs", k), Time: now}
			n.finish(fmt.Sprintf("A live executor of worker %q declares it: it is scheduled again.", s.Worker))
			p.notify(n)
		}
	}
	// A sync forgotten while undeclared leaves no subject behind.
	for f := range p.orig {
		if k, ok := strings.CutPrefix(f, "u:"); ok {
			if _, known := cat[k]; !known {
				p.set(f, "")
			}
		}
	}

	live := map[string]int{}
	for _, x := range xs {
		live[x.Worker]++
	}
	for _, w := range slices.Sorted(maps.Keys(workers)) {
		d.workerAbsence(p, w, live[w], now, stamp)
	}
	for f := range p.orig {
		if w, ok := strings.CutPrefix(f, "w:"); ok && !workers[w] {
			p.set(f, "")
		}
	}

	d.notionTokens(p, refused, now, stamp)
	if err := d.notionRateLimits(ctx, p, now, stamp); err != nil {
		return err
	}
	_, err = d.record(ctx, p)
	return err
}

// Thresholds of the rate-limit alert: RateLimitedCount 429s on one Notion
// budget within RateLimitedWindow is a budget that keeps answering 429 (a
// few are normal: synq waits them out); it is over after
// RateLimitedQuiet without one.
const (
	RateLimitedCount  = 20
	RateLimitedWindow = 10 * time.Minute
	RateLimitedQuiet  = 15 * time.Minute
)

// notionRateLimits alerts once when a Notion budget (a token's or a
// workspace's) keeps answering 429, and once when it has been quiet.
func (d *Service) notionRateLimits(ctx context.Context, p *pass, now time.Time, stamp string) error {
	ps, err := d.cfg.Ops.Pacers(ctx)
	if err != nil {
		return err
	}
	for _, pv := range ps {
		if pv.Kind != ops.PacerNotion && pv.Kind != ops.PacerNotionWorkspace {
			continue
		}
		var total int64
		for _, n := range pv.Stats.RateLimited {
			total += n
		}
		f := "r:" + pv.Name
		next, alert := rateLimitStep(p.get(f), total, now)
		p.set(f, next)
		switch alert {
		case SeverityError:
			n := Notification{ID: "ratelimited-" + pv.Name + "-" + stamp, Kind: KindNotionRateLimited, Severity: SeverityWarning,
				Title: fmt.Sprintf("Notion keeps answering 429 on %s (%d in %s)", pv.Name, RateLimitedCount, RateLimitedWindow),
				URL:   d.consoleURL("pacers", ""), Time: now}
			n.finish("synq waits each one out, so nothing is lost, but syncs run slower than their budget says.",
				"Lower SYNQ_NOTION_RATE_LIMIT, or set SYNQ_NOTION_WORKSPACE (and its rate) when other integrations share the workspace.")
			p.notify(n)
		case SeverityResolved:
			n := Notification{ID: "ratelimited-ok-" + pv.Name + "-" + stamp, Kind: KindNotionRateLimited, Severity: SeverityResolved,
				Title: fmt.Sprintf("Notion stopped answering 429 on %s", pv.Name), URL: d.consoleURL("pacers", ""), Time: now}
			n.finish()
			p.notify(n)
		}
	}
	return nil
}

// rateLimitStep moves one budget's rate-limit state on, given its 429
// count now: "base:baseMs:last:lastChangeMs:notified". It says
// SeverityError when the budget starts counting as rate-limited and
// SeverityResolved when it stops.
func rateLimitStep(v string, total int64, now time.Time) (next string, alert string) {
	ms := now.UnixMilli()
	var base, baseMs, last, changed, notified int64
	if _, err := fmt.Sscanf(v, "%d:%d:%d:%d:%d", &base, &baseMs, &last, &changed, &notified); err != nil || total < last {
		// New, or the counters were reset: start counting here.
		return fmt.Sprintf("%d:%d:%d:%d:0", total, ms, total, ms), ""
	}
	if total > last {
		changed = ms
	}
	switch {
	case notified == 0 && total-base >= RateLimitedCount:
		notified, alert = 1, SeverityError
	case notified == 0 && time.Duration(ms-baseMs)*time.Millisecond > RateLimitedWindow:
		base, baseMs = total, ms // a new window
	case notified == 1 && time.Duration(ms-changed)*time.Millisecond >= RateLimitedQuiet:
		notified, alert = 0, SeverityResolved
		base, baseMs = total, ms
	}
	return fmt.Sprintf("%d:%d:%d:%d:%d", base, baseMs, total, changed, notified), alert
}

// workerAbsence alerts once a worker has had no live executor for
// ExecutorsAbsentFor. Its state is "<since ms>" while absent and not yet
// notified, "n<since ms>" once notified.
func (d *Service) workerAbsence(p *pass, w string, live int, now time.Time, stamp string) {
	f := "w:" + w
	v := p.get(f)
	notified := strings.HasPrefix(v, "n")
	if live > 0 {
		if notified {
			n := Notification{ID: "executors-" + w + "-" + stamp, Kind: KindNoExecutors, Severity: SeverityResolved, Worker: w,
				Title: fmt.Sprintf("worker %s has live executors again (%d)", w, live), URL: d.consoleURL("executors", ""), Time: now}
			n.finish()
			p.notify(n)
		}
		p.set(f, "")
		return
	}
	if v == "" {
		p.set(f, stamp)
		return
	}
	if notified {
		return
	}
	ms, _ := strconv.ParseInt(v, 10, 64)
	since := time.UnixMilli(ms)
	if now.Sub(since) < d.cfg.ExecutorsAbsentFor {
		return
	}
	p.set(f, "n"+v)
	n := Notification{ID: "noexecutors-" + w + "-" + v, Kind: KindNoExecutors, Severity: SeverityError, Worker: w,
		Title: fmt.Sprintf("worker %s has had no live executor for %s", w, now.Sub(since).Round(time.Second)),
		URL:   d.consoleURL("executors", ""), Time: now}
	n.finish("Its syncs are not running: pages wait in its queue.",
		"Start its executors (check their logs: a crash loop, a refused start, Redis unreachable from them).")
	p.notify(n)
}

// KindNotionRateLimited: a Notion budget keeps answering 429 (or has
// stopped).
const KindNotionRateLimited Kind = "notion_rate_limited"

// notionTokens alerts once per token Notion starts refusing, and once
// when it accepts it again (the executors clear their note then).
func (d *Service) notionTokens(p *pass, refused []rdb.NotionAuthFailure, now time.Time, stamp string) {
	seen := map[string]bool{}
	for _, r := range refused {
		f := "t:" + r.Fingerprint
		seen[f] = true
		if p.get(f) != "" {
			continue
		}
		p.set(f, stamp)
		n := Notification{ID: "token-" + r.Fingerprint + "-" + stamp, Kind: KindNotionToken, Severity: SeverityError,
			Title: fmt.Sprintf("Notion refuses the token %s (%d)", r.Fingerprint, r.Status), Error: firstLine(r.Message), Time: now}
		n.finish(n.Error, "Every write with it fails. Check NOTION_API_TOKEN: revoked, mistyped, or the integration lost access to the pages (share them with it again).")
		p.notify(n)
	}
	for f := range p.orig {
		if strings.HasPrefix(f, "t:") && !seen[f] {
			p.set(f, "")
			fp := strings.TrimPrefix(f, "t:")
			n := Notification{ID: "token-ok-" + fp + "-" + stamp, Kind: KindNotionToken, Severity: SeverityResolved,
				Title: fmt.Sprintf("Notion accepts the token %s again", fp), Time: now}
			n.finish()
			p.notify(n)
		}
	}
}

// consoleURL links a console page, when the console's address is known.
func (d *Service) consoleURL(page, key string) string {
	if d.cfg.ConsoleURL == "" {
		return ""
	}
	u := strings.TrimSuffix(d.cfg.ConsoleURL, "/") + "/" + page
	if key != "" {
		u += "/" + url.PathEscape(key)
	}
	return u
}
