package emulator

import (
	"html"
	"strings"
)

// renderBody writes the HTML of a page's or block's children, readably:
// consecutive list items share one list, code keeps its lines, tables are
// tables. Every text is escaped; callers hold the read lock.
func (st *store) renderBody(b *strings.Builder, parent string) {
	kids := st.visibleChildren(parent)
	for i := 0; i < len(kids); i++ {
		blk := st.blocks[kids[i]]
		if tag, ok := listTag(blk.Type); ok {
			// Group the run of items of this list type.
			b.WriteString(tag)
			for ; i < len(kids) && st.blocks[kids[i]].Type == blk.Type; i++ {
				st.renderItem(b, st.blocks[kids[i]])
			}
			i--
			b.WriteString("</" + tag[1:3] + ">")
			continue
		}
		st.renderBlockHTML(b, blk)
	}
}

func listTag(typ string) (string, bool) {
	switch typ {
	case "bulleted_list_item":
		return "<ul>", true
	case "numbered_list_item":
		return "<ol>", true
	case "to_do":
		return `<ul class="todo">`, true
	}
	return "", false
}

func (st *store) renderItem(b *strings.Builder, blk *block) {
	b.WriteString("<li>")
	if blk.Type == "to_do" {
		if c, _ := blk.Payload["checked"].(bool); c {
			b.WriteString("☑ <s>")
			renderRichHTML(b, blk.Payload["rich_text"])
			b.WriteString("</s>")
		} else {
			b.WriteString("☐ ")
			renderRichHTML(b, blk.Payload["rich_text"])
		}
	} else {
		renderRichHTML(b, blk.Payload["rich_text"])
	}
	st.renderBody(b, blk.ID)
	b.WriteString("</li>")
}

func (st *store) renderBlockHTML(b *strings.Builder, blk *block) {
	p := blk.Payload
	switch blk.Type {
	case "paragraph":
		b.WriteString("<p>")
		renderRichHTML(b, p["rich_text"])
		b.WriteString("</p>")
	case "heading_1", "heading_2", "heading_3":
		tag := "h" + blk.Type[len(blk.Type)-1:]
		b.WriteString("<" + tag + ">")
		renderRichHTML(b, p["rich_text"])
		b.WriteString("</" + tag + ">")
	case "quote":
		b.WriteString("<blockquote>")
		renderRichHTML(b, p["rich_text"])
		st.renderBody(b, blk.ID)
		b.WriteString("</blockquote>")
		return
	case "code":
		lang, _ := p["language"].(string)
		b.WriteString(`<div class="lang">` + html.EscapeString(lang) + `</div><pre><code>`)
		b.WriteString(html.EscapeString(plainText(p["rich_text"])))
		b.WriteString("</code></pre>")
	case "divider":
		b.WriteString("<hr>")
	case "image":
		ext, _ := p["external"].(map[string]any)
		u, _ := ext["url"].(string)
		alt := plainText(p["caption"])
		if !safeHref(u) {
			b.WriteString(`<p class="muted">[image ` + html.EscapeString(u) + `]</p>`)
			break
		}
		b.WriteString(`<p><img src="` + html.EscapeString(u) + `" alt="` + html.EscapeString(alt) + `"></p>`)
	case "table":
		header, _ := p["has_column_header"].(bool)
		b.WriteString("<table>")
		for i, rid := range st.visibleChildren(blk.ID) {
			row := st.blocks[rid]
			cells, _ := row.Payload["cells"].([]any)
			tag := "td"
			if header && i == 0 {
				tag = "th"
			}
			b.WriteString("<tr>")
			for _, c := range cells {
				b.WriteString("<" + tag + ">")
				renderRichHTML(b, c)
				b.WriteString("</" + tag + ">")
			}
			b.WriteString("</tr>")
		}
		b.WriteString("</table>")
		return
	default:
		b.WriteString(`<p class="muted">[` + html.EscapeString(blk.Type) + `]</p>`)
	}
	if kids := st.visibleChildren(blk.ID); len(kids) > 0 {
		b.WriteString(`<div style="margin-left:1.5em">`)
		st.renderBody(b, blk.ID)
		b.WriteString("</div>")
	}
}

// renderRichHTML writes response-form rich text with its annotations and
// links.
func renderRichHTML(b *strings.Builder, v any) {
	items, _ := v.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		text, _ := m["plain_text"].(string)
		s := strings.ReplaceAll(html.EscapeString(text), "\n", "<br>")
		ann, _ := m["annotations"].(map[string]any)
		wrap := func(on bool, open, close string) {
			if on {
				s = open + s + close
			}
		}
		flag := func(k string) bool { v, _ := ann[k].(bool); return v }
		wrap(flag("code"), "<code>", "</code>")
		wrap(flag("bold"), "<strong>", "</strong>")
		wrap(flag("italic"), "<em>", "</em>")
		wrap(flag("strikethrough"), "<s>", "</s>")
		wrap(flag("underline"), "<u>", "</u>")
		if href, ok := m["href"].(string); ok && href != "" && safeHref(href) {
			s = `<a href="` + html.EscapeString(href) + `">` + s + "</a>"
		}
		b.WriteString(s)
	}
}

// safeHref keeps javascript: and other active schemes out of the page.
func safeHref(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "mailto:")
}
