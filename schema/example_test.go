package schema_test

import (
	"encoding/json"
	"fmt"

	"github.com/synqhq/synq/schema"
)

func ExampleRelation() {
	p := schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"})
	b, _ := json.Marshal(p)
	fmt.Println(string(b))
	// Output: {"type":"relation","relation":{"database":"projects","two_way":true,"related_property_name":"Tasks"}}
}

func ExampleStatus() {
	p := schema.Status(schema.Options("New", "Working", "Done"),
		schema.StatusGroup{Name: "To-do", Options: []string{"New"}},
		schema.StatusGroup{Name: "In progress", Options: []string{"Working"}},
		schema.StatusGroup{Name: "Complete", Options: []string{"Done"}},
	)
	fmt.Println(p.Validate("Stage"))
	// Output: <nil>
}

func ExampleProperty_Validate() {
	p := schema.Select(schema.Option{Name: "High", Color: "crimson"}, schema.Option{Name: ""})
	fmt.Println(p.Validate("Priority"))
	// Output:
	// property "Priority": option "High" has unknown color "crimson": use one of schema.Default, Gray, Brown, Orange, Yellow, Green, Blue, Purple, Pink, Red
	// property "Priority": option 1 has an empty name: give every option a name
}
