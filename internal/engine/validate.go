package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// Notion's request limits (developers.notion.com/reference/request-limits).
const (
	maxTextLen    = notion.MaxTextLen
	maxArrayItems = 100
	maxURLLen     = 2000
	maxEmailLen   = 200
	maxPhoneLen   = 200
	maxOptionLen  = 100
)

// ValidationError is a change that cannot be written as it is. It fails the
// page without retries: the same Execute output would fail again, and
// nothing of the page has been written.
type ValidationError struct {
	Sync, Database, Key, Property string
	Reason                        string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sync %q: database %q: key %q", e.Sync, e.Database, e.Key)
	if e.Property != "" {
		fmt.Fprintf(&b, ": property %q", e.Property)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Permanent is true: the same change fails the same way on every retry.
func (e *ValidationError) Permanent() bool { return true }

// IsValidation reports whether err is (or wraps) a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// row is a validated upsert or delete, ready to apply.
type row struct {
	change spec.Change
	db     *spec.Database
	// props are the normalized values: text split to Notion's item limit,
	// the primary key filled in.
	props builder.Properties
	// hash is the content hash (contentHash): with the new body's hash
	// when the change has Content, else with none (see hashOn).
	hash string
	// blocks is the converted Content (when the change has Content);
	// body is its hash (pagecontent.BodyHash).
	blocks []notion.Block
	body   string
}

// hasContent says whether the change sets the page body.
func (r row) hasContent() bool { return r.change.Content != nil }

// hashOn is the row's content hash given the hash of the body synq last
// wrote to it (IndexEntry.Body.Hash, "" for none): a change without
// Content leaves that body, so its hash carries it.
func (r row) hashOn(stored string) string {
	if r.hasContent() || r.change.Delete || stored == "" {
		return r.hash
	}
	return contentHash(r.props, r.change.Icon, r.change.Cover, stored)
}

// Checked is a change that passed validation.
type Checked struct {
	Change spec.Change
	// Database is the key of the database the change writes.
	Database string
	// Properties are the values as they are written and hashed: text
	// split into Notion's items, the primary key filled in from the key.
	// nil for a delete.
	Properties builder.Properties
}

// Validate checks a page of changes of sync s as RunPage does before it
// writes anything (the same code): the schema, Notion's limits, the page
// content's conversion to blocks. The error names sync, database, key and
// property of each invalid change (the first ten). synqtest runs it on
// the changes of an offline Execute.
func Validate(set *spec.Set, s *spec.Sync, changes []spec.Change) ([]Checked, error) {
	rows, err := prepare(set, s, changes)
	if err != nil {
		return nil, err
	}
	out := make([]Checked, len(rows))
	for i, r := range rows {
		out[i] = Checked{Change: r.change, Database: r.db.Key, Properties: r.props}
	}
	return out, nil
}

// prepare validates every change of a page before anything is written, so a
// bad row fails the page with nothing applied.
func prepare(set *spec.Set, s *spec.Sync, changes []spec.Change) ([]row, error) {
	rows := make([]row, 0, len(changes))
	var errs []error
	for _, c := range changes {
		r, err := prepareOne(set, s, c)
		if err != nil {
			errs = append(errs, err)
			if len(errs) == 10 {
				errs = append(errs, fmt.Errorf("sync %q: more invalid changes not shown", s.Key))
				break
			}
			continue
		}
		rows = append(rows, r)
	}
	return rows, errors.Join(errs...)
}

func prepareOne(set *spec.Set, s *spec.Sync, c spec.Change) (row, error) {
	dbKey := s.TargetDatabase(c)
	bad := func(prop, format string, a ...any) error {
		return &ValidationError{Sync: s.Key, Database: dbKey, Key: c.Key, Property: prop, Reason: fmt.Sprintf(format, a...)}
	}
	db, ok := set.Databases[dbKey]
	if !ok {
		return row{}, bad("", "the target database is not declared by this worker")
	}
	switch {
	case c.Key == "":
		return row{}, bad("", "empty key: every change needs the row's primary key")
	case !utf8.ValidString(c.Key):
		return row{}, bad("", "the key is not valid UTF-8")
	case notion.TextLen(c.Key) > maxTextLen:
		return row{}, bad("", "the key is %d characters long: Notion allows %d", notion.TextLen(c.Key), maxTextLen)
	}
	if c.Delete {
		return row{change: c, db: db}, nil
	}
	props := make(builder.Properties, len(c.Properties)+1)
	for name, v := range c.Properties {
		p, ok := db.Schema[name]
		if !ok {
			return row{}, bad(name, "not a property of the database: declare it in the schema or remove it from the change (properties: %s)", propertyNames(db))
		}
		nv, err := normalize(name, p, v)
		if err != nil {
			return row{}, bad(name, "%v", err)
		}
		props[name] = nv
	}
	pk := db.Schema[db.PrimaryKey]
	if v, ok := props[db.PrimaryKey]; ok {
		if v.String() != c.Key {
			return row{}, bad(db.PrimaryKey, "the primary key property is %q but the change's key is %q: leave the property out (synq fills it) or make them equal", v.String(), c.Key)
		}
	} else {
		kv := builder.Value{Type: pk.Type, Text: []builder.Text{{Content: c.Key}}}
		nv, err := normalize(db.PrimaryKey, pk, kv)
		if err != nil {
			return row{}, bad(db.PrimaryKey, "%v", err)
		}
		props[db.PrimaryKey] = nv
	}
	if c.Icon != "" {
		if err := checkIcon(c.Icon); err != nil {
			return row{}, bad("", "icon: %v", err)
		}
	}
	if c.Cover != "" {
		if u, err := url.Parse(c.Cover); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(c.Cover) > maxURLLen {
			return row{}, bad("", "cover: %q is not an http(s) URL of an image of at most %d characters", c.Cover, maxURLLen)
		}
	}
	if err := checkPayload(props, c); err != nil {
		return row{}, bad("", "%v", err)
	}
	r := row{change: c, db: db, props: props}
	if c.Content != nil {
		blocks, err := pagecontent.Convert(*c.Content)
		if err != nil {
			return row{}, bad("", "page content (Content): %v", err)
		}
		r.blocks, r.body = blocks, pagecontent.BodyHash(blocks)
	}
	r.hash = contentHash(props, c.Icon, c.Cover, r.body)
	return r, nil
}

// checkPayload refuses a row whose create or update would be over
// Notion's 500 KB request limit, naming the largest properties. Each value
// is within Notion's per-value limits here, but several long texts (100
// items of 2000 characters each, up to 6 bytes a character once encoded)
// add up past it. A cheap bound skips the exact count for ordinary rows.
func checkPayload(props builder.Properties, c spec.Change) error {
	const overhead = 1000 // parent, icon, cover, JSON framing
	bound := overhead + len(c.Icon) + len(c.Cover)
	for name, v := range props {
		bound += len(name) + valueBound(v)
	}
	if bound <= notion.MaxPayload {
		return nil
	}
	type sized struct {
		name string
		n    int
	}
	var sizes []sized
	total := overhead + len(c.Icon) + len(c.Cover)
	for name, v := range props {
		n := len(name) + 8
		switch v.Type {
		case schema.TypePeople, schema.TypeRelation:
			n += valueBound(v) // ids resolved later: 36 characters each
		default:
			b, _ := json.Marshal(valueToNotion(v))
			n += len(b)
		}
		sizes = append(sizes, sized{name, n})
		total += n
	}
	if total <= notion.MaxPayload {
		return nil
	}
	slices.SortFunc(sizes, func(a, b sized) int { return b.n - a.n })
	var big []string
	for _, s := range sizes[:min(3, len(sizes))] {
		big = append(big, fmt.Sprintf("%q %d KB", s.name, (s.n+999)/1000))
	}
	return fmt.Errorf("the row's request would be %d KB, over Notion's %d KB limit (largest properties: %s): shorten these values or split them over several properties or rows",
		(total+999)/1000, notion.MaxPayload/1000, strings.Join(big, ", "))
}

// valueBound is an upper bound of a value's encoded size in a request.
func valueBound(v builder.Value) int {
	n := 100
	for _, t := range v.Text {
		n += 6*(len(t.Content)+len(t.Link)) + 120
	}
	for _, s := range v.Names {
		n += 6*len(s) + 40
	}
	for _, f := range v.Files {
		n += 6*(len(f.URL)+len(f.Name)) + 80
	}
	n += 6*len(v.Scalar) + 80*(len(v.Emails)+len(v.Keys))
	if v.Place != nil {
		n += 6*(len(v.Place.Name)+len(v.Place.Address)) + 100
	}
	if v.Date != nil {
		n += 6*(len(v.Date.Start)+len(v.Date.End)+len(v.Date.TimeZone)) + 60
	}
	return n
}

func propertyNames(db *spec.Database) string {
	names := make([]string, 0, len(db.Schema))
	for n := range sortedKeys(db.Schema) {
		names = append(names, fmt.Sprintf("%q", n))
	}
	return strings.Join(names, ", ")
}

func checkIcon(icon string) error {
	if strings.HasPrefix(icon, "http://") || strings.HasPrefix(icon, "https://") {
		if _, err := url.Parse(icon); err != nil || len(icon) > maxURLLen {
			return fmt.Errorf("%q is not a valid image URL", icon)
		}
		return nil
	}
	if n := utf8.RuneCountInString(icon); n > 8 || !utf8.ValidString(icon) {
		return fmt.Errorf("%q is neither one emoji nor an http(s) URL", icon)
	}
	return nil
}

// normalize checks v against the property p declared as name and returns it
// in the form that is written and hashed.
func normalize(name string, p schema.Property, v builder.Value) (builder.Value, error) {
	if v.Type != p.Type {
		return v, fmt.Errorf("is a %s property but the value is a %s value: build it with %s", p.Type, or(string(v.Type), "typeless"), builderHelper(p.Type))
	}
	switch p.Type {
	case schema.TypeTitle, schema.TypeRichText:
		text, err := splitText(v.Text)
		if err != nil {
			return v, err
		}
		return builder.Value{Type: v.Type, Text: text}, nil
	case schema.TypeNumber:
		if v.Number != nil && (math.IsNaN(*v.Number) || math.IsInf(*v.Number, 0)) {
			return v, fmt.Errorf("%v is not a number Notion can store", *v.Number)
		}
		return builder.Value{Type: v.Type, Number: v.Number}, nil
	case schema.TypeCheckbox:
		return builder.Value{Type: v.Type, Checked: v.Checked}, nil
	case schema.TypeSelect, schema.TypeStatus:
		if len(v.Names) > 1 {
			return v, fmt.Errorf("%d options chosen: a %s holds one", len(v.Names), p.Type)
		}
		if err := checkOptions(v.Names); err != nil {
			return v, err
		}
		if p.Type == schema.TypeStatus && len(v.Names) == 1 && !hasOption(p, v.Names[0]) {
			return v, fmt.Errorf("status %q is not one of the options (%s): add it to the schema's options", v.Names[0], optionNames(p))
		}
		return builder.Value{Type: v.Type, Names: v.Names}, nil
	case schema.TypeMultiSelect:
		if len(v.Names) > maxArrayItems {
			return v, fmt.Errorf("%d options chosen: Notion allows at most %d", len(v.Names), maxArrayItems)
		}
		if err := checkOptions(v.Names); err != nil {
			return v, err
		}
		return builder.Value{Type: v.Type, Names: v.Names}, nil
	case schema.TypeDate:
		if v.Date == nil {
			return builder.Value{Type: v.Type}, nil
		}
		if err := checkDate(*v.Date); err != nil {
			return v, err
		}
		d := *v.Date
		return builder.Value{Type: v.Type, Date: &d}, nil
	case schema.TypePeople:
		if len(v.Emails) > maxArrayItems {
			return v, fmt.Errorf("%d people: Notion allows at most %d", len(v.Emails), maxArrayItems)
		}
		for _, e := range v.Emails {
			if !strings.Contains(e, "@") {
				return v, fmt.Errorf("%q is not an email address: people are named by their workspace email", e)
			}
		}
		return builder.Value{Type: v.Type, Emails: v.Emails}, nil
	case schema.TypeFiles:
		if len(v.Files) > maxArrayItems {
			return v, fmt.Errorf("%d files: Notion allows at most %d", len(v.Files), maxArrayItems)
		}
		for _, f := range v.Files {
			if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || len(f.URL) > maxURLLen {
				return v, fmt.Errorf("file %q: %q is not an http(s) URL of at most %d characters", f.Name, f.URL, maxURLLen)
			}
			if f.Name == "" || notion.TextLen(f.Name) > 100 {
				return v, fmt.Errorf("file %q: a file needs a name of 1 to 100 characters", f.URL)
			}
		}
		return builder.Value{Type: v.Type, Files: v.Files}, nil
	case schema.TypeURL:
		if len(v.Scalar) > maxURLLen {
			return v, fmt.Errorf("the URL is %d characters long: Notion allows %d", len(v.Scalar), maxURLLen)
		}
		return builder.Value{Type: v.Type, Scalar: v.Scalar}, nil
	case schema.TypeEmail:
		if len(v.Scalar) > maxEmailLen {
			return v, fmt.Errorf("the email is %d characters long: Notion allows %d", len(v.Scalar), maxEmailLen)
		}
		return builder.Value{Type: v.Type, Scalar: v.Scalar}, nil
	case schema.TypePhoneNumber:
		if len(v.Scalar) > maxPhoneLen {
			return v, fmt.Errorf("the phone number is %d characters long: Notion allows %d", len(v.Scalar), maxPhoneLen)
		}
		return builder.Value{Type: v.Type, Scalar: v.Scalar}, nil
	case schema.TypePlace:
		if v.Place != nil && (v.Place.Lat < -90 || v.Place.Lat > 90 || v.Place.Lon < -180 || v.Place.Lon > 180) {
			return v, fmt.Errorf("latitude %v / longitude %v is outside ±90 / ±180", v.Place.Lat, v.Place.Lon)
		}
		return builder.Value{Type: v.Type, Place: v.Place}, nil
	case schema.TypeRelation:
		if len(v.Keys) > maxArrayItems {
			return v, fmt.Errorf("%d related rows: Notion allows at most %d", len(v.Keys), maxArrayItems)
		}
		for _, k := range v.Keys {
			if k == "" {
				return v, errors.New("an empty related key: name related rows by their primary key")
			}
		}
		return builder.Value{Type: v.Type, Keys: v.Keys}, nil
	}
	return v, fmt.Errorf("unsupported property type %q", p.Type)
}

// splitText splits runs longer than Notion's 2000 characters per rich-text
// item into several items (Notion allows 100 items per value).
func splitText(in []builder.Text) ([]builder.Text, error) {
	var out []builder.Text
	for _, t := range in {
		if !utf8.ValidString(t.Content) {
			return nil, errors.New("the text is not valid UTF-8")
		}
		if len(t.Link) > maxURLLen {
			return nil, fmt.Errorf("a link is %d characters long: Notion allows %d", len(t.Link), maxURLLen)
		}
		for _, piece := range notion.SplitText(t.Content, maxTextLen) {
			out = append(out, builder.Text{Content: piece, Link: t.Link})
		}
		if len(in) == 1 && t.Content == "" {
			out = append(out, builder.Text{Content: "", Link: t.Link})
		}
	}
	if len(out) > maxArrayItems {
		return nil, fmt.Errorf("the text needs %d rich-text items of at most %d characters: Notion allows %d items (%d characters); shorten it", len(out), maxTextLen, maxArrayItems, maxArrayItems*maxTextLen)
	}
	return out, nil
}

func checkOptions(names []string) error {
	for _, n := range names {
		switch {
		case strings.TrimSpace(n) == "":
			return errors.New("an empty option name")
		case strings.Contains(n, ","):
			return fmt.Errorf("option %q contains a comma, which Notion does not allow", n)
		case notion.TextLen(n) > maxOptionLen:
			return fmt.Errorf("option %q is longer than %d characters", n, maxOptionLen)
		}
	}
	return nil
}

func hasOption(p schema.Property, name string) bool {
	for _, o := range p.Options {
		if o.Name == name {
			return true
		}
	}
	return false
}

func optionNames(p schema.Property) string {
	q := make([]string, len(p.Options))
	for i, o := range p.Options {
		q[i] = fmt.Sprintf("%q", o.Name)
	}
	return strings.Join(q, ", ")
}

func checkDate(d builder.DateValue) error {
	start, err := parseISO(d.Start)
	if err != nil {
		return fmt.Errorf("start %q is not an ISO 8601 date or date-time", d.Start)
	}
	if d.End != "" {
		end, err := parseISO(d.End)
		if err != nil {
			return fmt.Errorf("end %q is not an ISO 8601 date or date-time", d.End)
		}
		if end.Before(start) {
			return fmt.Errorf("end %s is before start %s", d.End, d.Start)
		}
	}
	if d.TimeZone != "" {
		if _, err := time.LoadLocation(d.TimeZone); err != nil {
			return fmt.Errorf("unknown time zone %q: use an IANA name like \"Europe/Paris\"", d.TimeZone)
		}
	}
	return nil
}

func parseISO(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not ISO 8601: %q", s)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// builderHelpers names the builder functions that make a value of each
// property type, for errors that say which one to call.
var builderHelpers = map[schema.Type]string{
	schema.TypeTitle: "builder.Title", schema.TypeRichText: "builder.RichText", schema.TypeNumber: "builder.Number",
	schema.TypeSelect: "builder.Select", schema.TypeMultiSelect: "builder.MultiSelect", schema.TypeStatus: "builder.Status",
	schema.TypeDate: "builder.Date or builder.DateTime", schema.TypePeople: "builder.People", schema.TypeFiles: "builder.Files",
	schema.TypeCheckbox: "builder.Checkbox", schema.TypeURL: "builder.URL", schema.TypeEmail: "builder.Email",
	schema.TypePhoneNumber: "builder.PhoneNumber", schema.TypePlace: "builder.Place", schema.TypeRelation: "builder.Relation",
}

func builderHelper(t schema.Type) string {
	if h, ok := builderHelpers[t]; ok {
		return h
	}
	return "the builder helper for " + string(t)
}
