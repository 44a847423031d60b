package notion_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

// TestEveryPropertyTypeRoundTrips writes a value of every type and reads
// back the same value, then clears them all.
func TestEveryPropertyTypeRoundTrips(t *testing.T) {
	_, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	_, projectsDS := createDB(t, c, "Projects", nil)
	_, tasksDS := createDB(t, c, "Tasks", map[string]notion.PropertySchema{
		"Body":     {Type: notion.TypeRichText},
		"Estimate": {Type: notion.TypeNumber, Format: "number_with_commas"},
		"Priority": {Type: notion.TypeSelect, Options: []notion.SelectOption{{Name: "high", Color: "red"}}},
		"Tags":     {Type: notion.TypeMultiSelect, Options: []notion.SelectOption{{Name: "bug"}}},
		"Stage": {Type: notion.TypeStatus,
			Options: []notion.SelectOption{{Name: "New", Color: "gray"}, {Name: "Doing", Color: "blue"}, {Name: "Done", Color: "green"}},
			Groups: []notion.StatusGroup{{Name: "To-do", OptionNames: []string{"New"}}, {Name: "In progress", OptionNames: []string{"Doing"}},
				{Name: "Complete", OptionNames: []string{"Done"}}}},
		"Due":      {Type: notion.TypeDate},
		"Owners":   {Type: notion.TypePeople},
		"Files":    {Type: notion.TypeFiles},
		"Done":     {Type: notion.TypeCheckbox},
		"Site":     {Type: notion.TypeURL},
		"Mail":     {Type: notion.TypeEmail},
		"Phone":    {Type: notion.TypePhoneNumber},
		"Where":    {Type: notion.TypePlace},
		"Projects": {Type: notion.TypeRelation, Relation: &notion.RelationConfig{DataSourceID: projectsDS, Type: notion.DualProperty, SyncedPropertyName: "Tasks"}},
	})

	// A relation to itself can only be added once the data source exists.
	ds, err := c.UpdateDataSource(ctx, tasksDS, notion.UpdateDataSourceRequest{Properties: map[string]*notion.PropertySchema{
		"Parent": {Type: notion.TypeRelation, Relation: &notion.RelationConfig{DataSourceID: tasksDS}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := ds.Properties["Parent"].Relation; r == nil || r.Type != notion.SingleProperty || !sameID(r.DataSourceID, tasksDS) {
		t.Errorf("Parent relation = %+v", ds.Properties["Parent"])
	}
	stage := ds.Properties["Stage"]
	if len(stage.Groups) != 3 || len(stage.Groups[2].OptionIDs) != 1 || stage.Groups[2].OptionIDs[0] != optionID(stage, "Done") {
		t.Errorf("Stage groups = %+v", stage.Groups)
	}
	if r := ds.Properties["Projects"].Relation; r == nil || r.Type != notion.DualProperty || !sameID(r.DataSourceID, projectsDS) || r.SyncedPropertyName != "Tasks" {
		t.Errorf("Projects relation = %+v", r)
	}
	projects, err := c.GetDataSource(ctx, projectsDS)
	if err != nil {
		t.Fatal(err)
	}
	if r := projects.Properties["Tasks"].Relation; r == nil || !sameID(r.DataSourceID, tasksDS) || r.Type != notion.DualProperty || r.SyncedPropertyName != "Projects" {
		t.Errorf("synced side Tasks on Projects = %+v", projects.Properties["Tasks"])
	}

	users, err := c.AllUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var people []string
	for _, u := range users {
		if u.Type == "person" {
			people = append(people, u.ID)
		}
	}
	if len(people) < 2 {
		t.Fatalf("need two people, got %v", users)
	}
	proj, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: projectsDS, Properties: titled("Apollo")})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: tasksDS, Properties: titled("parent task")})
	if err != nil {
		t.Fatal(err)
	}

	bold := notion.Text("bold")
	bold.Annotations = &notion.Annotations{Bold: true, Color: "red"}
	want := map[string]notion.PropertyValue{
		"Name":     notion.TitleValue(notion.Text("Fix the "), notion.LinkText("printer", "https://x.test/p")),
		"Body":     notion.RichTextValue(notion.Text("plain "), bold),
		"Estimate": notion.NumberValue(f64(1234.5)),
		"Priority": notion.SelectValue("high"),
		"Tags":     notion.MultiSelectValue("bug", "brand-new-tag"),
		"Stage":    notion.StatusValue("Doing"),
		"Due":      notion.DateValue(&notion.Date{Start: "2024-05-01T09:30:00.000+02:00", End: "2024-05-03"}),
		"Owners":   notion.PeopleValue(people[0], people[1]),
		"Files":    notion.FilesValue(notion.ExternalFile("spec.pdf", "https://x.test/spec.pdf")),
		"Done":     notion.CheckboxValue(true),
		"Site":     notion.URLValue("https://x.test/site"),
		"Mail":     notion.EmailValue("ada@example.com"),
		"Phone":    notion.PhoneNumberValue("+33 1 23 45 67 89"),
		"Where":    notion.PlaceValue(&notion.Place{Lat: 48.8584, Lon: 2.2945, Name: "Eiffel Tower", Address: "Champ de Mars, Paris", GooglePlaceID: "ChIJLU7jZClu5kcR4PcOOO6p3I0"}),
		"Parent":   notion.RelationValue(parent.ID),
		"Projects": notion.RelationValue(proj.ID),
	}
	page, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: tasksDS, Properties: want})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetPage(ctx, page.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if !sameValue(w, got.Properties[name]) {
			t.Errorf("%s: wrote %s, read %s", name, js(w), js(got.Properties[name]))
		}
	}
	// Response forms carry what Notion adds.
	if o := got.Properties["Priority"].Select; o == nil || o.ID == "" || o.Color != "red" {
		t.Errorf("select read back as %+v", o)
	}
	if o := got.Properties["Owners"].People; len(o) != 2 || o[0].Object != "user" || o[0].Name == "" {
		t.Errorf("people read back as %+v", o)
	}
	if rt := got.Properties["Name"].Title; len(rt) != 2 || rt[1].Href != "https://x.test/p" || rt[0].PlainText != "Fix the " || rt[0].Annotations == nil {
		t.Errorf("title read back as %s", js(rt))
	}
	// An unknown select option is added to the schema, as Notion does.
	ds, err = c.GetDataSource(ctx, tasksDS)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ds.Properties["Tags"].OptionNames(), "brand-new-tag") {
		t.Errorf("Tags options = %v, want brand-new-tag added", ds.Properties["Tags"].OptionNames())
	}
	// The dual relation shows on the project.
	pp, err := c.GetPage(ctx, proj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := pp.Properties["Tasks"].Relation; len(r) != 1 || !sameID(r[0].ID, page.ID) {
		t.Errorf("project's Tasks = %+v, want [%s]", r, page.ID)
	}

	// Clearing every property.
	cleared := map[string]notion.PropertyValue{
		"Body": notion.RichTextValue(), "Estimate": notion.NumberValue(nil), "Priority": notion.SelectValue(""),
		"Tags": notion.MultiSelectValue(), "Stage": notion.StatusValue(""), "Due": notion.DateValue(nil), "Owners": notion.PeopleValue(),
		"Files": notion.FilesValue(), "Done": notion.CheckboxValue(false), "Site": notion.URLValue(""), "Mail": notion.EmailValue(""),
		"Phone": notion.PhoneNumberValue(""), "Where": notion.PlaceValue(nil), "Parent": notion.RelationValue(), "Projects": notion.RelationValue(),
	}
	upd, err := c.UpdatePage(ctx, page.ID, notion.UpdatePageRequest{Properties: cleared})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range cleared {
		if !sameValue(w, upd.Properties[name]) {
			t.Errorf("%s: cleared with %s, read %s", name, js(w), js(upd.Properties[name]))
		}
	}
	if upd.Properties["Name"].Text() != "Fix the printer" {
		t.Errorf("title changed by an update that did not name it: %q", upd.Properties["Name"].Text())
	}
	pp, err = c.GetPage(ctx, proj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := pp.Properties["Tasks"].Relation; len(r) != 0 {
		t.Errorf("project's Tasks after clearing = %+v", r)
	}
}

func optionID(p notion.PropertySchema, name string) string {
	for _, o := range p.Options {
		if o.Name == name {
			return o.ID
		}
	}
	return ""
}

// sameValue compares the request forms of two values, so response-only
// details (ids, colors, annotations) do not matter; ids compare undashed.
func sameValue(a, b notion.PropertyValue) bool {
	norm := func(v notion.PropertyValue) string {
		for i := range v.Relation {
			v.Relation[i].ID = undash(v.Relation[i].ID)
		}
		for i := range v.People {
			v.People[i].ID = undash(v.People[i].ID)
		}
		for i := range v.Title {
			v.Title[i].Annotations = nil
		}
		for i := range v.RichText {
			if v.RichText[i].Annotations != nil && *v.RichText[i].Annotations == (notion.Annotations{Color: "default"}) {
				v.RichText[i].Annotations = nil
			}
		}
		return js(v)
	}
	return norm(clone(a)) == norm(clone(b))
}

func clone(v notion.PropertyValue) notion.PropertyValue {
	v.Relation = slices.Clone(v.Relation)
	v.People = slices.Clone(v.People)
	v.Title = slices.Clone(v.Title)
	v.RichText = slices.Clone(v.RichText)
	return v
}

func undash(id string) string {
	out := make([]byte, 0, len(id))
	for i := range len(id) {
		if id[i] != '-' {
			out = append(out, id[i])
		}
	}
	return string(out)
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}
