package notion

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Response samples in the shapes of the Notion API reference (2025-09-03).

const pageSample = `{
  "object": "page",
  "id": "be633bf1-dfa0-436d-b259-571129a590e5",
  "created_time": "2022-10-24T22:54:00.000Z",
  "last_edited_time": "2023-03-08T18:25:00.000Z",
  "created_by": {"object": "user", "id": "c2f20311-9e54-4d11-8c79-7398424ae41e"},
  "last_edited_by": {"object": "user", "id": "9188c6a5-7381-452f-b3dc-d4865aa89bdf"},
  "cover": null,
  "icon": {"type": "emoji", "emoji": "🐞"},
  "parent": {"type": "data_source_id", "data_source_id": "1c7b35e6-e67f-8096-bf3f-000ba938459e", "database_id": "a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b"},
  "archived": false,
  "in_trash": false,
  "is_locked": false,
  "properties": {
    "Due date": {"id": "M%3BBw", "type": "date", "date": {"start": "2023-02-23", "end": null, "time_zone": null}},
    "Status": {"id": "Z%3ClH", "type": "status", "status": {"id": "86ddb6ec-0627-47f8-800d-b65afd28be13", "name": "Not started", "color": "default"}},
    "Title": {"id": "title", "type": "title", "title": [{"type": "text", "text": {"content": "Bug bash", "link": null},
      "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"},
      "plain_text": "Bug bash", "href": null}]},
    "Notes": {"id": "n1", "type": "rich_text", "rich_text": [
      {"type": "text", "text": {"content": "see ", "link": null}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "see ", "href": null},
      {"type": "text", "text": {"content": "docs", "link": {"url": "https://x.test/d"}}, "annotations": {"bold": true, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "docs", "href": "https://x.test/d"},
      {"type": "mention", "mention": {"type": "user", "user": {"object": "user", "id": "u1"}}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "@Ada", "href": null}]},
    "Estimate": {"id": "e1", "type": "number", "number": 3.5},
    "Empty number": {"id": "e2", "type": "number", "number": null},
    "Done": {"id": "d1", "type": "checkbox", "checkbox": true},
    "Priority": {"id": "p1", "type": "select", "select": {"id": "o1", "name": "High", "color": "red"}},
    "No priority": {"id": "p2", "type": "select", "select": null},
    "Tags": {"id": "t1", "type": "multi_select", "multi_select": [{"id": "m1", "name": "bug", "color": "blue"}, {"id": "m2", "name": "ui", "color": "green"}]},
    "Assignee": {"id": "a1", "type": "people", "people": [{"object": "user", "id": "d40e767c-d7af-4b18-a86d-55c61f1e39a4", "name": "Avocado Lovelace", "avatar_url": null, "type": "person", "person": {"email": "avo@example.org"}}]},
    "Attachments": {"id": "f1", "type": "files", "files": [
      {"name": "spec.pdf", "type": "external", "external": {"url": "https://x.test/spec.pdf"}},
      {"name": "shot.png", "type": "file", "file": {"url": "https://s3.test/shot.png", "expiry_time": "2024-01-01T00:00:00.000Z"}}]},
    "Site": {"id": "u1", "type": "url", "url": "https://x.test"},
    "Mail": {"id": "e3", "type": "email", "email": null},
    "Phone": {"id": "ph", "type": "phone_number", "phone_number": "+1 555"},
    "Where": {"id": "pl", "type": "place", "place": {"lat": 48.8584, "lon": 2.2945, "name": "Eiffel Tower", "address": "Paris", "google_place_id": null}},
    "Project": {"id": "r1", "type": "relation", "relation": [{"id": "dd456007-6c66-4bba-957e-ea501dcda3a6"}], "has_more": false},
    "Score": {"id": "fo", "type": "formula", "formula": {"type": "number", "number": 42}}
  },
  "url": "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5",
  "public_url": null,
  "request_id": "req-1"
}`

func TestDecodePage(t *testing.T) {
	var p Page
	if err := json.Unmarshal([]byte(pageSample), &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != "be633bf1-dfa0-436d-b259-571129a590e5" || p.Object != "page" || p.URL == "" || p.PublicURL != "" {
		t.Errorf("page header = %+v", p)
	}
	if !p.CreatedTime.Equal(time.Date(2022, 10, 24, 22, 54, 0, 0, time.UTC)) || p.CreatedBy.ID != "c2f20311-9e54-4d11-8c79-7398424ae41e" {
		t.Errorf("created = %v by %+v", p.CreatedTime, p.CreatedBy)
	}
	if p.Icon == nil || p.Icon.Emoji != "🐞" || p.Cover != nil {
		t.Errorf("icon %+v cover %+v", p.Icon, p.Cover)
	}
	if p.Parent.Type != "data_source_id" || p.Parent.DataSourceID == "" || p.Parent.DatabaseID == "" {
		t.Errorf("parent = %+v", p.Parent)
	}
	pr := p.Properties
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("property %q decoded as %+v", name, pr[name])
		}
	}
	check("Due date", pr["Due date"].Date != nil && pr["Due date"].Date.Start == "2023-02-23" && pr["Due date"].Date.End == "")
	check("Status", pr["Status"].Status != nil && pr["Status"].Status.Name == "Not started" && pr["Status"].Status.ID != "")
	check("Title", pr["Title"].Text() == "Bug bash" && pr["Title"].ID == "title" && pr["Title"].Title[0].Annotations.Color == "default")
	check("Notes", pr["Notes"].Text() == "see docs@Ada" && pr["Notes"].RichText[1].Href == "https://x.test/d" && pr["Notes"].RichText[2].Type == "mention")
	check("Estimate", pr["Estimate"].Number != nil && *pr["Estimate"].Number == 3.5)
	check("Empty number", pr["Empty number"].Type == TypeNumber && pr["Empty number"].Number == nil)
	check("Done", pr["Done"].Checkbox)
	check("Priority", pr["Priority"].Select.Name == "High" && pr["Priority"].Select.Color == "red")
	check("No priority", pr["No priority"].Type == TypeSelect && pr["No priority"].Select == nil)
	check("Tags", len(pr["Tags"].MultiSelect) == 2 && pr["Tags"].MultiSelect[1].Name == "ui")
	check("Assignee", len(pr["Assignee"].People) == 1 && pr["Assignee"].People[0].Email() == "avo@example.org")
	check("Attachments", len(pr["Attachments"].Files) == 2 && pr["Attachments"].Files[0].External.URL == "https://x.test/spec.pdf" && pr["Attachments"].Files[1].File.ExpiryTime != "")
	check("Site", pr["Site"].URL != nil && *pr["Site"].URL == "https://x.test")
	check("Mail", pr["Mail"].Type == TypeEmail && pr["Mail"].Email == nil)
	check("Phone", *pr["Phone"].PhoneNumber == "+1 555")
	check("Where", pr["Where"].Place != nil && pr["Where"].Place.Lat == 48.8584 && pr["Where"].Place.GooglePlaceID == "")
	check("Project", len(pr["Project"].Relation) == 1 && !pr["Project"].HasMore)
	check("Score", pr["Score"].Type == "formula")

	// Values read back are writable as they are.
	out, err := json.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]PropertyValue
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Notes", "Priority", "Tags", "Assignee", "Where", "Project", "Score"} {
		a, _ := json.Marshal(pr[name])
		b, _ := json.Marshal(back[name])
		if string(a) != string(b) {
			t.Errorf("%s does not survive a round trip:\n%s\n%s", name, a, b)
		}
	}
	if s := string(out); !strings.Contains(s, `"mention":{"type":"user"`) || strings.Contains(s, "Avocado") {
		t.Errorf("request form keeps mentions and drops user details: %s", s)
	}
}

const dataSourceSample = `{
  "object": "data_source",
  "id": "bc1211ca-e3f1-4939-ae34-5260b16f627c",
  "created_time": "2021-07-08T23:50:00.000Z",
  "last_edited_time": "2021-07-08T23:50:00.000Z",
  "created_by": {"object": "user", "id": "45ee8d13-687b-47ce-a5ca-6e2e45548c4b"},
  "last_edited_by": {"object": "user", "id": "45ee8d13-687b-47ce-a5ca-6e2e45548c4b"},
  "title": [{"type": "text", "text": {"content": "Grocery list", "link": null}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "Grocery list", "href": null}],
  "description": [],
  "icon": {"type": "emoji", "emoji": "🎉"},
  "cover": {"type": "external", "external": {"url": "https://website.domain/images/image.png"}},
  "parent": {"type": "database_id", "database_id": "842a0286-cef0-46a8-abba-eac4c8ca644e"},
  "database_parent": {"type": "page_id", "page_id": "af5f89b5-a8ff-4c56-a5e8-69797d11b9f8"},
  "archived": false,
  "in_trash": false,
  "is_inline": false,
  "url": "https://www.notion.so/bc1211cae3f14939ae345260b16f627c",
  "public_url": null,
  "properties": {
    "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
    "Description": {"id": "J@cS", "name": "Description", "description": null, "type": "rich_text", "rich_text": {}},
    "Price": {"id": "cU^N", "name": "Price", "type": "number", "number": {"format": "dollar"}},
    "Food group": {"id": "TJmr", "name": "Food group", "type": "select", "select": {"options": [
      {"id": "96eb622f-4b88-4283-919d-ece2fbed3841", "name": "🥦Vegetable", "color": "green", "description": null},
      {"id": "bb443819-81dc-46fb-882d-ebee6e22c432", "name": "🍎Fruit", "color": "red", "description": null}]}},
    "Tags": {"id": "flsb", "name": "Tags", "type": "multi_select", "multi_select": {"options": [{"id": "5de29601-9c24-4b04-8629-0bca891c5120", "name": "Duc Loi Market", "color": "blue"}]}},
    "Status": {"id": "biOx", "name": "Status", "type": "status", "status": {
      "options": [{"id": "034ece9a-384d-4d1f-97f7-7f685b29ae9b", "name": "Not started", "color": "default"}, {"id": "330aeafb-598c-4e1c-bc13-1148aa5963d3", "name": "Done", "color": "green"}],
      "groups": [{"id": "b9d42483-e576-4858-a26f-ed940a5f678f", "name": "To-do", "color": "gray", "option_ids": ["034ece9a-384d-4d1f-97f7-7f685b29ae9b"]},
                 {"id": "cf4952eb-1265-46ec-86ab-4bded4fa2e3b", "name": "Complete", "color": "green", "option_ids": ["330aeafb-598c-4e1c-bc13-1148aa5963d3"]}]}},
    "Last ordered": {"id": "]\\R[", "name": "Last ordered", "type": "date", "date": {}},
    "Cook": {"id": "TJm", "name": "Cook", "type": "people", "people": {}},
    "Photo": {"id": "fil", "name": "Photo", "type": "files", "files": {}},
    "In stock": {"id": "{>U;", "name": "In stock", "type": "checkbox", "checkbox": {}},
    "Site": {"id": "u", "name": "Site", "type": "url", "url": {}},
    "Mail": {"id": "e", "name": "Mail", "type": "email", "email": {}},
    "Phone": {"id": "p", "name": "Phone", "type": "phone_number", "phone_number": {}},
    "Store": {"id": "pl", "name": "Store", "type": "place", "place": {}},
    "Projects": {"id": "~pex", "name": "Projects", "type": "relation", "relation": {
      "database_id": "6c4240a9-a3ce-413e-9fd0-8a51a4d0a49b", "data_source_id": "7d4240a9-a3ce-413e-9fd0-8a51a4d0a49c",
      "type": "dual_property", "dual_property": {"synced_property_name": "Tasks", "synced_property_id": "JU]K"}}},
    "Parent": {"id": "pa", "name": "Parent", "type": "relation", "relation": {"database_id": "d1", "data_source_id": "s1", "type": "single_property", "single_property": {}}},
    "Cost of next trip": {"id": "WOd:", "name": "Cost of next trip", "type": "formula", "formula": {"expression": "prop(\"Price\") * 2"}}
  },
  "request_id": "r2"
}`

func TestDecodeDataSource(t *testing.T) {
	var ds DataSource
	if err := json.Unmarshal([]byte(dataSourceSample), &ds); err != nil {
		t.Fatal(err)
	}
	if ds.PlainTitle() != "Grocery list" || ds.Parent.DatabaseID != "842a0286-cef0-46a8-abba-eac4c8ca644e" || ds.DatabaseParent.PageID != "af5f89b5-a8ff-4c56-a5e8-69797d11b9f8" {
		t.Errorf("header = %+v", ds)
	}
	if ds.Cover == nil || ds.Cover.External.URL == "" {
		t.Errorf("cover = %+v", ds.Cover)
	}
	p := ds.Properties
	if len(p) != 17 {
		t.Errorf("%d properties, want 17", len(p))
	}
	if p["Name"].Type != TypeTitle || p["Name"].ID != "title" || p["Name"].Name != "Name" {
		t.Errorf("Name = %+v", p["Name"])
	}
	if p["Price"].Format != "dollar" {
		t.Errorf("Price = %+v", p["Price"])
	}
	if got := p["Food group"].OptionNames(); len(got) != 2 || got[1] != "🍎Fruit" || p["Food group"].Options[0].ID == "" {
		t.Errorf("Food group = %+v", p["Food group"])
	}
	st := p["Status"]
	if len(st.Options) != 2 || len(st.Groups) != 2 || st.Groups[1].OptionIDs[0] != st.Options[1].ID {
		t.Errorf("Status = %+v", st)
	}
	rel := p["Projects"].Relation
	if rel == nil || rel.Type != DualProperty || rel.SyncedPropertyName != "Tasks" || rel.SyncedPropertyID != "JU]K" || rel.DatabaseID == "" || rel.DataSourceID == "" {
		t.Errorf("Projects = %+v", rel)
	}
	if r := p["Parent"].Relation; r == nil || r.Type != SingleProperty || r.DataSourceID != "s1" {
		t.Errorf("Parent = %+v", r)
	}
	for name, typ := range map[string]string{"Last ordered": TypeDate, "Cook": TypePeople, "Photo": TypeFiles, "In stock": TypeCheckbox,
		"Site": TypeURL, "Mail": TypeEmail, "Phone": TypePhoneNumber, "Store": TypePlace, "Cost of next trip": "formula", "Description": TypeRichText} {
		if p[name].Type != typ {
			t.Errorf("%s type = %q, want %q", name, p[name].Type, typ)
		}
	}
	// A schema read back can be sent in an update: request form, formula kept.
	b, err := json.Marshal(map[string]*PropertySchema{"Projects": ptr(p["Projects"]), "Cost of next trip": ptr(p["Cost of next trip"])})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, `{"Projects":{"name":"Projects","type":"relation","relation":{"data_source_id":"7d4240a9-a3ce-413e-9fd0-8a51a4d0a49c","type":"dual_property","dual_property":{"synced_property_name":"Tasks"}}},
	  "Cost of next trip":{"name":"Cost of next trip","type":"formula","formula":{"expression":"prop(\"Price\") * 2"}}}`)
}

const databaseSample = `{
  "object": "database",
  "id": "248104cd-477e-80fd-b757-e945d38000bd",
  "title": [{"type": "text", "text": {"content": "My Task Tracker", "link": null}, "plain_text": "My Task Tracker", "href": null}],
  "description": [],
  "parent": {"type": "page_id", "page_id": "255104cd-477e-808c-b279-d39ab803a7d2"},
  "is_inline": false,
  "in_trash": false,
  "archived": false,
  "is_locked": false,
  "created_time": "2025-08-07T10:11:07.504Z",
  "last_edited_time": "2025-08-10T15:53:11.386Z",
  "created_by": {"object": "user", "id": "u"},
  "last_edited_by": {"object": "user", "id": "u"},
  "data_sources": [{"id": "248104cd-477e-80af-bc30-000bd28de8f9", "name": "My Task Tracker"}],
  "icon": null,
  "cover": null,
  "url": "https://www.notion.so/248104cd477e80fdb757e945d38000bd",
  "public_url": null,
  "request_id": "r3"
}`

func TestDecodeDatabase(t *testing.T) {
	var db Database
	if err := json.Unmarshal([]byte(databaseSample), &db); err != nil {
		t.Fatal(err)
	}
	if db.PlainTitle() != "My Task Tracker" || db.Parent.PageID != "255104cd-477e-808c-b279-d39ab803a7d2" ||
		len(db.DataSources) != 1 || db.DataSources[0].ID != "248104cd-477e-80af-bc30-000bd28de8f9" || db.Icon != nil {
		t.Errorf("database = %+v", db)
	}
}

func TestDecodeLists(t *testing.T) {
	query := `{"object": "list", "results": [` + pageSample + `,` + dataSourceSample + `], "next_cursor": "c2", "has_more": true,
	  "type": "page_or_data_source", "page_or_data_source": {}, "request_id": "r4"}`
	var pl PageList
	if err := json.Unmarshal([]byte(query), &pl); err != nil {
		t.Fatal(err)
	}
	if len(pl.Results) != 1 || pl.Results[0].Object != "page" || pl.NextCursor != "c2" || !pl.HasMore || pl.RequestID != "r4" {
		t.Errorf("page list = %+v", pl)
	}
	var sr SearchResults
	if err := json.Unmarshal([]byte(query), &sr); err != nil {
		t.Fatal(err)
	}
	if len(sr.Results) != 2 || sr.Results[0].Page == nil || sr.Results[1].DataSource == nil || sr.Results[1].DataSource.PlainTitle() != "Grocery list" {
		t.Errorf("search results = %+v", sr)
	}
	end := `{"object": "list", "results": [], "next_cursor": null, "has_more": false, "type": "page_or_data_source", "page_or_data_source": {}}`
	if err := json.Unmarshal([]byte(end), &pl); err != nil || pl.NextCursor != "" || pl.HasMore || len(pl.Results) != 0 {
		t.Errorf("last page = %+v, %v", pl, err)
	}

	users := `{"object": "list", "results": [
	  {"object": "user", "id": "d40e767c-d7af-4b18-a86d-55c61f1e39a4", "type": "person", "person": {"email": "avo@example.org"}, "name": "Avocado Lovelace", "avatar_url": "https://secure.notion-static.com/e6a352a8.jpg"},
	  {"object": "user", "id": "9a3b5ae0-c6e6-482d-b0e1-ed315ee6dc57", "name": "Doug Engelbot", "avatar_url": null, "type": "bot", "bot": {}}],
	  "next_cursor": "fe2cc560-036c-44cd-90e8-294d5a74cebc", "has_more": true, "type": "user", "user": {}}`
	var ul UserList
	if err := json.Unmarshal([]byte(users), &ul); err != nil {
		t.Fatal(err)
	}
	if len(ul.Results) != 2 || ul.Results[0].Email() != "avo@example.org" || ul.Results[1].Type != "bot" || ul.Results[1].Email() != "" || ul.NextCursor == "" {
		t.Errorf("users = %+v", ul)
	}
}
