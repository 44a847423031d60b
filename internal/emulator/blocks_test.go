package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

func para(text string) string {
	return `{"type":"paragraph","paragraph":{"rich_text":[{"type":"text","text":{"content":` + fmt.Sprintf("%q", text) + `}}]}}`
}

func paras(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = para(fmt.Sprint(i))
	}
	return strings.Join(parts, ",")
}

// TestBlockErrors checks the errors Notion answers for block requests
// beyond its limits, as status, code and a message naming the field.
func TestBlockErrors(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Errors", nil)
	pg := mkPage(t, c, ds, "p", nil)
	h := s.Handler()
	children := "/v1/blocks/" + pg.ID + "/children"
	deep := `{"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[],"children":[` +
		`{"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[],"children":[` + para("too deep") + `]}}]}}`
	long := para(strings.Repeat("x", 2001))
	emoji := para(strings.Repeat("😀", 1001)) // 2002 UTF-16 code units
	thousand := make([]string, 11)
	for i := range thousand {
		thousand[i] = `{"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[],"children":[` + paras(99) + `]}}`
	}
	cases := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"101 children", "PATCH", children, `{"children":[` + paras(101) + `]}`, 400, "validation_error", "body.children.length should be ≤ `100`, instead was `101`"},
		{"three levels", "PATCH", children, `{"children":[` + deep + `]}`, 400, "validation_error", "body.children[0].bulleted_list_item.children[0].bulleted_list_item.children should be not present"},
		{"text over 2000", "PATCH", children, `{"children":[` + long + `]}`, 400, "validation_error", "body.children[0].paragraph.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`"},
		{"emoji over 2000 units", "PATCH", children, `{"children":[` + emoji + `]}`, 400, "validation_error", "instead was `2002`"},
		{"over 1000 blocks", "PATCH", children, `{"children":[` + strings.Join(thousand, ",") + `]}`, 400, "validation_error", "more than 1000 blocks"},
		{"unknown type", "PATCH", children, `{"children":[{"type":"marquee","marquee":{}}]}`, 400, "validation_error", "body.children[0].type should be one of"},
		{"bad language", "PATCH", children, `{"children":[{"type":"code","code":{"rich_text":[],"language":"klingon"}}]}`, 400, "validation_error", "language should be one of"},
		{"code with children", "PATCH", children, `{"children":[{"type":"code","code":{"rich_text":[],"language":"go","children":[` + para("x") + `]}}]}`, 400, "validation_error", "code.children should be not present"},
		{"table without rows", "PATCH", children, `{"children":[{"type":"table","table":{"table_width":2}}]}`, 400, "validation_error", "at least one table_row"},
		{"row width", "PATCH", children, `{"children":[{"type":"table","table":{"table_width":2,"children":[{"type":"table_row","table_row":{"cells":[[]]}}]}}]}`, 400, "validation_error", "cells.length should be `2`"},
		{"table too wide", "PATCH", children, `{"children":[{"type":"table","table":{"table_width":101,"children":[]}}]}`, 400, "validation_error", "table_width should be an integer between 1 and 100"},
		{"row outside a table", "PATCH", children, `{"children":[{"type":"table_row","table_row":{"cells":[]}}]}`, 400, "validation_error", "only be a child of a table"},
		{"no children", "PATCH", children, `{}`, 400, "validation_error", "body.children should be defined"},
		{"unknown block", "PATCH", "/v1/blocks/00000000-0000-4000-8000-0000000000aa/children", `{"children":[` + para("x") + `]}`, 404, "object_not_found", "Could not find block"},
		{"unknown block get", "GET", "/v1/blocks/00000000-0000-4000-8000-0000000000aa", ``, 404, "object_not_found", "Could not find block"},
		{"bad id", "DELETE", "/v1/blocks/nope", ``, 400, "validation_error", "block_id should be a valid uuid"},
		{"page create 101", "POST", "/v1/pages", `{"parent":{"data_source_id":"` + ds + `"},"properties":{},"children":[` + paras(101) + `]}`, 400, "validation_error", "body.children.length should be ≤ `100`"},
		{"page create deep", "POST", "/v1/pages", `{"parent":{"data_source_id":"` + ds + `"},"properties":{},"children":[` + deep + `]}`, 400, "validation_error", "children should be not present"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := call(t, h, tc.method, tc.path, tc.body, nil)
			msg, _ := m["message"].(string)
			if status != tc.status || m["code"] != tc.code || !strings.Contains(msg, tc.msg) || m["request_id"] == nil {
				t.Errorf("%d %v %q, want %d %s containing %q", status, m["code"], msg, tc.status, tc.code, tc.msg)
			}
		})
	}
	// Nothing of the refused requests was stored.
	kids, err := c.AllBlockChildren(context.Background(), pg.ID)
	if err != nil || len(kids) != 0 {
		t.Errorf("refused requests left %d blocks, %v", len(kids), err)
	}
	res, _ := c.QueryDataSource(context.Background(), ds, notion.QueryRequest{})
	if len(res.Results) != 1 {
		t.Errorf("refused page creates left %d rows", len(res.Results))
	}

	// Exactly at the limits is accepted: 100 children, two levels, 1000 blocks.
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = `{"type":"bulleted_list_item","bulleted_list_item":{"rich_text":[],"children":[` + paras(99) + `]}}`
	}
	if status, m := call(t, h, "PATCH", children, `{"children":[`+strings.Join(ten, ",")+`]}`, nil); status != 200 {
		t.Fatalf("1000 blocks two levels deep: %d %v", status, m)
	}
	if status, m := call(t, h, "PATCH", children, `{"children":[`+paras(100)+`]}`, nil); status != 200 || len(m["results"].([]any)) != 100 {
		t.Fatalf("100 children: %d %v", status, m["message"])
	}

	// Editing a trashed block.
	kids, _ = c.AllBlockChildren(context.Background(), pg.ID)
	id := kids[len(kids)-1].ID
	if status, _ := call(t, h, "DELETE", "/v1/blocks/"+id, ``, nil); status != 200 {
		t.Fatal("delete failed")
	}
	for _, r := range []struct{ method, path, body string }{
		{"PATCH", "/v1/blocks/" + id, `{"paragraph":{"rich_text":[]}}`},
		{"DELETE", "/v1/blocks/" + id, ``},
		{"PATCH", "/v1/blocks/" + id + "/children", `{"children":[` + para("x") + `]}`},
	} {
		status, m := call(t, h, r.method, r.path, r.body, nil)
		if status != 400 || !strings.Contains(fmt.Sprint(m["message"]), "Can't edit block that is archived") {
			t.Errorf("%s %s on a trashed block: %d %v", r.method, r.path, status, m["message"])
		}
	}
	// Restoring it is allowed, and it comes back in place.
	status, m := call(t, h, "PATCH", "/v1/blocks/"+id, `{"in_trash":false}`, nil)
	if status != 200 || m["in_trash"] != false {
		t.Errorf("restore: %d %v", status, m)
	}
	again, _ := c.AllBlockChildren(context.Background(), pg.ID)
	if len(again) != len(kids) || again[len(again)-1].ID != id {
		t.Errorf("restored block not back at its place")
	}
}

// TestBlockShapes checks the response form of a block, of a children
// list and of an append.
func TestBlockShapes(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Shapes", nil)
	pg := mkPage(t, c, ds, "p", nil)
	h := s.Handler()
	status, m := call(t, h, "PATCH", "/v1/blocks/"+pg.ID+"/children",
		`{"children":[{"to_do":{"rich_text":[{"text":{"content":"ship"}}],"checked":true,"children":[`+para("sub")+`]}}]}`, nil)
	if status != 200 || m["object"] != "list" || m["type"] != "block" || m["has_more"] != false || m["request_id"] == nil {
		t.Fatalf("append answer: %d %v", status, m)
	}
	b := m["results"].([]any)[0].(map[string]any)
	parent := b["parent"].(map[string]any)
	if b["object"] != "block" || b["type"] != "to_do" || b["has_children"] != true || b["in_trash"] != false ||
		parent["type"] != "page_id" || parent["page_id"] != pg.ID || b["created_time"] == nil {
		t.Errorf("block: %v", b)
	}
	todo := b["to_do"].(map[string]any)
	if todo["checked"] != true || todo["color"] != "default" || todo["children"] != nil {
		t.Errorf("to_do payload: %v", todo)
	}
	rt := todo["rich_text"].([]any)[0].(map[string]any)
	if rt["plain_text"] != "ship" || rt["annotations"].(map[string]any)["bold"] != false {
		t.Errorf("rich text: %v", rt)
	}
	status, m = call(t, h, "GET", "/v1/blocks/"+b["id"].(string)+"/children", ``, nil)
	sub := m["results"].([]any)[0].(map[string]any)
	if status != 200 || sub["parent"].(map[string]any)["block_id"] != b["id"] || m["next_cursor"] != nil {
		t.Errorf("children of the to-do: %d %v", status, m)
	}
}

func TestBlocksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := notiontest.Start(t, emulator.Config{DataDir: dir})
	c := newClient(t, s)
	ctx := context.Background()
	ds := mkDB(t, c, "Durable", nil)
	item := notion.BulletedListItem(notion.Text("a"))
	item.Children = []notion.Block{notion.Paragraph(notion.Text("a.1"))}
	pg, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text("p"))},
		Children: []notion.Block{item, notion.Paragraph(notion.Text("c"))}})
	if err != nil {
		t.Fatal(err)
	}
	kids, _ := c.AllBlockChildren(ctx, pg.ID)
	if _, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: []notion.Block{notion.Paragraph(notion.Text("b"))}, After: kids[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBlock(ctx, kids[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, notiontest.Start(t, emulator.Config{DataDir: dir}))
	got, err := c2.AllBlockChildren(ctx, pg.ID)
	if err != nil || len(got) != 2 || notion.PlainText(got[0].RichText()) != "a" || notion.PlainText(got[1].RichText()) != "b" || !got[0].HasChildren {
		t.Fatalf("body after restart: %+v, %v", got, err)
	}
	sub, err := c2.AllBlockChildren(ctx, got[0].ID)
	if err != nil || len(sub) != 1 || notion.PlainText(sub[0].RichText()) != "a.1" {
		t.Errorf("nested after restart: %+v, %v", sub, err)
	}
}

func TestWebPageShowsBody(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Tickets", map[string]notion.PropertySchema{"Status": {Type: notion.TypeRichText}})
	link := notion.LinkText("the docs", "https://example.com/docs")
	link.Annotations = &notion.Annotations{Bold: true}
	item := notion.BulletedListItem(notion.Text("step <one>"))
	item.Children = []notion.Block{notion.BulletedListItem(notion.Text("sub step"))}
	pg, err := c.CreatePage(context.Background(), notion.CreatePageRequest{DataSourceID: ds,
		Properties: map[string]notion.PropertyValue{"Name": notion.TitleValue(notion.Text("Printer on fire")), "Status": notion.RichTextValue(notion.Text("open"))},
		Children: []notion.Block{
			notion.Heading(2, notion.Text("Steps")), item, notion.BulletedListItem(notion.Text("two")),
			notion.Paragraph(notion.Text("see "), link), notion.Code("go", notion.Text("if x < 1 {}")),
			notion.ToDo(true, notion.Text("done")),
			notion.Table(2, true, false, notion.TableRow([]notion.RichText{notion.Text("k")}, []notion.RichText{notion.Text("v")})),
			notion.ExternalImage("javascript:alert(1)"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	src, _ := c.GetDataSource(context.Background(), ds)
	table := get("/databases/" + src.Parent.DatabaseID)
	if !strings.Contains(table, `<a href="/pages/`+pg.ID+`">Printer on fire</a>`) {
		t.Errorf("the table does not link the row's page:\n%s", table)
	}
	page := get("/pages/" + pg.ID)
	for _, want := range []string{"<h2>Steps</h2>", "<ul><li>step &lt;one&gt;<ul><li>sub step</li></ul></li><li>two</li></ul>",
		`<a href="https://example.com/docs"><strong>the docs</strong></a>`, "<pre><code>if x &lt; 1 {}</code></pre>",
		"☑ <s>done</s>", "<tr><th>k</th><th>v</th></tr>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, `src="javascript:`) {
		t.Errorf("the page shows a javascript: image")
	}
	// A row's page shows its properties, and not the empty index's hint.
	if !strings.Contains(page, "<th>Status</th><td>open</td>") {
		t.Errorf("the row page lacks its properties:\n%s", page)
	}
	if strings.Contains(page, "No databases yet") {
		t.Errorf("the row page says there are no databases:\n%s", page)
	}
}
