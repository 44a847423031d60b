package notiontest

import (
	"fmt"
	"strings"
)

// TicketBody is the Markdown body the page-content benchmarks write: 40
// top-level blocks (headings, paragraphs with inline styles, nested list
// items, code, to-dos) for row; version v changes one paragraph only.
func TicketBody(row string, v int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Ticket %s\n\n", row)
	for i := range 13 {
		fmt.Fprintf(&b, "## Part %d\n\n", i)
		if i == 6 {
			fmt.Fprintf(&b, "Paragraph %d of row %s, version %d, with **bold** and `code`.\n\n", i, row, v)
		} else {
			fmt.Fprintf(&b, "Paragraph %d of row %s, with *emphasis* and a [link](https://example.com/%d).\n\n", i, row, i)
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "- item %d\n  - nested %d\n\n", i, i)
		case 1:
			fmt.Fprintf(&b, "```go\nfmt.Println(%d)\n```\n\n", i)
		default:
			fmt.Fprintf(&b, "- [ ] task %d\n\n", i)
		}
	}
	return b.String()
}
