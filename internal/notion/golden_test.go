package notion

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sameJSON compares JSON semantically (key order and spacing aside).
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad golden: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPropertySchemaRequestJSON(t *testing.T) {
	cases := []struct {
		name string
		in   PropertySchema
		want string
	}{
		{"title", PropertySchema{Type: TypeTitle}, `{"type":"title","title":{}}`},
		{"rename", PropertySchema{Type: TypeTitle, Name: "Key", ID: "title"}, `{"type":"title","title":{},"name":"Key"}`},
		{"rich_text", PropertySchema{Type: TypeRichText}, `{"type":"rich_text","rich_text":{}}`},
		{"number plain", PropertySchema{Type: TypeNumber}, `{"type":"number","number":{}}`},
		{"number format", PropertySchema{Type: TypeNumber, Format: "dollar"}, `{"type":"number","number":{"format":"dollar"}}`},
		{"select", PropertySchema{Type: TypeSelect, Options: []SelectOption{{Name: "high", Color: "red"}, {Name: "low", Description: "meh"}}},
			`{"type":"select","select":{"options":[{"name":"high","color":"red"},{"name":"low","description":"meh"}]}}`},
		{"select existing option keeps id", PropertySchema{Type: TypeSelect, Options: []SelectOption{{ID: "o1", Name: "high"}}},
			`{"type":"select","select":{"options":[{"id":"o1","name":"high"}]}}`},
		{"select no options", PropertySchema{Type: TypeSelect}, `{"type":"select","select":{"options":[]}}`},
		{"multi_select", PropertySchema{Type: TypeMultiSelect, Options: []SelectOption{{Name: "a"}}},
			`{"type":"multi_select","multi_select":{"options":[{"name":"a"}]}}`},
		{"status", PropertySchema{Type: TypeStatus,
			Options: []SelectOption{{Name: "New", Color: "gray"}, {Name: "Done", Color: "green"}},
			Groups:  []StatusGroup{{Name: "To-do", OptionNames: []string{"New"}}, {Name: "Complete", Color: "green", OptionNames: []string{"Done"}}}},
			`{"type":"status","status":{"options":[{"name":"New","color":"gray"},{"name":"Done","color":"green"}],
			  "groups":[{"name":"To-do","option_names":["New"]},{"name":"Complete","color":"green","option_names":["Done"]}]}}`},
		{"date", PropertySchema{Type: TypeDate}, `{"type":"date","date":{}}`},
		{"people", PropertySchema{Type: TypePeople}, `{"type":"people","people":{}}`},
		{"files", PropertySchema{Type: TypeFiles}, `{"type":"files","files":{}}`},
		{"checkbox", PropertySchema{Type: TypeCheckbox}, `{"type":"checkbox","checkbox":{}}`},
		{"url", PropertySchema{Type: TypeURL}, `{"type":"url","url":{}}`},
		{"email", PropertySchema{Type: TypeEmail}, `{"type":"email","email":{}}`},
		{"phone_number", PropertySchema{Type: TypePhoneNumber}, `{"type":"phone_number","phone_number":{}}`},
		{"place", PropertySchema{Type: TypePlace}, `{"type":"place","place":{}}`},
		{"relation single", PropertySchema{Type: TypeRelation, Relation: &RelationConfig{DataSourceID: "ds1"}},
			`{"type":"relation","relation":{"data_source_id":"ds1","type":"single_property","single_property":{}}}`},
		{"relation dual", PropertySchema{Type: TypeRelation, Relation: &RelationConfig{DataSourceID: "ds1", Type: DualProperty, SyncedPropertyName: "Tasks", DatabaseID: "db1", SyncedPropertyID: "x"}},
			`{"type":"relation","relation":{"data_source_id":"ds1","type":"dual_property","dual_property":{"synced_property_name":"Tasks"}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, b, c.want)
		})
	}
}

func TestPropertySchemaRemovalIsNull(t *testing.T) {
	b, err := json.Marshal(map[string]*PropertySchema{"Old": nil, "New": {Type: TypeCheckbox}})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, `{"Old":null,"New":{"type":"checkbox","checkbox":{}}}`)
}

func TestPropertySchemaMarshalErrors(t *testing.T) {
	for _, c := range []struct {
		in   PropertySchema
		want string
	}{
		{PropertySchema{Name: "X"}, `"X" has no type`},
		{PropertySchema{Name: "R", Type: TypeRelation}, `relation property "R" has no relation config`},
		{PropertySchema{Name: "R", Type: TypeRelation, Relation: &RelationConfig{DataSourceID: "d", Type: "both"}}, `type "both" is neither`},
	} {
		_, err := json.Marshal(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Marshal(%+v) error = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestPropertyValueRequestJSON(t *testing.T) {
	cases := []struct {
		name string
		in   PropertyValue
		want string
	}{
		{"title", TitleValue(Text("Printer on fire")),
			`{"type":"title","title":[{"type":"text","text":{"content":"Printer on fire","link":null}}]}`},
		{"title empty clears", TitleValue(), `{"type":"title","title":[]}`},
		{"rich_text link + annotations", PropertyValue{Type: TypeRichText, RichText: []RichText{
			LinkText("docs", "https://x.test/d"),
			{Type: "text", Text: &TextContent{Content: "!"}, Annotations: &Annotations{Bold: true, Color: "red"}, PlainText: "!", Href: "ignored"},
		}},
			`{"type":"rich_text","rich_text":[{"type":"text","text":{"content":"docs","link":{"url":"https://x.test/d"}}},
			  {"type":"text","text":{"content":"!","link":null},"annotations":{"bold":true,"italic":false,"strikethrough":false,"underline":false,"code":false,"color":"red"}}]}`},
		{"number", NumberValue(ptr(12.5)), `{"type":"number","number":12.5}`},
		{"number zero", NumberValue(ptr(0.0)), `{"type":"number","number":0}`},
		{"number null clears", NumberValue(nil), `{"type":"number","number":null}`},
		{"checkbox true", CheckboxValue(true), `{"type":"checkbox","checkbox":true}`},
		{"checkbox false is a bool", CheckboxValue(false), `{"type":"checkbox","checkbox":false}`},
		{"select", SelectValue("high"), `{"type":"select","select":{"name":"high"}}`},
		{"select read back sends name only", PropertyValue{Type: TypeSelect, Select: &SelectOption{ID: "i", Name: "high", Color: "red"}}, `{"type":"select","select":{"name":"high"}}`},
		{"select by id", PropertyValue{Type: TypeSelect, Select: &SelectOption{ID: "i"}}, `{"type":"select","select":{"id":"i"}}`},
		{"select null clears", SelectValue(""), `{"type":"select","select":null}`},
		{"status", StatusValue("Done"), `{"type":"status","status":{"name":"Done"}}`},
		{"status null", StatusValue(""), `{"type":"status","status":null}`},
		{"multi_select", MultiSelectValue("a", "b"), `{"type":"multi_select","multi_select":[{"name":"a"},{"name":"b"}]}`},
		{"multi_select empty", MultiSelectValue(), `{"type":"multi_select","multi_select":[]}`},
		{"date", DateValue(&Date{Start: "2024-05-01"}), `{"type":"date","date":{"start":"2024-05-01","end":null,"time_zone":null}}`},
		{"date range tz", DateValue(&Date{Start: "2024-05-01T10:00:00", End: "2024-05-02T10:00:00", TimeZone: "Europe/Paris"}),
			`{"type":"date","date":{"start":"2024-05-01T10:00:00","end":"2024-05-02T10:00:00","time_zone":"Europe/Paris"}}`},
		{"date null", DateValue(nil), `{"type":"date","date":null}`},
		{"people sends refs only", PropertyValue{Type: TypePeople, People: []User{{Object: "user", ID: "u1", Name: "Ada", Type: "person", Person: &Person{Email: "a@x"}}, {ID: "u2"}}},
			`{"type":"people","people":[{"object":"user","id":"u1"},{"object":"user","id":"u2"}]}`},
		{"people empty", PeopleValue(), `{"type":"people","people":[]}`},
		{"files", FilesValue(ExternalFile("spec.pdf", "https://x.test/spec.pdf")),
			`{"type":"files","files":[{"name":"spec.pdf","type":"external","external":{"url":"https://x.test/spec.pdf"}}]}`},
		{"files empty", FilesValue(), `{"type":"files","files":[]}`},
		{"url", URLValue("https://x.test"), `{"type":"url","url":"https://x.test"}`},
		{"url emptied is null", URLValue(""), `{"type":"url","url":null}`},
		{"url pointer to empty is null", PropertyValue{Type: TypeURL, URL: ptr("")}, `{"type":"url","url":null}`},
		{"email", EmailValue("a@x.test"), `{"type":"email","email":"a@x.test"}`},
		{"email null", EmailValue(""), `{"type":"email","email":null}`},
		{"phone", PhoneNumberValue("+33 1 23"), `{"type":"phone_number","phone_number":"+33 1 23"}`},
		{"phone null", PhoneNumberValue(""), `{"type":"phone_number","phone_number":null}`},
		{"place", PlaceValue(&Place{Lat: 48.85, Lon: 2.35, Name: "Paris", Address: "Paris, France", GooglePlaceID: "g1"}),
			`{"type":"place","place":{"lat":48.85,"lon":2.35,"name":"Paris","address":"Paris, France","google_place_id":"g1"}}`},
		{"place minimal", PlaceValue(&Place{Lat: 0, Lon: -1.5}), `{"type":"place","place":{"lat":0,"lon":-1.5}}`},
		{"place null", PlaceValue(nil), `{"type":"place","place":null}`},
		{"relation", RelationValue("p1", "p2"), `{"type":"relation","relation":[{"id":"p1"},{"id":"p2"}]}`},
		{"relation empty", RelationValue(), `{"type":"relation","relation":[]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, b, c.want)
		})
	}
	if _, err := json.Marshal(PropertyValue{}); err == nil {
		t.Error("a value without a type marshalled")
	}
}

func TestFilterAndSortJSON(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"title equals", TextEquals("Key", TypeTitle, "T-1"), `{"property":"Key","title":{"equals":"T-1"}}`},
		{"rich_text contains", PropertyFilter("Body", TypeRichText, Condition{Contains: "fire"}), `{"property":"Body","rich_text":{"contains":"fire"}}`},
		{"number gt", PropertyFilter("N", TypeNumber, Condition{GreaterThan: ptr(5.0)}), `{"property":"N","number":{"greater_than":5}}`},
		{"number lte", PropertyFilter("N", TypeNumber, Condition{LessOrEqual: ptr(0.0)}), `{"property":"N","number":{"less_than_or_equal_to":0}}`},
		{"checkbox", PropertyFilter("Done", TypeCheckbox, Condition{Equals: false}), `{"property":"Done","checkbox":{"equals":false}}`},
		{"select", PropertyFilter("P", TypeSelect, Condition{Equals: "high"}), `{"property":"P","select":{"equals":"high"}}`},
		{"status not", PropertyFilter("S", TypeStatus, Condition{DoesNotEqual: "Done"}), `{"property":"S","status":{"does_not_equal":"Done"}}`},
		{"date after", PropertyFilter("D", TypeDate, Condition{OnOrAfter: "2024-01-01"}), `{"property":"D","date":{"on_or_after":"2024-01-01"}}`},
		{"is_empty", PropertyFilter("U", TypeURL, Condition{IsEmpty: true}), `{"property":"U","url":{"is_empty":true}}`},
		{"timestamp", TimestampFilter("last_edited_time", Condition{After: "2024-01-01T00:00:00Z"}),
			`{"timestamp":"last_edited_time","last_edited_time":{"after":"2024-01-01T00:00:00Z"}}`},
		{"and/or", And(TextEquals("K", TypeTitle, "a"), Or(PropertyFilter("Done", TypeCheckbox, Condition{Equals: true}), nil)),
			`{"and":[{"property":"K","title":{"equals":"a"}},{"or":[{"property":"Done","checkbox":{"equals":true}}]}]}`},
		{"query", QueryRequest{Filter: TextEquals("K", TypeTitle, "a"), Sorts: []Sort{{Property: "N", Direction: Descending}, {Timestamp: "created_time", Direction: Ascending}}, StartCursor: "c1", PageSize: 100},
			`{"filter":{"property":"K","title":{"equals":"a"}},"sorts":[{"property":"N","direction":"descending"},{"timestamp":"created_time","direction":"ascending"}],"start_cursor":"c1","page_size":100}`},
		{"empty query", QueryRequest{}, `{}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, b, c.want)
		})
	}
	for _, bad := range []*Filter{
		{Property: "K"},
		{Property: "K", Type: TypeTitle},
		{Property: "K", Type: TypeTitle, Condition: Condition{Equals: "a", Contains: "b"}},
		{Condition: Condition{Equals: "a"}},
	} {
		if b, err := json.Marshal(bad); err == nil {
			t.Errorf("bad filter %+v marshalled to %s", bad, b)
		}
	}
}
