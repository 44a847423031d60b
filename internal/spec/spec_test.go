package spec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/schema"
)

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		in       string
		kind     ScheduleKind
		interval time.Duration
		text     string
	}{
		{"", Every, 30 * time.Minute, ScheduleDefault},
		{"manual", Manual, 0, "manual"},
		{"continuous", Continuous, ContinuousFloor, "continuous"},
		{"5m", Every, MinInterval, "5m"},
		{"15m", Every, 15 * time.Minute, "15m"},
		{"2h", Every, 2 * time.Hour, "2h"},
		{"7d", Every, MaxInterval, "7d"},
		{"168h", Every, MaxInterval, "168h"},
		{"10080m", Every, MaxInterval, "10080m"},
		{"05m", Every, 5 * time.Minute, "05m"},
	} {
		s, err := ParseSchedule(tc.in)
		if err != nil || s.Kind != tc.kind || s.Interval != tc.interval || s.Text != tc.text || s.String() != tc.text {
			t.Errorf("ParseSchedule(%q) = %+v, %v; want %s every %v, text %q", tc.in, s, err, tc.kind, tc.interval, tc.text)
		}
	}
}

// A bad schedule is refused with a message that quotes it and says what
// to write instead.
func TestParseScheduleRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"4m":                    "outside 5m–7d",
		"8d":                    "outside 5m–7d",
		"169h":                  "outside 5m–7d",
		"0m":                    "outside 5m–7d",
		"100001m":               "outside 5m–7d",
		"99999999999999999999d": "schedule",
		"5s":                    `an interval like "5m"`,
		"1w":                    `an interval like "5m"`,
		"5M":                    `an interval like "5m"`,
		" 5m":                   `an interval like "5m"`,
		"-5m":                   `an interval like "5m"`,
		"1.5h":                  `an interval like "5m"`,
		"Manual":                `"manual", "continuous"`,
		"every 5m":              `"manual", "continuous"`,
	} {
		s, err := ParseSchedule(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseSchedule(%q) = %+v, %v; want an error quoting it and saying %q", in, s, err, want)
		}
	}
}

// A schedule travels in manifests as its text and is parsed back.
func TestScheduleJSON(t *testing.T) {
	s, err := ParseSchedule("2h")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil || string(b) != `"2h"` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back Schedule
	if err := json.Unmarshal(b, &back); err != nil || back != s {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", back, err, s)
	}
	if err := json.Unmarshal([]byte(`"4m"`), &back); err == nil {
		t.Error("a manifest's out-of-range schedule decoded")
	}
	if err := json.Unmarshal([]byte(`300`), &back); err == nil {
		t.Error("a number decoded as a schedule")
	}
}

// testSet is a worker with two databases, a pacer and two syncs, built
// anew on each call as an executor would build it.
func testSet(t *testing.T, deltaSchedule string) *Set {
	t.Helper()
	every := func(text string) Schedule {
		s, err := ParseSchedule(text)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	set := &Set{
		Worker: "helpdesk",
		Databases: map[string]*Database{
			"tickets": {Key: "tickets", InitialTitle: "Tickets", PrimaryKey: "Ticket ID", Schema: schema.Properties{
				"Ticket ID": schema.Title(),
				"Status":    schema.Select(schema.Options("open", "closed")...),
				"Customer":  schema.Relation("customers"),
				"Opened":    schema.Date(),
			}},
			"customers": {Key: "customers", InitialTitle: "Customers", PrimaryKey: "Email", Schema: schema.Properties{
				"Email": schema.Title(),
				"Seats": schema.Number(),
			}, AllowTypeChanges: true},
		},
		Syncs: map[string]*Sync{
			"ticketsDelta": {Key: "ticketsDelta", Database: "tickets", Mode: Incremental, Schedule: every(deltaSchedule),
				Timeout: TimeoutDefault, MaxAttempts: MaxAttemptsDefault, Pacers: []string{"helpdeskApi"}},
			"customersSync": {Key: "customersSync", Database: "customers", Mode: Replace, Schedule: every("manual"),
				Timeout: time.Minute, MaxAttempts: 2, MaxTrashFraction: 0.2},
		},
		Pacers:        map[string]*Pacer{"helpdeskApi": {Key: "helpdeskApi", AllowedRequests: 10, Interval: time.Second}},
		DatabaseOrder: []string{"tickets", "customers"},
		SyncOrder:     []string{"ticketsDelta", "customersSync"},
		PacerOrder:    []string{"helpdeskApi"},
	}
	return set
}

// A published manifest decodes to the same declarations, and its build id
// still matches them.
func TestManifestRoundTrip(t *testing.T) {
	m := testSet(t, "5m").Manifest()
	m.Version = "abc123"
	m.Published = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) {
		t.Fatalf("manifest changed in a round trip:\n%s\n%s", b, again)
	}
	if back.Build != m.Build || back.BuildID() != m.Build {
		t.Errorf("build %q, recomputed %q; want %q", back.Build, back.BuildID(), m.Build)
	}
	if back.Worker != "helpdesk" || len(back.Syncs) != 2 || back.Syncs[0].Key != "ticketsDelta" || back.Databases[1].Key != "customers" {
		t.Errorf("declaration order lost: %+v", back)
	}
	s := back.Sync("customersSync")
	if s == nil || s.Schedule.Kind != Manual || s.Timeout != time.Minute || s.MaxAttempts != 2 || s.MaxTrashFraction != 0.2 || s.Mode != Replace {
		t.Errorf("Sync(customersSync) = %+v", s)
	}
	if back.Sync("nope") != nil {
		t.Error("Sync of an undeclared key is not nil")
	}
	if _, err := ParseManifest([]byte(`{"worker":`)); err == nil || !strings.Contains(err.Error(), "decode manifest") {
		t.Errorf("a truncated manifest: %v", err)
	}
	if _, err := ParseManifest([]byte(`{"worker":"w","syncs":[{"key":"s","schedule":"1m"}]}`)); err == nil {
		t.Error("a manifest with an invalid schedule decoded")
	}
}

// Equal declarations are one build, whatever the binary and whenever it
// published; a changed declaration is another build.
func TestBuildID(t *testing.T) {
	a, b := testSet(t, "5m").Manifest(), testSet(t, "5m").Manifest()
	b.Version, b.Published, b.Extra = "other-binary", time.Now(), map[string]string{"host": "x"}
	if a.Build == "" || a.Build != b.Build || b.BuildID() != a.Build {
		t.Fatalf("equal declarations: builds %q and %q", a.Build, b.BuildID())
	}
	changed := map[string]func(s *Set){
		"schedule":   func(s *Set) { s.Syncs["ticketsDelta"].Schedule, _ = ParseSchedule("10m") },
		"attempts":   func(s *Set) { s.Syncs["customersSync"].MaxAttempts = 3 },
		"schema":     func(s *Set) { s.Databases["customers"].Schema["Plan"] = schema.RichText() },
		"pacer":      func(s *Set) { s.Pacers["helpdeskApi"].AllowedRequests = 20 },
		"worker":     func(s *Set) { s.Worker = "helpdesk2" },
		"sync order": func(s *Set) { s.SyncOrder = []string{"customersSync", "ticketsDelta"} },
	}
	for what, change := range changed {
		s := testSet(t, "5m")
		change(s)
		if got := s.Manifest().Build; got == a.Build {
			t.Errorf("a changed %s kept build %q", what, got)
		}
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "ticketsDelta", "a.b-c_d", "T1", "x" + strings.Repeat("y", 99)} {
		if !ValidKey(k) {
			t.Errorf("ValidKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "1tickets", "_x", "-x", "tickets{1}", "a b", "a:b", "ticket/s", "é", "x" + strings.Repeat("y", 100)} {
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
}

// The manifest carries the deletion guard that applies: a replace sync's
// own threshold or the default, and none for an incremental sync.
func TestManifestTrashFractionIsEffective(t *testing.T) {
	set := testSet(t, "5m")
	got := func() map[string]float64 {
		out := map[string]float64{}
		for _, s := range set.Manifest().Syncs {
			out[s.Key] = s.MaxTrashFraction
		}
		return out
	}
	if m := got(); m["customersSync"] != 0.2 || m["ticketsDelta"] != 0 {
		t.Fatalf("fractions %v, want customersSync 0.2 and none for the incremental ticketsDelta", m)
	}
	set.Syncs["customersSync"].MaxTrashFraction = 0
	if m := got(); m["customersSync"] != MaxTrashFractionDefault {
		t.Fatalf("fractions %v, want customersSync at the default %v", m, MaxTrashFractionDefault)
	}
}
