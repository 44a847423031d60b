// Package schema declares the properties of a managed Notion database.
//
// One helper per Notion property type builds a Property; a database's schema
// is a Properties map from property name to Property:
//
//	schema.Properties{
//		"Title":    schema.Title(),
//		"Priority": schema.Select(schema.Option{Name: "High", Color: "red"}, schema.Option{Name: "Low"}),
//		"Amount":   schema.Number(schema.Dollar),
//		"Customer": schema.Relation("customers"),
//	}
//
// A schema is only a declaration: mistakes (an empty option name, a relation
// without a database) are reported by the worker's Validate at start-up with
// the database key and property name, never by a panic.
package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Type is a Notion property type, spelled as the Notion API spells it.
type Type string

// The property types synq manages.
const (
	TypeTitle       Type = "title"
	TypeRichText    Type = "rich_text"
	TypeNumber      Type = "number"
	TypeSelect      Type = "select"
	TypeMultiSelect Type = "multi_select"
	TypeStatus      Type = "status"
	TypeDate        Type = "date"
	TypePeople      Type = "people"
	TypeFiles       Type = "files"
	TypeCheckbox    Type = "checkbox"
	TypeURL         Type = "url"
	TypeEmail       Type = "email"
	TypePhoneNumber Type = "phone_number"
	TypePlace       Type = "place"
	TypeRelation    Type = "relation"
)

// Types lists every Type, in the order of the Notion API reference.
var Types = []Type{
	TypeTitle, TypeRichText, TypeNumber, TypeSelect, TypeMultiSelect, TypeStatus,
	TypeDate, TypePeople, TypeFiles, TypeCheckbox, TypeURL, TypeEmail,
	TypePhoneNumber, TypePlace, TypeRelation,
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Property is one column of a managed database. Build it with the helper of
// its type (Title, Select, …) rather than by hand.
type Property struct {
	Type Type `json:"type"`
	// Format is the display format of a number property.
	Format NumberFormat `json:"format,omitempty"`
	// Options are the choices of a select, multi-select or status property.
	Options []Option `json:"options,omitempty"`
	// Groups arrange a status property's options (To-do, In progress, Complete).
	Groups []StatusGroup `json:"groups,omitempty"`
	// Relation configures a relation property.
	Relation *RelationConfig `json:"relation,omitempty"`
}

// Properties maps property names to their declaration.
type Properties map[string]Property

// Option is a choice of a select, multi-select or status property.
type Option struct {
	Name        string `json:"name"`
	Color       Color  `json:"color,omitempty"`
	Description string `json:"description,omitempty"`
}

// Options turns names into Options with the default color.
func Options(names ...string) []Option {
	out := make([]Option, len(names))
	for i, n := range names {
		out[i] = Option{Name: n}
	}
	return out
}

// Color is a Notion option color.
type Color string

// Notion's option colors.
const (
	Default Color = "default"
	Gray    Color = "gray"
	Brown   Color = "brown"
	Orange  Color = "orange"
	Yellow  Color = "yellow"
	Green   Color = "green"
	Blue    Color = "blue"
	Purple  Color = "purple"
	Pink    Color = "pink"
	Red     Color = "red"
)

var colors = map[Color]bool{Default: true, Gray: true, Brown: true, Orange: true, Yellow: true, Green: true, Blue: true, Purple: true, Pink: true, Red: true}

// StatusGroup is one of a status property's groups and the names of the
// options it holds.
type StatusGroup struct {
	Name    string   `json:"name"`
	Color   Color    `json:"color,omitempty"`
	Options []string `json:"options"`
}

// NumberFormat is how Notion displays a number property.
type NumberFormat string

// The common number formats; any format the Notion API accepts may be used.
const (
	Plain       NumberFormat = "number"
	WithCommas  NumberFormat = "number_with_commas"
	Percent     NumberFormat = "percent"
	Dollar      NumberFormat = "dollar"
	Euro        NumberFormat = "euro"
	Pound       NumberFormat = "pound"
	Yen         NumberFormat = "yen"
	Rupee       NumberFormat = "rupee"
	Won         NumberFormat = "won"
	Yuan        NumberFormat = "yuan"
	Real        NumberFormat = "real"
	Franc       NumberFormat = "franc"
	CanadianDlr NumberFormat = "canadian_dollar"
)

// RelationConfig says which managed database a relation points to.
type RelationConfig struct {
	// Database is the key of the related managed database, as declared with
	// Worker.Database.
	Database string `json:"database"`
	// TwoWay makes Notion show the relation on the related database too,
	// under RelatedPropertyName.
	TwoWay bool `json:"two_way,omitempty"`
	// RelatedPropertyName names the property on the related database when
	// TwoWay is set. Empty means "Related <this database's title>".
	RelatedPropertyName string `json:"related_property_name,omitempty"`
}

// Validate reports every mistake in p, which is declared as property name.
// The errors say what to change.
func (p Property) Validate(name string) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("property %q: "+format, append([]any{name}, a...)...))
	}
	if strings.TrimSpace(name) == "" {
		errs = append(errs, errors.New("a property has an empty name: give every property a name"))
	}
	if !p.Type.Valid() {
		bad("unknown type %q: build properties with the schema helpers (schema.Title(), schema.Select(…), …)", p.Type)
		return errors.Join(errs...)
	}
	seen := map[string]bool{}
	for i, o := range p.Options {
		switch {
		case strings.TrimSpace(o.Name) == "":
			bad("option %d has an empty name: give every option a name", i)
		case strings.Contains(o.Name, ","):
			bad("option %q contains a comma, which Notion does not allow in option names", o.Name)
		case seen[o.Name]:
			bad("option %q is declared twice: remove one", o.Name)
		}
		seen[o.Name] = true
		if o.Color != "" && !colors[o.Color] {
			bad("option %q has unknown color %q: use one of schema.Default, Gray, Brown, Orange, Yellow, Green, Blue, Purple, Pink, Red", o.Name, o.Color)
		}
	}
	if len(p.Options) > 100 {
		bad("%d options: Notion allows at most 100", len(p.Options))
	}
	grouped := map[string]bool{}
	for _, g := range p.Groups {
		if strings.TrimSpace(g.Name) == "" {
			bad("a status group has an empty name")
		}
		for _, o := range g.Options {
			if !seen[o] {
				bad("status group %q lists option %q, which is not among the property's options: add it to the options", g.Name, o)
			}
			if grouped[o] {
				bad("option %q is in two status groups: keep it in one", o)
			}
			grouped[o] = true
		}
	}
	if p.Type == TypeRelation && (p.Relation == nil || strings.TrimSpace(p.Relation.Database) == "") {
		bad("relation without a related database: use schema.Relation(\"<database key>\")")
	}
	if p.Type != TypeRelation && p.Relation != nil {
		bad("a %s property cannot carry a relation config", p.Type)
	}
	return errors.Join(errs...)
}
