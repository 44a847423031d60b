package pagecontent_test

import (
	"fmt"
	"strings"

	"github.com/synqhq/synq/internal/notion"
)

// dump renders blocks one a line, nested ones indented, as
// "type{attrs} text" with inline styles as **b** _i_ ~~s~~ `c` [t](u).
func dump(bs []notion.Block) string {
	var b strings.Builder
	var walk func(bs []notion.Block, indent string)
	walk = func(bs []notion.Block, indent string) {
		for _, bl := range bs {
			b.WriteString(indent + bl.Type)
			switch {
			case bl.ToDo != nil:
				fmt.Fprintf(&b, "{%v}", bl.ToDo.Checked)
			case bl.Code != nil:
				fmt.Fprintf(&b, "{%s}", bl.Code.Language)
			case bl.Image != nil && bl.Image.External != nil:
				fmt.Fprintf(&b, "{%s}", bl.Image.External.URL)
				if len(bl.Image.Caption) > 0 {
					b.WriteString(" " + rich(bl.Image.Caption))
				}
			case bl.Table != nil:
				fmt.Fprintf(&b, "{%d,%v,%v}", bl.Table.TableWidth, bl.Table.HasColumnHeader, bl.Table.HasRowHeader)
			case bl.TableRow != nil:
				cells := make([]string, len(bl.TableRow.Cells))
				for i, c := range bl.TableRow.Cells {
					cells[i] = rich(c)
				}
				b.WriteString(" " + strings.Join(cells, " | "))
			}
			if rt := bl.RichText(); len(rt) > 0 {
				b.WriteString(" " + rich(rt))
			}
			b.WriteString("\n")
			walk(bl.Children, indent+"  ")
		}
	}
	walk(bs, "")
	return b.String()
}

func rich(rt []notion.RichText) string {
	var b strings.Builder
	for _, it := range rt {
		s := strings.ReplaceAll(it.Content(), "\n", "⏎")
		if a := it.Annotations; a != nil {
			if a.Code {
				s = "`" + s + "`"
			}
			if a.Strikethrough {
				s = "~~" + s + "~~"
			}
			if a.Italic {
				s = "_" + s + "_"
			}
			if a.Bold {
				s = "**" + s + "**"
			}
		}
		if it.Text != nil && it.Text.Link != nil {
			s = "[" + s + "](" + it.Text.Link.URL + ")"
		}
		b.WriteString(s)
	}
	return b.String()
}
