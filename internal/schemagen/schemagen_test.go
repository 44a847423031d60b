package schemagen

import (
	"go/format"
	"strings"
	"testing"

	"github.com/synqhq/synq/schema"
)

// Helper names a helper for every type synq writes, with the arguments
// elided, and nothing for the others.
func TestHelper(t *testing.T) {
	for ty, want := range map[schema.Type]string{
		schema.TypeTitle: "schema.Title()", schema.TypeSelect: "schema.Select()", schema.TypeNumber: "schema.Number(schema.Plain)",
		schema.TypeStatus: "schema.Status(…)", schema.TypeRelation: "schema.Relation(…)", schema.TypePlace: "schema.Place()",
		"formula": "", "rollup": "",
	} {
		if got := Helper(ty); got != want {
			t.Errorf("Helper(%q) = %q, want %q", ty, got, want)
		}
	}
	for _, ty := range schema.Types {
		if Helper(ty) == "" {
			t.Errorf("no helper for %q", ty)
		}
	}
}

// Render's output is Go as gofmt prints it, with many options one a line.
func TestRenderIsGofmtStable(t *testing.T) {
	many := schema.Options("CA", "GB", "NL", "FR", "US", "IN", "SE", "BR", "DE", "JP")
	props := schema.Properties{
		"Name":    schema.Title(),
		"Country": schema.Select(many...),
		"Tags":    schema.MultiSelect(schema.Options("a", "b")...),
		"Stage":   schema.Status(many, schema.StatusGroup{Name: "To-do", Color: schema.Gray, Options: []string{"CA", "GB"}}),
		"Amount":  schema.Number(schema.Dollar),
	}
	out := Render(props, []Other{{Name: "Total", Type: "formula", Why: "computed"}})
	src := "package p\n\nvar v = " + out + "\n"
	formatted, err := format.Source([]byte(src))
	if err != nil {
		t.Fatalf("not Go: %v\n%s", err, out)
	}
	if string(formatted) != src {
		t.Errorf("gofmt changes it:\n%s\nwant:\n%s", src, formatted)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 120 {
			t.Errorf("a line of %d characters: %s", len(l), l)
		}
	}
	if !strings.Contains(out, `schema.MultiSelect(schema.Option{Name: "a"}, schema.Option{Name: "b"}),`) {
		t.Errorf("two options are not kept on one line:\n%s", out)
	}
}
