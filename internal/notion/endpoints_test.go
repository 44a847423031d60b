package notion_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

func TestDatabaseAndDataSourceEndpoints(t *testing.T) {
	_, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	db, dsID := createDB(t, c, "Tickets", map[string]notion.PropertySchema{
		"Key":      {Type: notion.TypeTitle},
		"Amount":   {Type: notion.TypeNumber, Format: "euro"},
		"Priority": {Type: notion.TypeSelect, Options: []notion.SelectOption{{Name: "high", Color: "red"}, {Name: "low"}}},
		"Old":      {Type: notion.TypeCheckbox},
	})
	if db.PlainTitle() != "Tickets" || db.Object != "database" || !sameID(db.Parent.PageID, notiontest.ParentPageID()) {
		t.Errorf("created database = %+v", db)
	}

	got, err := c.GetDatabase(ctx, db.ID)
	if err != nil || got.ID != db.ID || got.DataSources[0].ID != dsID {
		t.Fatalf("GetDatabase = %+v, %v", got, err)
	}
	upd, err := c.UpdateDatabase(ctx, db.ID, notion.UpdateDatabaseRequest{Title: "Tickets v2", Icon: notion.EmojiIcon("🎫")})
	if err != nil || upd.PlainTitle() != "Tickets v2" || upd.Icon == nil || upd.Icon.Emoji != "🎫" {
		t.Fatalf("UpdateDatabase = %+v, %v", upd, err)
	}

	ds, err := c.GetDataSource(ctx, dsID)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Object != "data_source" || !sameID(ds.Parent.DatabaseID, db.ID) || !sameID(ds.DatabaseParent.PageID, notiontest.ParentPageID()) {
		t.Errorf("data source header = %+v", ds)
	}
	if p := ds.Properties["Amount"]; p.Type != notion.TypeNumber || p.Format != "euro" || p.Name != "Amount" || p.ID == "" {
		t.Errorf("Amount = %+v", p)
	}
	if p := ds.Properties["Priority"]; !slices.Equal(p.OptionNames(), []string{"high", "low"}) || p.Options[0].ID == "" || p.Options[0].Color != "red" {
		t.Errorf("Priority = %+v", p)
	}
	if ds.Properties["Key"].Type != notion.TypeTitle {
		t.Errorf("Key = %+v", ds.Properties["Key"])
	}

	// Add, rename, change and remove properties in one update.
	renamed := ds.Properties["Amount"]
	renamed.Name = "Total"
	ds, err = c.UpdateDataSource(ctx, dsID, notion.UpdateDataSourceRequest{
		Title: "Open tickets",
		Properties: map[string]*notion.PropertySchema{
			"Notes":    {Type: notion.TypeRichText},
			"Amount":   &renamed,
			"Old":      nil,
			"Priority": {Type: notion.TypeSelect, Options: []notion.SelectOption{{Name: "high", Color: "red"}, {Name: "low"}, {Name: "urgent", Color: "purple"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ds.PlainTitle() != "Open tickets" {
		t.Errorf("title = %q", ds.PlainTitle())
	}
	if _, ok := ds.Properties["Old"]; ok {
		t.Error("Old was not removed")
	}
	if _, ok := ds.Properties["Amount"]; ok || ds.Properties["Total"].Format != "euro" {
		t.Errorf("Amount not renamed to Total: %+v", ds.Properties)
	}
	if ds.Properties["Notes"].Type != notion.TypeRichText || len(ds.Properties["Priority"].Options) != 3 {
		t.Errorf("after update: %+v", ds.Properties)
	}
	again, err := c.GetDataSource(ctx, dsID)
	if err != nil || len(again.Properties) != len(ds.Properties) {
		t.Errorf("GetDataSource after update: %d properties vs %d, %v", len(again.Properties), len(ds.Properties), err)
	}

	// Search finds the data source by title, and pages.
	var found []string
	if err := c.SearchDataSources(ctx, "Open tickets", func(d *notion.DataSource) error {
		found = append(found, d.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(found, func(id string) bool { return sameID(id, dsID) }) {
		t.Errorf("SearchDataSources found %v, want %s", found, dsID)
	}
	p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{"Key": notion.TitleValue(notion.Text("searchable row"))}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(ctx, notion.SearchRequest{Query: "searchable row", Filter: notion.ObjectPage})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || res.Results[0].Page == nil || res.Results[0].Page.ID != p.ID {
		t.Errorf("search for the page = %+v", res.Results)
	}
}

func TestPageEndpoints(t *testing.T) {
	_, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	_, dsID := createDB(t, c, "Pages", map[string]notion.PropertySchema{"N": {Type: notion.TypeNumber}})

	p, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: titled("first"), Icon: notion.EmojiIcon("🔥")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Object != "page" || p.ID == "" || !sameID(p.Parent.DataSourceID, dsID) || p.Icon == nil || p.Icon.Emoji != "🔥" || p.InTrash || p.CreatedTime.IsZero() {
		t.Errorf("created page = %+v", p)
	}
	got, err := c.GetPage(ctx, p.ID)
	if err != nil || got.Properties["Name"].Text() != "first" {
		t.Fatalf("GetPage = %+v, %v", got, err)
	}
	upd, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{
		Properties: map[string]notion.PropertyValue{"N": notion.NumberValue(f64(7))},
		Icon:       notion.ExternalIcon("https://x.test/i.png"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := upd.Properties["N"].Number; n == nil || *n != 7 || upd.Properties["Name"].Text() != "first" {
		t.Errorf("update changed %+v", upd.Properties)
	}
	if upd.Icon == nil || upd.Icon.External == nil || upd.Icon.External.URL != "https://x.test/i.png" {
		t.Errorf("icon = %+v", upd.Icon)
	}
	if !upd.LastEditedTime.After(p.CreatedTime) && !upd.LastEditedTime.Equal(p.CreatedTime) {
		t.Errorf("last_edited_time %v before created_time %v", upd.LastEditedTime, p.CreatedTime)
	}

	trashed, err := c.TrashPage(ctx, p.ID)
	if err != nil || !trashed.InTrash {
		t.Fatalf("TrashPage = %+v, %v", trashed, err)
	}
	if n := countRows(t, c, dsID, nil); n != 0 {
		t.Errorf("query returns %d rows after trashing the only one", n)
	}
	got, err = c.GetPage(ctx, p.ID)
	if err != nil || !got.InTrash {
		t.Errorf("trashed page reads as %+v, %v", got, err)
	}
	no := false
	if restored, err := c.UpdatePage(ctx, p.ID, notion.UpdatePageRequest{InTrash: &no}); err != nil || restored.InTrash {
		t.Errorf("restore = %+v, %v", restored, err)
	}
	if n := countRows(t, c, dsID, nil); n != 1 {
		t.Errorf("query returns %d rows after restoring", n)
	}
}

func TestUsers(t *testing.T) {
	_, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	first, err := c.ListUsers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.AllUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Results) == 0 || len(all) < len(testUsers) {
		t.Fatalf("users: first page %d, all %d", len(first.Results), len(all))
	}
	byEmail := map[string]notion.User{}
	for _, u := range all {
		if u.Object != "user" || u.ID == "" {
			t.Errorf("user %+v", u)
		}
		byEmail[u.Email()] = u
	}
	for _, want := range testUsers {
		if want.Bot {
			continue
		}
		u, ok := byEmail[want.Email]
		if !ok || !sameID(u.ID, want.ID) || u.Name != want.Name || u.Type != "person" {
			t.Errorf("user %s = %+v", want.Email, u)
		}
	}
	bots := 0
	for _, u := range all {
		if u.Type == "bot" {
			bots++
		}
	}
	if bots == 0 {
		t.Error("no bot user listed")
	}
}

func TestErrorCodes(t *testing.T) {
	s, c := start(t, emulator.Config{})
	ctx := ctxT(t)
	_, dsID := createDB(t, c, "Errors", map[string]notion.PropertySchema{"Tags": {Type: notion.TypeMultiSelect}, "Body": {Type: notion.TypeRichText}})

	code := func(err error) (int, string) {
		var e *notion.Error
		if !errors.As(err, &e) {
			t.Fatalf("not a Notion error: %v", err)
		}
		return e.Status, e.Code
	}
	expect := func(what string, err error, status int, want string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if st, cd := code(err); st != status || cd != want {
			t.Errorf("%s: %d %s (%v), want %d %s", what, st, cd, err, status, want)
		}
		if strings.Contains(err.Error(), notiontest.Token) {
			t.Errorf("%s: error contains the token", what)
		}
	}

	bad := client(t, s, func(cfg *notion.Config) { cfg.Token = "secret_not_a_real_token" })
	_, err := bad.GetDataSource(ctx, dsID)
	expect("bad token", err, 401, notion.CodeUnauthorized)

	_, err = c.GetPage(ctx, "00000000-0000-4000-8000-000000000000")
	expect("unknown page", err, 404, notion.CodeObjectNotFound)
	if !notion.IsNotFound(err) {
		t.Error("IsNotFound(object_not_found) = false")
	}
	_, err = c.GetDataSource(ctx, "0000000000004000800000000000dead")
	expect("unknown data source (undashed id)", err, 404, notion.CodeObjectNotFound)

	_, err = c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
		"Name": notion.TitleValue(notion.Text("x")), "Nope": notion.CheckboxValue(true)}})
	expect("unknown property", err, 400, notion.CodeValidation)
	if !notion.IsValidation(err) || errors.Is(err, notion.ErrAmbiguousWrite) {
		t.Errorf("validation error classified wrong: %v", err)
	}
	_, err = c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
		"Name": notion.TitleValue(notion.Text("x")), "Body": notion.RichTextValue(notion.Text(strings.Repeat("é", 2001)))}})
	expect("text over 2000 characters", err, 400, notion.CodeValidation)
	tags := make([]string, 101)
	for i := range tags {
		tags[i] = "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	_, err = c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
		"Name": notion.TitleValue(notion.Text("x")), "Tags": notion.MultiSelectValue(tags...)}})
	expect("101 multi-select items", err, 400, notion.CodeValidation)
	if n := countRows(t, c, dsID, nil); n != 0 {
		t.Errorf("%d rows exist after refused creates", n)
	}
	// 2000 characters and 100 items are within the limits.
	if _, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: dsID, Properties: map[string]notion.PropertyValue{
		"Name": notion.TitleValue(notion.Text("x")), "Body": notion.RichTextValue(notion.Text(strings.Repeat("é", 2000))),
		"Tags": notion.MultiSelectValue(tags[:100]...)}}); err != nil {
		t.Errorf("values at the limits refused: %v", err)
	}

	// Error paths the client never produces, shown with raw requests.
	auth := map[string]string{"Authorization": "Bearer " + notiontest.Token, "Content-Type": "application/json"}
	withVersion := map[string]string{"Notion-Version": notion.VersionDefault}
	for k, v := range auth {
		withVersion[k] = v
	}
	rawCode := func(what string, method, path, body string, hdr map[string]string, status int, want string) {
		t.Helper()
		resp := raw(t, s, method, path, body, hdr)
		var e struct {
			Object, Code, Message string
			Status                int
		}
		if err := jsonDecode(resp, &e); err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if resp.StatusCode != status || e.Status != status || e.Code != want || e.Object != "error" || e.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", what, resp.StatusCode, e, status, want)
		}
	}
	rawCode("missing Notion-Version", "GET", "/v1/data_sources/"+dsID, "", auth, 400, "missing_version")
	rawCode("invalid JSON", "POST", "/v1/pages", `{"parent": {`, withVersion, 400, "invalid_json")
	rawCode("unknown URL", "GET", "/v1/nowhere/at/all", "", withVersion, 400, "invalid_request_url")
	rawCode("no token", "GET", "/v1/users", "", map[string]string{"Notion-Version": notion.VersionDefault}, 401, "unauthorized")
}
