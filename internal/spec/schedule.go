package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// ScheduleKind says when a sync runs.
type ScheduleKind string

const (
	// Manual syncs run only when triggered.
	Manual ScheduleKind = "manual"
	// Continuous syncs start the next run as soon as the last one ends (with
	// ContinuousFloor between starts).
	Continuous ScheduleKind = "continuous"
	// Every syncs run at a fixed interval.
	Every ScheduleKind = "every"
)

// Schedule bounds and defaults from the Notion Workers model.
const (
	MinInterval     = 5 * time.Minute
	MaxInterval     = 7 * 24 * time.Hour
	ScheduleDefault = "30m"
	// ContinuousFloor keeps a continuous sync whose runs end instantly from
	// spinning on the scheduler and the upstream API.
	ContinuousFloor = 5 * time.Second
)

// Schedule is a parsed schedule string.
type Schedule struct {
	Kind     ScheduleKind
	Interval time.Duration
	// Text is the schedule as declared ("30m", "manual", …).
	Text string
}

var intervalRE = regexp.MustCompile(`^(\d+)(m|h|d)$`)

// ParseSchedule parses "manual", "continuous" or an interval like "5m",
// "2h", "7d" between 5m and 7d. "" is the default, "30m".
func ParseSchedule(s string) (Schedule, error) {
	switch s {
	case "":
		s = ScheduleDefault
	case string(Manual):
		return Schedule{Kind: Manual, Text: s}, nil
	case string(Continuous):
		return Schedule{Kind: Continuous, Interval: ContinuousFloor, Text: s}, nil
	}
	m := intervalRE.FindStringSubmatch(s)
	if m == nil {
		return Schedule{}, fmt.Errorf("schedule %q: use \"manual\", \"continuous\" or an interval like \"5m\", \"2h\" or \"1d\"", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", s, err)
	}
	unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if d < MinInterval || d > MaxInterval || n > 100000 {
		return Schedule{}, fmt.Errorf("schedule %q is outside 5m–7d: use an interval between \"5m\" and \"7d\" (or \"continuous\")", s)
	}
	return Schedule{Kind: Every, Interval: d, Text: s}, nil
}

// String returns the schedule as declared.
func (s Schedule) String() string { return s.Text }

// MarshalJSON encodes the schedule as its text.
func (s Schedule) MarshalJSON() ([]byte, error) { return json.Marshal(s.Text) }

// UnmarshalJSON parses the schedule text.
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var t string
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	p, err := ParseSchedule(t)
	if err != nil {
		return err
	}
	*s = p
	return nil
}
