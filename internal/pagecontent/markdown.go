package pagecontent

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/synqhq/synq/internal/notion"
)

// Markdown renders blocks (as Convert makes them, or as Read reads them
// back) as Markdown in one spelling: "#" headings, "-" bullets, "1." numbers
// counted up, "- [ ]" to-dos, "**bold**", "*italic*", "~~struck~~", "`code`",
// "[text](url)", fenced code with its language, "---" dividers, "![caption](url)"
// images and GitHub tables. Converting the result gives back the same
// blocks, so it is what a body "is" for people and tests (synqtest shows a
// row's body with it). Blocks of types Convert never makes (toggles,
// callouts, sub-pages) are rendered as their text, or left out.
func Markdown(blocks []notion.Block) string {
	var b strings.Builder
	writeBlocks(&b, blocks, "")
	return strings.TrimRight(b.String(), "\n")
}

// writeBlocks writes blocks at one level; indent prefixes every line
// (spaces under a list item, "> " in a quote).
func writeBlocks(b *strings.Builder, blocks []notion.Block, indent string) {
	number := 0
	for i, bl := range blocks {
		if bl.Type == notion.BlockNumberedListItem {
			number++
		} else {
			number = 0
		}
		if i > 0 {
			// Items of one list are one line apart; anything else is a
			// new paragraph. (A blank line between two items of different
			// list kinds keeps them two lists.)
			if listKind(bl) == "" || listKind(bl) != listKind(blocks[i-1]) {
				b.WriteString(strings.TrimRight(indent, " ") + "\n")
			}
		}
		writeBlock(b, bl, indent, number)
	}
}

func listKind(bl notion.Block) string {
	switch bl.Type {
	case notion.BlockBulletedListItem, notion.BlockToDo:
		return "-"
	case notion.BlockNumberedListItem:
		return "1."
	}
	return ""
}

func writeBlock(b *strings.Builder, bl notion.Block, indent string, number int) {
	line := func(marker, text, childIndent string) {
		b.WriteString(indent + marker + continueLines(text, indent+childIndent) + "\n")
	}
	switch bl.Type {
	case notion.BlockParagraph:
		line("", escapeLineStart(inline(bl.Paragraph.RichText)), "")
	case notion.BlockHeading1, notion.BlockHeading2, notion.BlockHeading3:
		level := int(bl.Type[len(bl.Type)-1] - '0')
		// A heading is one line: its line breaks become spaces.
		text := strings.ReplaceAll(inline(bl.RichText()), "\n", " ")
		if strings.HasSuffix(text, "#") {
			// A heading's trailing #s would be taken for its closing.
			text = text[:len(text)-1] + `\#`
		}
		line(strings.Repeat("#", level)+" ", text, "")
	case notion.BlockBulletedListItem:
		line("- ", escapeLineStart(inline(bl.BulletedListItem.RichText)), "  ")
		writeChildren(b, bl.Children, indent+"  ")
	case notion.BlockNumberedListItem:
		marker := fmt.Sprintf("%d. ", number)
		line(marker, escapeLineStart(inline(bl.NumberedListItem.RichText)), strings.Repeat(" ", len(marker)))
		writeChildren(b, bl.Children, indent+strings.Repeat(" ", len(marker)))
	case notion.BlockToDo:
		box := "- [ ] "
		if bl.ToDo.Checked {
			box = "- [x] "
		}
		line(box, inline(bl.ToDo.RichText), "  ")
		writeChildren(b, bl.Children, indent+"  ")
	case notion.BlockQuote:
		line("> ", escapeLineStart(inline(bl.Quote.RichText)), "> ")
		writeChildren(b, bl.Children, indent+"> ")
	case notion.BlockCode:
		code := notion.PlainText(bl.Code.RichText)
		fence := "```"
		for strings.Contains(code, fence) {
			fence += "`"
		}
		b.WriteString(indent + fence + fenceInfo(bl.Code.Language) + "\n")
		b.WriteString(continueLines(code, indent) + "\n")
		b.WriteString(indent + fence + "\n")
	case notion.BlockDivider:
		b.WriteString(indent + "---\n")
	case notion.BlockImage:
		u := ""
		switch {
		case bl.Image.External != nil:
			u = bl.Image.External.URL
		case bl.Image.File != nil:
			u = bl.Image.File.URL
		}
		b.WriteString(indent + "![" + escapeText(notion.PlainText(bl.Image.Caption)) + "](" + u + ")\n")
	case notion.BlockTable:
		writeTable(b, bl, indent)
	default:
		if rt := bl.RichText(); len(rt) > 0 {
			line("", escapeLineStart(inline(rt)), "")
		}
		if len(bl.Children) > 0 {
			b.WriteString(strings.TrimRight(indent, " ") + "\n")
			writeBlocks(b, bl.Children, indent)
		}
	}
}

// writeChildren writes the blocks nested in a list item or quote, a blank
// line (within the indent) apart from it when they are not list items.
func writeChildren(b *strings.Builder, kids []notion.Block, indent string) {
	if len(kids) == 0 {
		return
	}
	if listKind(kids[0]) == "" {
		b.WriteString(strings.TrimRight(indent, " ") + "\n")
	}
	writeBlocks(b, kids, indent)
}

func writeTable(b *strings.Builder, bl notion.Block, indent string) {
	width := bl.Table.TableWidth
	row := func(cells [][]notion.RichText) {
		b.WriteString(indent + "|")
		for i := range width {
			s := ""
			if i < len(cells) {
				s = strings.ReplaceAll(inline(cells[i]), "|", `\|`)
				s = strings.ReplaceAll(s, "\n", " ")
			}
			b.WriteString(" " + s + " |")
		}
		b.WriteString("\n")
	}
	// A GitHub table always has a header row: a table without one gets
	// an empty header.
	rows := bl.Children
	if bl.Table.HasColumnHeader && len(rows) > 0 && rows[0].TableRow != nil {
		row(rows[0].TableRow.Cells)
		rows = rows[1:]
	} else {
		row(nil)
	}
	b.WriteString(indent + "|" + strings.Repeat(" --- |", width) + "\n")
	for _, r := range rows {
		if r.TableRow != nil {
			row(r.TableRow.Cells)
		}
	}
}

// continueLines indents the lines after the first of s.
func continueLines(s, indent string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] == "" {
			lines[i] = strings.TrimRight(indent, " ")
		} else {
			lines[i] = indent + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// fenceInfo is the info string that Language maps back to lang.
func fenceInfo(lang string) string {
	if lang == "" || lang == "plain text" {
		return ""
	}
	if !strings.ContainsAny(lang, " \t{,") {
		return lang
	}
	var aliases []string
	for alias, l := range languageAliases {
		if l == lang {
			aliases = append(aliases, alias)
		}
	}
	if len(aliases) == 0 {
		return ""
	}
	sort.Slice(aliases, func(i, j int) bool {
		return len(aliases[i]) < len(aliases[j]) || len(aliases[i]) == len(aliases[j]) && aliases[i] < aliases[j]
	})
	return aliases[0]
}

// inline renders rich text: styles as delimiters around each item (blank
// space kept outside them, where Markdown needs it), links around those.
func inline(rt []notion.RichText) string {
	var b strings.Builder
	for i, it := range rt {
		if i > 0 && strings.HasSuffix(b.String(), "!") && !strings.HasSuffix(b.String(), `\!`) && linked(it) {
			// "!" before a link would make it an image.
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-1] + `\!`)
		}
		text := it.Content()
		a := it.Annotations
		link := ""
		if it.Text != nil && it.Text.Link != nil {
			link = it.Text.Link.URL
		} else if it.Href != "" && it.Type != "text" {
			link = it.Href
		}
		styled := a != nil && (a.Bold || a.Italic || a.Strikethrough || a.Code)
		if !styled && link == "" {
			b.WriteString(escapeText(text))
			continue
		}
		core := strings.TrimSpace(text)
		if core == "" {
			b.WriteString(escapeText(text))
			continue
		}
		lead := text[:strings.Index(text, core)]
		trail := text[len(lead)+len(core):]
		s := escapeText(core)
		if a != nil {
			if a.Code {
				s = codeSpan(core)
			}
			if a.Strikethrough {
				s = "~~" + s + "~~"
			}
			if a.Italic {
				s = "*" + s + "*"
			}
			if a.Bold {
				s = "**" + s + "**"
			}
		}
		if link != "" {
			s = "[" + s + "](" + linkDest(link) + ")"
		}
		b.WriteString(escapeText(lead) + s + escapeText(trail))
	}
	return b.String()
}

func linked(it notion.RichText) bool {
	return it.Text != nil && it.Text.Link != nil && strings.TrimSpace(it.Content()) != "" && strings.TrimLeft(it.Content(), " ") == it.Content()
}

// codeSpan wraps s in enough backticks, with spaces when s starts or ends
// with one.
func codeSpan(s string) string {
	ticks := "`"
	for strings.Contains(s, ticks) {
		ticks += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return ticks + " " + s + " " + ticks
	}
	return ticks + s + ticks
}

// linkDest writes a link destination: in angle brackets when it holds
// spaces or parentheses.
func linkDest(u string) string {
	if strings.ContainsAny(u, " ()<>") {
		return "<" + strings.NewReplacer("<", "%3C", ">", "%3E").Replace(u) + ">"
	}
	return u
}

// escapeText escapes what would otherwise be read as Markdown: always
// backslashes, asterisks, backticks and opening brackets; underscores and
// tildes that could open or close emphasis; "<" that could start a tag or
// an autolink; "&" that could start a character reference.
func escapeText(s string) string {
	var b strings.Builder
	rs := []rune(s)
	word := func(i int) bool {
		return i >= 0 && i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]))
	}
	for i, r := range rs {
		switch r {
		case '\\', '*', '`', '[':
			b.WriteByte('\\')
		case '_', '~':
			if !word(i-1) || !word(i+1) {
				b.WriteByte('\\')
			}
		case '<':
			if i+1 < len(rs) && (unicode.IsLetter(rs[i+1]) || strings.ContainsRune("/!?", rs[i+1])) {
				b.WriteByte('\\')
			}
		case '&':
			if entity.MatchString(string(rs[i:min(len(rs), i+40)])) {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

var entity = regexp.MustCompile(`^&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);`)

// escapeLineStart escapes what would make a line a heading, a list item,
// a quote, a fence or a rule.
func escapeLineStart(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		t := strings.TrimLeft(l, " ")
		switch {
		case t == "":
		case strings.HasPrefix(t, "#"), strings.HasPrefix(t, ">"), strings.HasPrefix(t, "+"), strings.HasPrefix(t, "="):
			lines[i] = `\` + t
		case strings.HasPrefix(t, "-"):
			lines[i] = `\` + t
		default:
			// "1. " and "1) " start a numbered list.
			j := 0
			for j < len(t) && t[j] >= '0' && t[j] <= '9' {
				j++
			}
			if j > 0 && j < len(t) && (t[j] == '.' || t[j] == ')') {
				lines[i] = t[:j] + `\` + t[j:]
			} else {
				lines[i] = t
			}
		}
	}
	return strings.Join(lines, "\n")
}
