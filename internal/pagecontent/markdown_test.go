package pagecontent_test

import (
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
)

// Markdown is Convert's inverse on what Convert makes: rendering blocks
// and converting the rendering gives the same blocks.
func TestMarkdownRoundTrip(t *testing.T) {
	for _, md := range []string{
		"# One\n## Two\n### Three\n#### Four\n\nSetext\n======\n",
		"first\nline two\n\nsecond  \nhard break\n",
		"a *i* __b__ ***bi*** ~~s~~ `c *not*` [l](https://x.io/p?q=1) **[bl](https://x.io)**",
		`\*not em\* &amp; &lt;tag&gt; &#x41; &copy; 5 * 3 _x_ snake_case a\b`,
		"see <https://a.io> www.b.io c@d.io",
		"- a\n  - a1\n    - a11\n- b\n",
		"1. one\n2. two\n   * mixed\n\n10. ten\n",
		"- item\n\n  more text\n\n- next\n",
		"- [ ] open\n- [x] done *well*\n  - [ ] sub\n",
		"> said\n> this\n>\n> - with a list\n",
		"```Go\nfunc main() {\n}\n```\n\n```ts\nlet x\n```\n\n```\nplain\n```\n\n```vb\nDim x\n```\n",
		"````\n```nested```\n````\n",
		"    x := 1\n    y := 2\n",
		"a\n\n---\n\n***\n",
		"![a chart](https://img.io/c.png)\n",
		"before ![i](https://img.io/i.png) after\n",
		"| k | v |\n|---|:-:|\n| a | **b** |\n| c |\n| d | e \\| f |\n",
		"<div>\n<b>hi</b>\n</div>\n\ntext <span>x</span> a < b && c\n",
		"claim[^1]\n\n[^1]: source\n",
		"# Title #\n\n1986\\. A great year\n\n\\- not a list\n\n\\> not a quote\n\n\\# not a heading\n",
		"wow![link](https://x.io) `` a`b `` [with (parens)](https://x.io/a_(b))\n",
		"Clicking **Log in** on Safari 17.3 does nothing; the console shows `TypeError: undefined is not an object`.\n\nSteps:\n1. Open the sign-in page in Safari 17\n2. Click Log in",
		"- outer\n  1. inner one\n  2. inner two\n     > quoted\n- [x] done\n",
		"",
	} {
		blocks := mustConvert(t, md)
		rendered := pagecontent.Markdown(blocks)
		again, err := pagecontent.Convert(rendered)
		if err != nil {
			t.Errorf("Convert(Markdown(Convert(%q))): %v\nrendered:\n%s", md, err, rendered)
			continue
		}
		if got, want := dump(again), dump(blocks); got != want {
			t.Errorf("round trip of %q\nrendered:\n%s\n got:\n%s\nwant:\n%s", md, rendered, got, want)
		}
	}
}

// The rendering is readable: one spelling, nothing escaped that needs
// no escape.
func TestMarkdownSpelling(t *testing.T) {
	blocks := []notion.Block{
		notion.Heading(2, notion.Text("Steps")),
		notion.NumberedListItem(notion.Text("Open "), notion.LinkText("the page", "https://x.io")),
		notion.NumberedListItem(notion.Text("Click "), bold("Log in")),
		notion.ToDo(true, notion.Text("snake_case & AT&T < 3")),
		notion.Code("go", notion.Text("x := 1")),
	}
	want := "## Steps\n\n1. Open [the page](https://x.io)\n2. Click **Log in**\n\n- [x] snake_case & AT&T < 3\n\n```go\nx := 1\n```"
	if got := pagecontent.Markdown(blocks); got != want {
		t.Errorf("Markdown:\n%s\nwant:\n%s", got, want)
	}
	if got := pagecontent.Markdown(nil); got != "" {
		t.Errorf("Markdown(nil) = %q", got)
	}
	_ = strings.TrimSpace
}

func bold(s string) notion.RichText {
	rt := notion.Text(s)
	rt.Annotations = &notion.Annotations{Bold: true, Color: "default"}
	return rt
}
