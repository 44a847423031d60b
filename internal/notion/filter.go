package notion

import (
	"encoding/json"
	"fmt"
)

// Filter is a data source query filter: a compound (And / Or) or a
// condition on a property (Property with its Type) or on a timestamp
// (Timestamp "created_time" | "last_edited_time").
type Filter struct {
	And       []Filter
	Or        []Filter
	Property  string
	Type      string // property type: title, rich_text, number, checkbox, select, status, date…
	Timestamp string
	Condition Condition
}

// Condition is the test of a filter. Set the fields that apply to the
// property type: Equals takes a string (text, select, status, date), a
// float64 (number) or a bool (checkbox); the comparisons take numbers; the
// date tests take ISO 8601 strings.
type Condition struct {
	Equals         any
	DoesNotEqual   any
	Contains       string
	DoesNotContain string
	StartsWith     string
	EndsWith       string
	GreaterThan    *float64
	LessThan       *float64
	GreaterOrEqual *float64
	LessOrEqual    *float64
	Before         string
	After          string
	OnOrBefore     string
	OnOrAfter      string
	IsEmpty        bool
	IsNotEmpty     bool
}

// PropertyFilter tests property prop of type typ.
func PropertyFilter(prop, typ string, c Condition) *Filter {
	return &Filter{Property: prop, Type: typ, Condition: c}
}

// TimestampFilter tests the created_time or last_edited_time of pages.
func TimestampFilter(timestamp string, c Condition) *Filter {
	return &Filter{Timestamp: timestamp, Condition: c}
}

// TextEquals matches rows whose title or rich-text property prop (typ says
// which) equals value.
func TextEquals(prop, typ, value string) *Filter {
	return PropertyFilter(prop, typ, Condition{Equals: value})
}

// And matches rows matching every filter.
func And(fs ...*Filter) *Filter { return &Filter{And: deref(fs)} }

// Or matches rows matching any filter.
func Or(fs ...*Filter) *Filter { return &Filter{Or: deref(fs)} }

func deref(fs []*Filter) []Filter {
	out := make([]Filter, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// MarshalJSON writes Notion's filter object.
func (f Filter) MarshalJSON() ([]byte, error) {
	switch {
	case f.And != nil:
		return json.Marshal(map[string][]Filter{"and": f.And})
	case f.Or != nil:
		return json.Marshal(map[string][]Filter{"or": f.Or})
	}
	c, err := f.Condition.wire()
	if err != nil {
		return nil, err
	}
	switch {
	case f.Property != "":
		if f.Type == "" {
			return nil, fmt.Errorf("notion: filter on property %q has no property type", f.Property)
		}
		return json.Marshal(map[string]any{"property": f.Property, f.Type: c})
	case f.Timestamp != "":
		return json.Marshal(map[string]any{"timestamp": f.Timestamp, f.Timestamp: c})
	}
	return nil, fmt.Errorf("notion: filter names no property, timestamp or compound")
}

func (c Condition) wire() (map[string]any, error) {
	m := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("equals", c.Equals, c.Equals != nil)
	set("does_not_equal", c.DoesNotEqual, c.DoesNotEqual != nil)
	set("contains", c.Contains, c.Contains != "")
	set("does_not_contain", c.DoesNotContain, c.DoesNotContain != "")
	set("starts_with", c.StartsWith, c.StartsWith != "")
	set("ends_with", c.EndsWith, c.EndsWith != "")
	set("greater_than", c.GreaterThan, c.GreaterThan != nil)
	set("less_than", c.LessThan, c.LessThan != nil)
	set("greater_than_or_equal_to", c.GreaterOrEqual, c.GreaterOrEqual != nil)
	set("less_than_or_equal_to", c.LessOrEqual, c.LessOrEqual != nil)
	set("before", c.Before, c.Before != "")
	set("after", c.After, c.After != "")
	set("on_or_before", c.OnOrBefore, c.OnOrBefore != "")
	set("on_or_after", c.OnOrAfter, c.OnOrAfter != "")
	set("is_empty", true, c.IsEmpty)
	set("is_not_empty", true, c.IsNotEmpty)
	if len(m) != 1 {
		return nil, fmt.Errorf("notion: a filter condition needs exactly one test, got %d", len(m))
	}
	return m, nil
}

// Sort directions.
const (
	Ascending  = "ascending"
	Descending = "descending"
)

// Sort orders query results by a property or a timestamp.
type Sort struct {
	Property  string `json:"property,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	Direction string `json:"direction"`
}
