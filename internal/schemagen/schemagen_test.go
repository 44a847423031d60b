package schemagen

import (
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
