// Package schemagen writes the Go declaration of a Notion data source's
// columns (`ctl schema`), so a user syncing into a database people already
// have starts from its real columns instead of retyping them.
package schemagen

import (
	"fmt"
	"go/format"
	"slices"
	"strconv"
	"strings"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/schema"
)

// Other is a column the declaration leaves out, and why.
type Other struct {
	Name, Type, Why string
}

// FromNotion returns the declaration of every column of ds that synq can
// write (with its number format, options and status groups as Notion has
// them, so declaring it changes nothing), and the others.
func FromNotion(ds *notion.DataSource) (schema.Properties, []Other) {
	props := schema.Properties{}
	var others []Other
	for _, name := range sorted(keys(ds.Properties)) {
		p := ds.Properties[name]
		switch t := schema.Type(p.Type); t {
		case schema.TypeTitle, schema.TypeRichText, schema.TypeDate, schema.TypePeople, schema.TypeFiles,
			schema.TypeCheckbox, schema.TypeURL, schema.TypeEmail, schema.TypePhoneNumber, schema.TypePlace:
			props[name] = schema.Property{Type: t}
		case schema.TypeNumber:
			props[name] = schema.Number(schema.NumberFormat(or(p.Format, string(schema.Plain))))
		case schema.TypeSelect, schema.TypeMultiSelect:
			props[name] = schema.Property{Type: t, Options: options(p.Options)}
		case schema.TypeStatus:
			props[name] = schema.Status(options(p.Options), groups(p)...)
		case schema.TypeRelation:
			target := "another data source"
			if p.Relation != nil {
				target = "data source " + p.Relation.DataSourceID
			}
			others = append(others, Other{name, p.Type, fmt.Sprintf("relates to %s: declare that database in the worker (Existing, or managed) and add schema.Relation(\"<its key>\")", target)})
		default:
			others = append(others, Other{name, p.Type, "synq does not write this type (Notion computes it, or its API cannot set it); it stays the people's"})
		}
	}
	return props, others
}

func options(in []notion.SelectOption) []schema.Option {
	out := make([]schema.Option, 0, len(in))
	for _, o := range in {
		out = append(out, schema.Option{Name: o.Name, Color: schema.Color(o.Color), Description: o.Description})
	}
	return out
}

// groups names the options of each status group (responses list ids).
func groups(p notion.PropertySchema) []schema.StatusGroup {
	byID := map[string]string{}
	for _, o := range p.Options {
		byID[o.ID] = o.Name
	}
	out := make([]schema.StatusGroup, 0, len(p.Groups))
	for _, g := range p.Groups {
		sg := schema.StatusGroup{Name: g.Name, Color: schema.Color(g.Color), Options: []string{}}
		for _, id := range g.OptionIDs {
			if n, ok := byID[id]; ok {
				sg.Options = append(sg.Options, n)
			}
		}
		sg.Options = append(sg.Options, g.OptionNames...)
		out = append(out, sg)
	}
	return out
}

// Render writes props as a Go composite literal of type
// schema.Properties, the title first, the others as comments at its end.
func Render(props schema.Properties, others []Other) string {
	var b strings.Builder
	b.WriteString("schema.Properties{\n")
	names := sorted(keys(props))
	slices.SortStableFunc(names, func(a, c string) int {
		at, ct := props[a].Type == schema.TypeTitle, props[c].Type == schema.TypeTitle
		switch {
		case at && !ct:
			return -1
		case ct && !at:
			return 1
		}
		return 0
	})
	for _, name := range names {
		fmt.Fprintf(&b, "\t%s: %s,\n", strconv.Quote(name), expr(props[name]))
	}
	for _, o := range others {
		fmt.Fprintf(&b, "\t// %s (%s): %s\n", strconv.Quote(o.Name), o.Type, o.Why)
	}
	b.WriteString("}")
	return gofmt(b.String())
}

// gofmt formats the expression x as gofmt would (values aligned), so
// that pasting it changes nothing when the file is formatted.
func gofmt(x string) string {
	const head = "package p\n\nvar v = "
	out, err := format.Source([]byte(head + x + "\n"))
	if err != nil {
		return x // not expected: x is built to be Go; unformatted beats nothing
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(out), head), "\n")
}

// Helper is the schema helper that declares a column of type t, its
// arguments elided ("schema.Select()", "schema.Status(…)"): what an error
// message names as the fix. It is "" for a type synq does not write.
func Helper(t schema.Type) string {
	switch {
	case !t.Valid():
		return ""
	case t == schema.TypeNumber:
		return "schema.Number(schema.Plain)"
	case t == schema.TypeStatus:
		return "schema.Status(…)"
	case t == schema.TypeRelation:
		return "schema.Relation(…)"
	}
	return expr(schema.Property{Type: t})
}

// expr is the schema helper call that declares p.
func expr(p schema.Property) string {
	switch p.Type {
	case schema.TypeTitle:
		return "schema.Title()"
	case schema.TypeRichText:
		return "schema.RichText()"
	case schema.TypeNumber:
		return "schema.Number(" + formatExpr(p.Format) + ")"
	case schema.TypeSelect:
		return "schema.Select(" + optionsExpr(p.Options, "\t") + ")"
	case schema.TypeMultiSelect:
		return "schema.MultiSelect(" + optionsExpr(p.Options, "\t") + ")"
	case schema.TypeStatus:
		var b strings.Builder
		b.WriteString("schema.Status([]schema.Option{" + optionsExpr(p.Options, "\t") + "}")
		for _, g := range p.Groups {
			q := make([]string, len(g.Options))
			for i, o := range g.Options {
				q[i] = strconv.Quote(o)
			}
			fmt.Fprintf(&b, ", schema.StatusGroup{Name: %s, Color: %s, Options: []string{%s}}", strconv.Quote(g.Name), colorExpr(g.Color), strings.Join(q, ", "))
		}
		return b.String() + ")"
	case schema.TypeDate:
		return "schema.Date()"
	case schema.TypePeople:
		return "schema.People()"
	case schema.TypeFiles:
		return "schema.Files()"
	case schema.TypeCheckbox:
		return "schema.Checkbox()"
	case schema.TypeURL:
		return "schema.URL()"
	case schema.TypeEmail:
		return "schema.Email()"
	case schema.TypePhoneNumber:
		return "schema.PhoneNumber()"
	case schema.TypePlace:
		return "schema.Place()"
	}
	return fmt.Sprintf("schema.Property{Type: %q}", p.Type)
}

// optionsExpr lists opts as arguments (or elements) of a call at
// indent: on one line when they are few, else one a line, as gofmt keeps
// them, so a database with 40 options stays readable.
func optionsExpr(opts []schema.Option, indent string) string {
	out := make([]string, len(opts))
	for i, o := range opts {
		s := "schema.Option{Name: " + strconv.Quote(o.Name)
		if o.Color != "" {
			s += ", Color: " + colorExpr(o.Color)
		}
		if o.Description != "" {
			s += ", Description: " + strconv.Quote(o.Description)
		}
		out[i] = s + "}"
	}
	if len(out) <= 3 {
		return strings.Join(out, ", ")
	}
	in := "\n" + indent + "\t"
	return in + strings.Join(out, ","+in) + ",\n" + indent
}

var colorNames = map[schema.Color]string{
	schema.Default: "Default", schema.Gray: "Gray", schema.Brown: "Brown", schema.Orange: "Orange", schema.Yellow: "Yellow",
	schema.Green: "Green", schema.Blue: "Blue", schema.Purple: "Purple", schema.Pink: "Pink", schema.Red: "Red",
}

func colorExpr(c schema.Color) string {
	if n, ok := colorNames[c]; ok {
		return "schema." + n
	}
	return "schema.Color(" + strconv.Quote(string(c)) + ")"
}

var formatNames = map[schema.NumberFormat]string{
	schema.Plain: "Plain", schema.WithCommas: "WithCommas", schema.Percent: "Percent", schema.Dollar: "Dollar",
	schema.Euro: "Euro", schema.Pound: "Pound", schema.Yen: "Yen", schema.Rupee: "Rupee", schema.Won: "Won",
	schema.Yuan: "Yuan", schema.Real: "Real", schema.Franc: "Franc", schema.CanadianDlr: "CanadianDlr",
}

func formatExpr(f schema.NumberFormat) string {
	if n, ok := formatNames[f]; ok {
		return "schema." + n
	}
	return "schema.NumberFormat(" + strconv.Quote(string(f)) + ")"
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
