// Package builder builds the property values of a change.
//
// One helper per Notion property type returns a Value; a change's properties
// are a Properties map from property name to Value:
//
//	builder.Properties{
//		"Title":    builder.Title("Printer on fire"),
//		"Priority": builder.Select("High"),
//		"Opened":   builder.DateTime(t),
//		"Assignee": builder.People("ada@example.com"),
//		"Customer": builder.Relation("cus_42"),
//	}
//
// Values are plain data: people are named by email and relations by the
// related row's primary key; the engine resolves both to Notion ids when it
// writes. Limits (2000 characters per text item, 100 items per list) are
// checked by the engine against the database schema before anything is
// written; long text is split into several rich-text items.
package builder

import (
	"strconv"
	"time"

	"github.com/synqhq/synq/schema"
)

// Value is the value of one property of a row. Build it with the helper of
// its type; the zero Value of a type clears the property.
type Value struct {
	Type schema.Type `json:"type"`
	// Text is the content of a title or rich-text value.
	Text []Text `json:"text,omitempty"`
	// Number is a number value; nil clears it.
	Number *float64 `json:"number,omitempty"`
	// Checked is a checkbox value.
	Checked bool `json:"checked,omitempty"`
	// Names are the chosen options of a select, status or multi-select value.
	Names []string `json:"names,omitempty"`
	// Date is a date value; nil clears it.
	Date *DateValue `json:"date,omitempty"`
	// Emails are the people of a people value.
	Emails []string `json:"emails,omitempty"`
	// Files are the files of a files value.
	Files []FileValue `json:"files,omitempty"`
	// Scalar is a url, email or phone number value; "" clears it.
	Scalar string `json:"scalar,omitempty"`
	// Place is a place value; nil clears it.
	Place *PlaceValue `json:"place,omitempty"`
	// Keys are the primary keys of the related rows of a relation value.
	Keys []string `json:"keys,omitempty"`
}

// Properties maps property names to values.
type Properties map[string]Value

// Text is one run of text, optionally a link.
type Text struct {
	Content string `json:"content"`
	Link    string `json:"link,omitempty"`
}

// DateValue is a date, a date-time or a range. Start and End are ISO 8601 as
// Notion takes them; TimeZone, when set, is the IANA zone the times are in.
type DateValue struct {
	Start    string `json:"start"`
	End      string `json:"end,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
}

// FileValue is an external file.
type FileValue struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// PlaceValue is a location.
type PlaceValue struct {
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Name    string  `json:"name,omitempty"`
	Address string  `json:"address,omitempty"`
}

// Title is the value of the title property.
func Title(s string) Value { return Value{Type: schema.TypeTitle, Text: text(s)} }

// RichText is a text value. Text over Notion's 2000 characters per item is
// split into several items when written.
func RichText(s string) Value { return Value{Type: schema.TypeRichText, Text: text(s)} }

// Link is a text value that links to url.
func Link(s, url string) Value {
	return Value{Type: schema.TypeRichText, Text: []Text{{Content: s, Link: url}}}
}

// Texts is a title or rich-text value made of several runs, for mixing plain
// text and links.
func Texts(t schema.Type, runs ...Text) Value { return Value{Type: t, Text: runs} }

func text(s string) []Text {
	if s == "" {
		return nil
	}
	return []Text{{Content: s}}
}

// Numeric is every Go integer and float type (and types defined on them):
// what Number accepts.
type Numeric interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// Number is a number value from any integer or float: builder.Number(n)
// for an int, an int64 or a float64 alike. Notion stores numbers as
// 64-bit floats: integers beyond ±2^53 lose their last digits. A float32
// keeps its shortest decimal form (float32(0.1) is 0.1, not
// 0.10000000149).
func Number[N Numeric](n N) Value {
	var f float64
	switch v := any(n).(type) {
	case float32:
		f, _ = strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	default:
		f = float64(n)
	}
	return Value{Type: schema.TypeNumber, Number: &f}
}

// Int is a number value from an integer (Number accepts integers too).
func Int(n int64) Value { return Number(n) }

// Checkbox is a checkbox value.
func Checkbox(b bool) Value { return Value{Type: schema.TypeCheckbox, Checked: b} }

// Select is a select value; "" clears it.
func Select(name string) Value {
	v := Value{Type: schema.TypeSelect}
	if name != "" {
		v.Names = []string{name}
	}
	return v
}

// MultiSelect is a multi-select value.
func MultiSelect(names ...string) Value { return Value{Type: schema.TypeMultiSelect, Names: names} }

// Status is a status value; name must be one of the property's options.
func Status(name string) Value {
	v := Value{Type: schema.TypeStatus}
	if name != "" {
		v.Names = []string{name}
	}
	return v
}

// Date is a calendar date (the time of day of t is dropped).
func Date(t time.Time) Value {
	return Value{Type: schema.TypeDate, Date: &DateValue{Start: t.Format(time.DateOnly)}}
}

// DateTime is a moment. When t's location is a named zone (not UTC or
// Local), Notion shows it in that zone.
func DateTime(t time.Time) Value {
	return Value{Type: schema.TypeDate, Date: dateTime(t, t, false)}
}

// DateRange is a range of calendar dates.
func DateRange(start, end time.Time) Value {
	return Value{Type: schema.TypeDate, Date: &DateValue{Start: start.Format(time.DateOnly), End: end.Format(time.DateOnly)}}
}

// DateTimeRange is a range of moments, in start's zone.
func DateTimeRange(start, end time.Time) Value {
	return Value{Type: schema.TypeDate, Date: dateTime(start, end, true)}
}

func dateTime(start, end time.Time, rng bool) *DateValue {
	d := &DateValue{}
	if z := start.Location().String(); z != "UTC" && z != "Local" && z != "" {
		// Notion takes a zoned time without offset plus the IANA name.
		const local = "2006-01-02T15:04:05"
		d.TimeZone = z
		d.Start = start.Format(local)
		if rng {
			d.End = end.In(start.Location()).Format(local)
		}
		return d
	}
	d.Start = start.Format(time.RFC3339)
	if rng {
		d.End = end.Format(time.RFC3339)
	}
	return d
}

// People is a people value naming workspace members by email.
func People(emails ...string) Value { return Value{Type: schema.TypePeople, Emails: emails} }

// File is a files value with one external file.
func File(url, name string) Value {
	return Value{Type: schema.TypeFiles, Files: []FileValue{{Name: name, URL: url}}}
}

// Files is a files value with several external files.
func Files(files ...FileValue) Value { return Value{Type: schema.TypeFiles, Files: files} }

// URL is a web address value; "" clears it.
func URL(u string) Value { return Value{Type: schema.TypeURL, Scalar: u} }

// Email is an email address value; "" clears it.
func Email(e string) Value { return Value{Type: schema.TypeEmail, Scalar: e} }

// PhoneNumber is a phone number value; "" clears it.
func PhoneNumber(p string) Value { return Value{Type: schema.TypePhoneNumber, Scalar: p} }

// Place is a location value.
func Place(lat, lon float64, name string) Value {
	return Value{Type: schema.TypePlace, Place: &PlaceValue{Lat: lat, Lon: lon, Name: name}}
}

// Relation is a relation value naming related rows by their primary keys.
func Relation(keys ...string) Value { return Value{Type: schema.TypeRelation, Keys: keys} }

// String renders v for people: the text, the number, the names…
// It is what preview and run logs show.
func (v Value) String() string {
	switch v.Type {
	case schema.TypeTitle, schema.TypeRichText:
		s := ""
		for _, t := range v.Text {
			s += t.Content
		}
		return s
	case schema.TypeNumber:
		if v.Number == nil {
			return ""
		}
		return strconv.FormatFloat(*v.Number, 'f', -1, 64)
	case schema.TypeCheckbox:
		return strconv.FormatBool(v.Checked)
	case schema.TypeSelect, schema.TypeStatus, schema.TypeMultiSelect:
		return join(v.Names)
	case schema.TypeDate:
		if v.Date == nil {
			return ""
		}
		if v.Date.End != "" {
			return v.Date.Start + " → " + v.Date.End
		}
		return v.Date.Start
	case schema.TypePeople:
		return join(v.Emails)
	case schema.TypeFiles:
		names := make([]string, len(v.Files))
		for i, f := range v.Files {
			names[i] = f.Name
		}
		return join(names)
	case schema.TypePlace:
		if v.Place == nil {
			return ""
		}
		return v.Place.Name
	case schema.TypeRelation:
		return join(v.Keys)
	}
	return v.Scalar
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
