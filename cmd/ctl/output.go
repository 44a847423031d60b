package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// rpcErr turns a gRPC error into one line that says what to do.
func (a *app) rpcErr(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		msg := st.Message()
		has := func(subs ...string) bool {
			for _, s := range subs {
				if strings.Contains(msg, s) {
					return true
				}
			}
			return false
		}
		switch {
		case has("first record does not look like a TLS handshake"):
			return fmt.Errorf("the scheduler at %s does not speak TLS: drop --tls and --tls-ca (SYNQ_TLS, SYNQ_TLS_CA), or give the scheduler SYNQ_CONTROL_TLS_CERT and SYNQ_CONTROL_TLS_KEY", a.addr)
		case has("certificate signed by unknown authority", "certificate is not trusted", "failed to verify certificate"):
			if has("is valid for", "not valid for any names") {
				return fmt.Errorf("the scheduler's TLS certificate does not name %s: connect by a name the certificate holds (--addr), or reissue it (%s)", a.addr, tlsDetail(msg))
			}
			return fmt.Errorf("the scheduler at %s has a TLS certificate ctl does not trust: pass --tls-ca FILE (SYNQ_TLS_CA) with the CA that signed it (%s)", a.addr, tlsDetail(msg))
		case has("x509:", "tls:"):
			return fmt.Errorf("TLS with the scheduler at %s failed: %s", a.addr, tlsDetail(msg))
		case !a.secure() && has("error reading server preface", "http2: frame too large", "connection closed before server preface", "server preface"):
			// A TLS server answers a plaintext client's HTTP/2 preface with a
			// TLS alert and hangs up.
			return fmt.Errorf("the scheduler at %s did not answer in plain gRPC: if it serves TLS (SYNQ_CONTROL_TLS_CERT), pass --tls, or --tls-ca FILE to trust its CA (SYNQ_TLS=1, SYNQ_TLS_CA)", a.addr)
		case has("connection refused", "dial", "no such host"):
			return fmt.Errorf("cannot reach the scheduler at %s: start it, or point --addr / SYNQ_ADDR at it", a.addr)
		}
		return fmt.Errorf("%s", msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("the scheduler at %s did not answer within %v", a.addr, a.timeout)
	}
	return fmt.Errorf("%s", st.Message())
}

// tlsDetail keeps the part of a gRPC transport error that names the TLS
// problem.
func tlsDetail(msg string) string {
	for _, p := range []string{"x509: ", "tls: "} {
		if i := strings.Index(msg, p); i >= 0 {
			return strings.TrimRight(msg[i:], `"`)
		}
	}
	return msg
}

// json prints v indented; control API messages as jsonOf renders them.
func (a *app) json(v any) error {
	if m, ok := v.(proto.Message); ok {
		v = jsonOf(m)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, jsonSafe(string(b)))
	return nil
}

// jsonSafe escapes DEL and the C1 controls that encoding/json leaves raw
// (it escapes the C0 ones): the same JSON value, harmless on a terminal.
// They can only stand inside strings, where \u escapes are valid.
func jsonSafe(s string) string {
	return c1Escaper.Replace(s)
}

var c1Escaper = func() *strings.Replacer {
	var pairs []string
	for r := rune(0x7f); r < 0xa0; r++ {
		pairs = append(pairs, string(r), fmt.Sprintf("\\u%04x", r))
	}
	return strings.NewReplacer(pairs...)
}()

// result prints a command's outcome: v as JSON, or "what: msg".
func (a *app) result(v proto.Message, what, msg string) error {
	if a.output == "json" {
		return a.json(v)
	}
	return a.done(what, msg)
}

// printState prints a sync's committed state.
func (a *app) printState(key, st string) error {
	if st == "" {
		st = "null"
	}
	if a.output == "json" {
		return a.json(object{{"key", key}, {"state", json.RawMessage(st)}})
	}
	if st == "null" {
		fmt.Fprintf(a.stdout, "%s has no committed state: its next run starts from scratch (a replace sync's state is empty between cycles)\n", key)
		return nil
	}
	var v any
	_ = json.Unmarshal([]byte(st), &v)
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(a.stdout, jsonSafe(string(b)))
	return nil
}

// done prints "what: msg", or {"key", "result"} as JSON.
func (a *app) done(what, msg string) error {
	if a.output == "json" {
		return a.json(object{{"key", what}, {"result", msg}})
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", what, msg)
	return nil
}

// printSyncList prints a summary line (how many syncs, how many of each
// health), then the syncs.
func (a *app) printSyncList(r *synqv1.ListSyncsResponse) error {
	if a.output == "json" {
		return a.json(r)
	}
	total := 0
	var parts []string
	for _, c := range r.Summary {
		total += int(c.Count)
		if c.Count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.Count, strings.TrimPrefix(c.Health.String(), "HEALTH_")))
		}
	}
	if r.Undeclared > 0 {
		parts = append(parts, fmt.Sprintf("%d undeclared", r.Undeclared))
	}
	if total > 0 {
		line := fmt.Sprintf("%d syncs: %s", total, strings.Join(parts, " · "))
		if int(r.Matched) != total {
			line += fmt.Sprintf("; %d match the filters", r.Matched)
		}
		fmt.Fprintln(a.stdout, line)
	}
	if len(r.Syncs) == 0 && total > 0 {
		fmt.Fprintln(a.stdout, "no sync matches the filters")
		return nil
	}
	if err := a.printSyncs(r.Syncs); err != nil {
		return err
	}
	if r.NextPageToken != "" {
		fmt.Fprintf(a.stdout, "… and %d more: narrow with --health, --worker or a KEY-GLOB, or raise --limit\n", int(r.Matched)-len(r.Syncs))
	}
	return nil
}

func (a *app) printSyncs(syncs []*synqv1.Sync) error {
	if a.output == "json" {
		return a.json(&synqv1.ListSyncsResponse{Syncs: syncs})
	}
	if len(syncs) == 0 {
		fmt.Fprintln(a.stdout, "no syncs: start an executor so it publishes its worker's syncs")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYNC\tWORKER\tHEALTH\tMODE\tSCHEDULE\tNEXT RUN\tACTIVE RUN\tLAST RUN\tLAST RUN'S ROWS")
	for _, s := range syncs {
		active := "-"
		if r := s.ActiveRun; r != nil {
			active = fmt.Sprintf("%s page %d", statusName(r.Status), r.GetCurrentPage())
			if r.GetAttempts() > 1 {
				active += fmt.Sprintf(" (attempt %d)", r.GetAttempts())
			}
		}
		last, rows := "-", "-"
		if r := s.LastRun; r != nil {
			last = fmt.Sprintf("%s %s", statusName(r.Status), ago(r.Finished))
			rows = rowCounts(r.GetCounters())
		}
		next := "-"
		if s.NextRun != nil && !s.Paused {
			next = until(s.NextRun)
		}
		if !s.Declared {
			next = "not scheduled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Key, s.Worker, strings.TrimPrefix(s.Health.String(), "HEALTH_"),
			strings.ToLower(strings.TrimPrefix(s.Mode.String(), "MODE_")), s.Schedule, next, active, last, rows)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, rowsLegend)
	for _, s := range syncs {
		if r := s.ActiveRun; r != nil && r.GetLastError() != "" {
			fmt.Fprintf(a.stdout, "\n%s: run %s (worker %s) retries page %d after: %s", s.Key, r.Id, r.Worker, r.GetCurrentPage(), oneLine(r.GetLastError()))
		}
		switch {
		case !s.Declared:
			since := ""
			if s.UndeclaredSince != nil {
				since = " since " + s.UndeclaredSince.AsTime().Local().Format("2006-01-02 15:04") + " (" + ago(s.UndeclaredSince) + ")"
			}
			fmt.Fprintf(a.stdout, "\n%s: no live executor of worker %q declares it%s: deploy one, or `ctl forget %s` to remove its records", s.Key, s.Worker, since, s.Key)
		case s.Conflict != "":
			fmt.Fprintf(a.stdout, "\n%s: declared by workers %q and %q: only %q runs it; rename it in one of them", s.Key, s.Worker, s.Conflict, s.Worker)
		}
	}
	shown := map[string]bool{}
	for _, s := range syncs {
		if x := s.GetExisting(); x != nil && !shown[s.Database] {
			shown[s.Database] = true
			fmt.Fprintf(a.stdout, "\n%s", existingText(s.Database, x))
		}
	}
	for _, s := range syncs {
		if !s.Declared || s.Conflict != "" || s.GetActiveRun().GetLastError() != "" || s.GetExisting() != nil {
			fmt.Fprintln(a.stdout)
			break
		}
	}
	return nil
}

// existingText describes a database people already have: which columns
// synq writes, and which rows it adopted or leaves alone, and why.
func existingText(db string, x *synqv1.ExistingDatabase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s: an EXISTING Notion database (%s)", db, or(x.Url, x.DatabaseId))
	if x.DataSource != "" {
		fmt.Fprintf(&b, ", data source %q", x.DataSource)
	}
	fmt.Fprintf(&b, "\n  owned columns (synq writes them): %s", listOr(x.OwnedColumns, "not checked yet"))
	if len(x.AddedColumns) > 0 {
		fmt.Fprintf(&b, " (added by synq: %s)", strings.Join(x.AddedColumns, ", "))
	}
	fmt.Fprintf(&b, "\n  other columns (people's, never written): %s", listOr(x.OtherColumns, "none"))
	if x.ReadAt == nil {
		b.WriteString("\n  rows: not read yet (an executor adopts them at start-up)\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\n  rows adopted: %d with a key (read %s; %d added to the index then)", x.RowsWithKey, ago(x.ReadAt), x.RowsAdopted)
	fmt.Fprintf(&b, "\n  rows left alone: %d with an empty key (people's rows), %d whose key an older row has", x.RowsKeyless, x.RowsDuplicate)
	for i, d := range x.Duplicates {
		if i == 5 {
			fmt.Fprintf(&b, "\n    … %d more (ctl status -o json lists %d)", x.RowsDuplicate-5, len(x.Duplicates))
			break
		}
		fmt.Fprintf(&b, "\n    %q: page %s left alone (adopted: %s)", d.Key, d.PageId, d.AdoptedPageId)
	}
	b.WriteString("\n")
	return b.String()
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// rowsLegend explains the ROWS columns under every table that has one.
const rowsLegend = "rows: +created ~updated =unchanged -trashed !skipped (older than what was already written)"

func rowCounts(c *synqv1.Counters) string {
	return fmt.Sprintf("+%d ~%d =%d -%d !%d", c.GetCreated(), c.GetUpdated(), c.GetUnchanged(), c.GetTrashed(), c.GetSkipped())
}

func (a *app) printRuns(runs []*synqv1.Run, plain bool) error {
	if a.output == "json" && !plain {
		return a.json(&synqv1.ListRunsResponse{Runs: runs})
	}
	// Plain output is for scripts: tab-separated fields, no alignment.
	var tw io.Writer = a.stdout
	if !plain {
		aligned := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		defer func() {
			_ = aligned.Flush()
			if len(runs) > 0 {
				fmt.Fprintln(a.stdout, rowsLegend)
			}
		}()
		tw = aligned
		fmt.Fprintln(tw, "RUN\tSYNC\tTRIGGER\tSTATUS\tSTARTED\tTOOK\tPAGES\tROWS\tERROR\tWORKER")
	}
	for _, r := range runs {
		c := r.GetCounters()
		took := "-"
		if r.Finished != nil && r.Started != nil {
			took = r.Finished.AsTime().Sub(r.Started.AsTime()).Round(time.Millisecond).String()
		}
		started := "-"
		if r.Started != nil {
			started = r.Started.AsTime().Local().Format("2006-01-02 15:04:05")
		}
		msg := r.Error
		if msg == "" && r.GetLastError() != "" {
			msg = fmt.Sprintf("page %d attempt %d: %s", r.GetCurrentPage(), r.GetAttempts(), r.GetLastError())
		}
		trigger := strings.ToLower(strings.TrimPrefix(r.Trigger.String(), "TRIGGER_"))
		if r.GetAllowTrash() {
			trigger += " (allow-trash)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Id, r.SyncKey, trigger, statusName(r.Status), started, took,
			c.GetPages(), rowCounts(c), oneLine(msg), r.Worker)
	}
	return nil
}

func (a *app) printLine(l *synqv1.LogLine) {
	if a.output == "json" {
		// One object a line (JSON Lines), so `| jq` works while following.
		b, _ := json.Marshal(jsonOf(l))
		fmt.Fprintln(a.stdout, jsonSafe(string(b)))
		return
	}
	var attrs []string
	for k, v := range l.Attrs {
		attrs = append(attrs, safe(k)+"="+safe(v))
	}
	sortStrings(attrs)
	fmt.Fprintf(a.stdout, "%s %-5s %-8s p%-3d %s %s\n", l.Time.AsTime().Local().Format("15:04:05.000"), safe(l.Level), safe(l.Source), l.Page, safe(l.Message), strings.Join(attrs, " "))
}

func statusName(s synqv1.RunStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RUN_STATUS_"))
}

func ago(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return time.Since(t.AsTime()).Round(time.Second).String() + " ago"
}

func until(t *timestamppb.Timestamp) string {
	d := time.Until(t.AsTime()).Round(time.Second)
	if d <= 0 {
		return "due"
	}
	return "in " + d.String()
}

func oneLine(s string) string {
	s = safe(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// safe escapes the control characters in text that came from elsewhere
// (an upstream's error, a log line, an attribute) before it reaches a
// terminal: ESC, CSI and the rest could otherwise clear the screen,
// plant a link (OSC 8) or write the clipboard (OSC 52). They are shown
// as Go escapes (\x1b, \r, \u009b); a tab stays a tab.
func safe(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !isControl(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // 'x' with the escape inside
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// isControl: C0 (but tab), DEL and C1 — what a terminal may act on.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t') || (r >= 0x7f && r < 0xa0)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// plural spells a count with its noun: 1 page, 3 pages.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
