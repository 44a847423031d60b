// Package alerts tells people when a sync needs them.
//
// The leader scheduler's Detector turns what happens — runs ending (read
// from the feed the run-ending scripts append to), syncs no live executor
// declares, workers left without executors, Notion refusing a token — into
// Notifications, once per transition: what was last notified per subject
// lives in Redis and every change to it is compare-and-set, so a failover
// neither repeats nor loses one. Each notification is recorded with one
// delivery per destination (an outbox in Redis); the Sender delivers them
// over HTTP with retries, apart from scheduling, so a dead endpoint never
// slows a tick.
package alerts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind says what a notification is about.
type Kind string

// Kinds.
const (
	// KindHealth: a sync's health turned WARNING or ERROR, or HEALTHY
	// again; it may also carry a warning end or a permanent error.
	KindHealth Kind = "sync_health"
	// KindRunWarning: a run ended with a warning (the deletion guard held
	// rows back) while the health stayed as it was.
	KindRunWarning Kind = "run_warning"
	// KindRunFailed: a run failed with an error retrying cannot fix while
	// the health stayed as it was.
	KindRunFailed Kind = "run_failed"
	// KindUndeclared: no live executor declares a sync (or one does
	// again).
	KindUndeclared Kind = "sync_undeclared"
	// KindNoExecutors: a worker with syncs has had no live executor for a
	// while (or has one again).
	KindNoExecutors Kind = "worker_no_executors"
	// KindNotionToken: Notion refuses a token (401/403), or accepts it
	// again.
	KindNotionToken Kind = "notion_token"
	// KindTest: sent by `ctl alerts test`.
	KindTest Kind = "test"
)

// Severities.
const (
	SeverityError    = "error"
	SeverityWarning  = "warning"
	SeverityResolved = "resolved"
	SeverityInfo     = "info"
)

// Notification is what a destination receives. Its JSON is the generic
// format's body (docs/alerts.md documents each field); the Slack format
// sends Text.
type Notification struct {
	// ID is stable across retries and failovers: a receiver can drop a
	// repeat it has seen.
	ID       string `json:"id"`
	Kind     Kind   `json:"kind"`
	Severity string `json:"severity"`
	// Title is one line; Text is the whole message, as Slack shows it.
	Title string `json:"title"`
	Text  string `json:"text"`

	Sync           string `json:"sync,omitempty"`
	Worker         string `json:"worker,omitempty"`
	Run            string `json:"run,omitempty"`
	Health         string `json:"health,omitempty"`
	PreviousHealth string `json:"previous_health,omitempty"`
	// Error is the first line of the run's error or warning.
	Error string `json:"error,omitempty"`
	// URL opens the subject in the console, when its address is known.
	URL  string    `json:"url,omitempty"`
	Time time.Time `json:"time"`
}

// finish fills Text from the title, details and link.
func (n *Notification) finish(details ...string) {
	var b strings.Builder
	b.WriteString(severityMark[n.Severity])
	b.WriteString(" ")
	b.WriteString(n.Title)
	for _, d := range details {
		if d != "" {
			b.WriteString("\n")
			b.WriteString(d)
		}
	}
	if n.URL != "" {
		b.WriteString("\n")
		b.WriteString(n.URL)
	}
	n.Text = b.String()
}

var severityMark = map[string]string{
	SeverityError: "🔴", SeverityWarning: "🟠", SeverityResolved: "🟢", SeverityInfo: "🔵",
}

// firstLine is the first line of s, cut to 300 characters.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// Decode parses a recorded payload.
func Decode(b []byte) (Notification, error) {
	var n Notification
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fmt.Errorf("alerts: decode notification: %w", err)
	}
	return n, nil
}
