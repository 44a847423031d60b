package notion_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
)

func bold(s string) notion.RichText {
	rt := notion.Text(s)
	rt.Annotations = &notion.Annotations{Bold: true}
	return rt
}

// contents lists the plain text of blocks, "type:text" each.
func contents(bs []notion.Block) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Type + ":" + notion.PlainText(b.RichText())
	}
	return out
}

func TestBlockJSONRequestForm(t *testing.T) {
	b := notion.BulletedListItem(notion.Text("parent"))
	b.Children = []notion.Block{notion.ToDo(true, bold("child")), notion.Divider()}
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"object":"block","type":"bulleted_list_item","bulleted_list_item":{"rich_text":[{"type":"text","text":{"content":"parent","link":null}}],` +
		`"children":[{"object":"block","type":"to_do","to_do":{"rich_text":[{"type":"text","text":{"content":"child","link":null},` +
		`"annotations":{"bold":true,"italic":false,"strikethrough":false,"underline":false,"code":false,"color":""}}],"checked":true}},` +
		`{"object":"block","type":"divider","divider":{}}]}}`
	if string(got) != want {
		t.Errorf("marshal:\n got %s\nwant %s", got, want)
	}
	var back notion.Block
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Children) != 2 || back.Children[0].ToDo == nil || !back.Children[0].ToDo.Checked || back.Children[1].Divider == nil {
		t.Errorf("unmarshal lost the children: %+v", back)
	}
	// A type without a typed field is kept as received.
	var callout notion.Block
	in := `{"object":"block","id":"x","type":"callout","callout":{"rich_text":[],"icon":{"emoji":"💡"},"color":"gray_background"}}`
	if err := json.Unmarshal([]byte(in), &callout); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(callout)
	if !strings.Contains(string(out), `"callout":{"rich_text":[],"icon":{"emoji":"💡"},"color":"gray_background"}`) {
		t.Errorf("callout not written back as received: %s", out)
	}
	if _, err := json.Marshal(notion.Block{Type: notion.BlockParagraph}); err == nil {
		t.Error("a paragraph without its payload marshalled")
	}
}

func TestBlocksCreateListAppendUpdateDelete(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, ds := createDB(t, c, "Tickets", nil)
	ctx := ctxT(t)
	item := notion.BulletedListItem(notion.Text("steps"))
	item.Children = []notion.Block{notion.NumberedListItem(notion.Text("one")), notion.NumberedListItem(notion.Text("two"))}
	body := []notion.Block{
		notion.Heading(1, notion.Text("Printer on fire")),
		notion.Paragraph(notion.Text("It "), bold("burns"), notion.LinkText(" docs", "https://example.com/doc")),
		item,
		notion.Code("go", notion.Text("fmt.Println(1)")),
		notion.Table(2, true, false,
			notion.TableRow([]notion.RichText{notion.Text("k")}, []notion.RichText{notion.Text("v")}),
			notion.TableRow([]notion.RichText{notion.Text("a")}, []notion.RichText{bold("b")})),
		notion.ExternalImage("https://example.com/fire.png"),
		notion.Quote(notion.Text("hot")),
		notion.Divider(),
	}
	pg, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: titled("fire"), Children: body})
	if err != nil {
		t.Fatal(err)
	}
	kids, err := c.AllBlockChildren(ctx, pg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(contents(kids)), "[heading_1:Printer on fire paragraph:It burns docs bulleted_list_item:steps code:fmt.Println(1) table: image: quote:hot divider:]"; got != want {
		t.Fatalf("children\n got %s\nwant %s", got, want)
	}
	for i, k := range kids {
		if k.Object != "block" || k.ID == "" || k.Parent == nil || k.Parent.Type != "page_id" || !sameID(k.Parent.PageID, pg.ID) || k.InTrash {
			t.Errorf("child %d: object %q id %q parent %+v in_trash %v", i, k.Object, k.ID, k.Parent, k.InTrash)
		}
		if want := k.Type == notion.BlockBulletedListItem || k.Type == notion.BlockTable; k.HasChildren != want {
			t.Errorf("child %d (%s): has_children %v", i, k.Type, k.HasChildren)
		}
	}
	if p := kids[1].Paragraph.RichText; len(p) != 3 || !p[1].Annotations.Bold || p[2].Href != "https://example.com/doc" || p[0].PlainText != "It " {
		t.Errorf("paragraph rich text read back as %+v", p)
	}
	if kids[3].Code.Language != "go" || kids[5].Image.External == nil || kids[5].Image.External.URL != "https://example.com/fire.png" {
		t.Errorf("code %+v image %+v", kids[3].Code, kids[5].Image)
	}
	if tb := kids[4].Table; tb.TableWidth != 2 || !tb.HasColumnHeader || tb.HasRowHeader {
		t.Errorf("table %+v", tb)
	}
	rows, err := c.AllBlockChildren(ctx, kids[4].ID)
	if err != nil || len(rows) != 2 || notion.PlainText(rows[1].TableRow.Cells[1]) != "b" || rows[1].Parent.Type != "block_id" {
		t.Fatalf("table rows %+v, %v", rows, err)
	}
	nested, err := c.AllBlockChildren(ctx, kids[2].ID)
	if err != nil || fmt.Sprint(contents(nested)) != "[numbered_list_item:one numbered_list_item:two]" {
		t.Fatalf("nested %v, %v", contents(nested), err)
	}

	// Append after the heading, and at the end.
	app, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{
		Children: []notion.Block{notion.Paragraph(notion.Text("inserted 1")), notion.Paragraph(notion.Text("inserted 2"))},
		After:    kids[0].ID,
	})
	if err != nil || len(app.Results) != 2 || app.Results[0].ID == "" || app.RequestID == "" {
		t.Fatalf("append after: %+v, %v", app, err)
	}
	if _, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: []notion.Block{notion.Paragraph(notion.Text("last"))}}); err != nil {
		t.Fatal(err)
	}
	kids, _ = c.AllBlockChildren(ctx, pg.ID)
	got := contents(kids)
	if len(got) != 11 || got[1] != "paragraph:inserted 1" || got[2] != "paragraph:inserted 2" || got[10] != "paragraph:last" {
		t.Fatalf("after appends: %v", got)
	}

	// Update keeps the id and position; checked and language update too.
	up, err := c.UpdateBlock(ctx, kids[1].ID, notion.Paragraph(notion.Text("changed")))
	if err != nil || up.ID != kids[1].ID || notion.PlainText(up.Paragraph.RichText) != "changed" {
		t.Fatalf("update: %+v, %v", up, err)
	}
	if _, err := c.UpdateBlock(ctx, kids[1].ID, notion.Heading(2, notion.Text("no"))); !notion.IsValidation(err) {
		t.Errorf("changing a block's type: %v, want a validation error", err)
	}
	code, err := c.UpdateBlock(ctx, kids[5].ID, notion.Code("python", notion.Text("print(1)")))
	if err != nil || code.Code.Language != "python" {
		t.Errorf("update code: %+v, %v", code, err)
	}

	// Delete trashes; a trashed block is not listed and cannot be edited.
	del, err := c.DeleteBlock(ctx, kids[2].ID)
	if err != nil || !del.InTrash {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	kids2, _ := c.AllBlockChildren(ctx, pg.ID)
	if len(kids2) != 10 || contents(kids2)[1] != "paragraph:changed" {
		t.Errorf("after delete: %v", contents(kids2))
	}
	if _, err := c.DeleteBlock(ctx, kids[2].ID); !notion.IsArchived(err) {
		t.Errorf("second delete: %v, want archived", err)
	}
	if _, err := c.UpdateBlock(ctx, kids[2].ID, notion.Paragraph(notion.Text("x"))); !notion.IsArchived(err) {
		t.Errorf("update of a trashed block: %v, want archived", err)
	}
	if _, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: []notion.Block{notion.Paragraph()}, After: kids[2].ID}); !notion.IsValidation(err) {
		t.Errorf("append after a trashed block: %v, want a validation error", err)
	}
	const unknown = "00000000-0000-4000-8000-00000000abcd"
	if _, err := c.UpdateBlock(ctx, unknown, notion.Paragraph()); !notion.IsNotFound(err) {
		t.Errorf("update of an unknown block: %v", err)
	}
	if _, err := c.DeleteBlock(ctx, unknown); !notion.IsNotFound(err) {
		t.Errorf("delete of an unknown block: %v", err)
	}
	if _, err := c.ListBlockChildren(ctx, unknown, "", 0); !notion.IsNotFound(err) {
		t.Errorf("children of an unknown block: %v", err)
	}
	b, err := c.GetBlock(ctx, kids[0].ID)
	if err != nil || b.Heading1 == nil || notion.PlainText(b.Heading1.RichText) != "Printer on fire" {
		t.Errorf("get block: %+v, %v", b, err)
	}
	st := s.Stats()
	for _, r := range []string{"PATCH /v1/blocks/{id}/children", "PATCH /v1/blocks/{id}", "DELETE /v1/blocks/{id}", "GET /v1/blocks/{id}/children"} {
		if st.ByRoute[r] == 0 {
			t.Errorf("no request counted on %s: %v", r, st.ByRoute)
		}
	}
}

func TestBlockChildrenPagination(t *testing.T) {
	_, c := start(t, emulator.Config{})
	_, ds := createDB(t, c, "Long", nil)
	ctx := ctxT(t)
	pg, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: titled("long")})
	if err != nil {
		t.Fatal(err)
	}
	for batch := range 3 {
		var bs []notion.Block
		for i := range 100 {
			bs = append(bs, notion.Paragraph(notion.Text(fmt.Sprint(batch*100+i))))
		}
		if _, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: bs}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.ListBlockChildren(ctx, pg.ID, "", 40)
	if err != nil || len(first.Results) != 40 || !first.HasMore || first.NextCursor == "" || first.RequestID == "" {
		t.Fatalf("first page: %d results, has_more %v, cursor %q, request_id %q, %v", len(first.Results), first.HasMore, first.NextCursor, first.RequestID, err)
	}
	all, err := c.AllBlockChildren(ctx, pg.ID)
	if err != nil || len(all) != 300 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	for i, b := range all {
		if notion.PlainText(b.RichText()) != fmt.Sprint(i) {
			t.Fatalf("child %d is %q", i, notion.PlainText(b.RichText()))
		}
	}
	if _, err := c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: make([]notion.Block, 101)}); err == nil {
		t.Error("an append of 101 children was sent")
	}
}

func TestBlockWriteFaults(t *testing.T) {
	s, c := start(t, emulator.Config{})
	_, ds := createDB(t, c, "Faulty", nil)
	ctx := ctxT(t)
	pg, err := c.CreatePage(ctx, notion.CreatePageRequest{DataSourceID: ds, Properties: titled("p"), Children: []notion.Block{notion.Paragraph(notion.Text("a"))}})
	if err != nil {
		t.Fatal(err)
	}
	kids, _ := c.AllBlockChildren(ctx, pg.ID)

	// Applied, then 503 naming the committed resource: an update reads the
	// block back; an append cannot tell which blocks it made.
	s.SetFaults(emulator.Faults{RateAppliedThen503: 1, Seed: 1})
	up, err := c.UpdateBlock(ctx, kids[0].ID, notion.Paragraph(notion.Text("b")))
	if err != nil || notion.PlainText(up.Paragraph.RichText) != "b" {
		t.Errorf("update under applied-503: %+v, %v", up, err)
	}
	_, err = c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: []notion.Block{notion.Paragraph(notion.Text("c"))}})
	if !errors.Is(err, notion.ErrAmbiguousWrite) {
		t.Errorf("append under applied-503: %v, want ambiguous", err)
	}
	// A 500 on a write is ambiguous too, and is not retried.
	s.SetFaults(emulator.Faults{Rate500: 1, Seed: 1})
	s.ResetStats()
	_, err = c.AppendBlockChildren(ctx, pg.ID, notion.AppendBlockChildrenRequest{Children: []notion.Block{notion.Paragraph(notion.Text("d"))}})
	if !errors.Is(err, notion.ErrAmbiguousWrite) || s.Stats().Requests != 1 {
		t.Errorf("append under 500: %v after %d requests, want one ambiguous attempt", err, s.Stats().Requests)
	}
	// Reads are retried.
	s.SetFaults(emulator.Faults{Rate500: 0.5, Seed: 3})
	if _, err := c.AllBlockChildren(ctx, pg.ID); err != nil {
		t.Errorf("list under 50%% 500s: %v", err)
	}
	s.SetFaults(emulator.Faults{})
	kids, _ = c.AllBlockChildren(ctx, pg.ID)
	if got := fmt.Sprint(contents(kids)); got != "[paragraph:b paragraph:c]" {
		t.Errorf("body after faults: %s", got)
	}
}
