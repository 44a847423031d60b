package pagecontent_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
)

func mustConvert(t testing.TB, md string) []notion.Block {
	t.Helper()
	bs, err := pagecontent.Convert(md)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return bs
}

func TestConvertConstructs(t *testing.T) {
	cases := []struct{ name, md, want string }{
		{"headings", "# One\n## Two\n### Three\n#### Four\n###### Six\n\nSetext\n======\n",
			"heading_1 One\nheading_2 Two\nheading_3 Three\nheading_3 Four\nheading_3 Six\nheading_1 Setext\n"},
		{"paragraphs", "first\nline two\n\nsecond  \nhard break\n",
			"paragraph first⏎line two\nparagraph second⏎hard break\n"},
		{"inline styles", "a *i* __b__ ***bi*** ~~s~~ `c *not*` [l](https://x.io/p?q=1) **[bl](https://x.io)**",
			"paragraph a _i_ **b** **_bi_** ~~s~~ `c *not*` [l](https://x.io/p?q=1) [**bl**](https://x.io)\n"},
		{"escapes and entities", `\*not em\* &amp; &lt;tag&gt; &#x41; &copy;`,
			"paragraph *not em* & <tag> A ©\n"},
		{"autolinks", "see <https://a.io> www.b.io c@d.io",
			"paragraph see [https://a.io](https://a.io) [www.b.io](http://www.b.io) [c@d.io](mailto:c@d.io)\n"},
		{"relative and bad links keep their text", "[rel](/docs) [js](javascript:alert(1)) [ok](mailto:x@y.z)",
			"paragraph rel js [ok](mailto:x@y.z)\n"},
		{"bulleted nesting", "- a\n  - a1\n    - a11\n- b\n",
			"bulleted_list_item a\n  bulleted_list_item a1\n    bulleted_list_item a11\nbulleted_list_item b\n"},
		{"numbered", "1. one\n2. two\n   * mixed\n",
			"numbered_list_item one\nnumbered_list_item two\n  bulleted_list_item mixed\n"},
		{"loose list item paragraphs", "- item\n\n  more text\n\n- next\n",
			"bulleted_list_item item\n  paragraph more text\nbulleted_list_item next\n"},
		{"to-dos", "- [ ] open\n- [x] done *well*\n  - [ ] sub\n",
			"to_do{false} open\nto_do{true} done _well_\n  to_do{false} sub\n"},
		{"quote", "> said\n> this\n>\n> - with a list\n",
			"quote said⏎this\n  bulleted_list_item with a list\n"},
		{"code with language", "```Go\nfunc main() {\n}\n```\n\n```ts\nlet x\n```\n\n```klingon\nQapla'\n```\n\n```\nplain\n```\n",
			"code{go} func main() {⏎}\ncode{typescript} let x\ncode{plain text} Qapla'\ncode{plain text} plain\n"},
		{"indented code", "    x := 1\n    y := 2\n", "code{plain text} x := 1⏎y := 2\n"},
		{"divider", "a\n\n---\n\n***\n", "paragraph a\ndivider\ndivider\n"},
		{"image", "![a chart](https://img.io/c.png)\n", "image{https://img.io/c.png} a chart\n"},
		{"image inside text", "before ![i](https://img.io/i.png) after\n",
			"paragraph before\nimage{https://img.io/i.png} i\nparagraph after\n"},
		{"relative image is text", "![logo](logo.png) and ![](https://img.io/x.png) in a heading:\n# t ![h](https://img.io/h.png)\n",
			"paragraph logo and\nimage{https://img.io/x.png}\nparagraph in a heading:\nheading_1 t [h](https://img.io/h.png)\n"},
		{"table", "| k | v |\n|---|:-:|\n| a | **b** |\n| c |\n| d | e | extra |\n",
			"table{2,true,false}\n  table_row k | v\n  table_row a | **b**\n  table_row c | \n  table_row d | e\n"},
		{"raw html", "<div>\n<b>hi</b>\n</div>\n\ntext <span>x</span>\n",
			"paragraph <div>⏎<b>hi</b>⏎</div>\nparagraph text <span>x</span>\n"},
		{"html comments are hidden", "<!-- Describe the bug -->\n\nText <!-- inline --> more\n\n<!--\nmulti\nline\n-->\n\n<!-- a -->\n<p>kept</p>\n",
			"paragraph Text  more\nparagraph <p>kept</p>\n"},
		{"footnotes are text", "claim[^1]\n\n[^1]: source\n", "paragraph claim[^1]\nparagraph [^1]: source\n"},
		{"empty", "", ""},
		{"blank", "\n\n   \n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := dump(mustConvert(t, tc.md)); got != tc.want {
				t.Errorf("Convert(%q)\n got:\n%s\nwant:\n%s", tc.md, got, tc.want)
			}
		})
	}
}

func TestConvertDeepNestingFlattens(t *testing.T) {
	var b strings.Builder
	for i := range 12 {
		b.WriteString(strings.Repeat("  ", i) + "- l" + string(rune('a'+i)) + "\n")
	}
	bs := mustConvert(t, b.String())
	depth := 0
	for cur := bs; len(cur) > 0; cur = cur[len(cur)-1].Children {
		depth++
	}
	if depth != pagecontent.MaxDepth {
		t.Errorf("nesting %d deep, want %d:\n%s", depth, pagecontent.MaxDepth, dump(bs))
	}
	if got := strings.Count(dump(bs), "bulleted_list_item"); got != 12 {
		t.Errorf("%d items kept, want 12", got)
	}
}

func units(s string) int { return len(utf16.Encode([]rune(s))) }

func checkLimits(t testing.TB, bs []notion.Block) {
	t.Helper()
	var walk func(bs []notion.Block, depth int)
	walk = func(bs []notion.Block, depth int) {
		for _, b := range bs {
			texts := [][]notion.RichText{b.RichText()}
			if b.TableRow != nil {
				texts = b.TableRow.Cells
				if len(texts) > 100 {
					t.Fatalf("a row of %d cells", len(texts))
				}
			}
			if b.Image != nil {
				texts = append(texts, b.Image.Caption)
				if b.Image.External == nil || !strings.HasPrefix(b.Image.External.URL, "http") {
					t.Fatalf("image without an http URL: %+v", b.Image)
				}
			}
			for _, rt := range texts {
				if len(rt) > 100 {
					t.Fatalf("%s block with %d rich-text items", b.Type, len(rt))
				}
				for _, it := range rt {
					if n := units(it.Content()); n > 2000 || n == 0 {
						t.Fatalf("%s block with an item of %d UTF-16 units", b.Type, n)
					}
					if it.Text.Link != nil && (units(it.Text.Link.URL) > 2000 || !strings.Contains(it.Text.Link.URL, ":")) {
						t.Fatalf("bad link %q", it.Text.Link.URL)
					}
				}
			}
			if b.Code != nil && !contains(notion.CodeLanguages, b.Code.Language) {
				t.Fatalf("code language %q", b.Code.Language)
			}
			if b.Table != nil && (b.Table.TableWidth < 1 || b.Table.TableWidth > 100 || len(b.Children) == 0) {
				t.Fatalf("table %+v with %d rows", b.Table, len(b.Children))
			}
			if depth > pagecontent.MaxDepth {
				t.Fatalf("nesting deeper than %d", pagecontent.MaxDepth)
			}
			walk(b.Children, depth+1)
		}
	}
	walk(bs, 1)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestConvertSplitsLongText(t *testing.T) {
	long := strings.Repeat("abcdefghij", 450) // 4500 characters
	bs := mustConvert(t, long)
	checkLimits(t, bs)
	if len(bs) != 1 || len(bs[0].Paragraph.RichText) != 3 || notion.PlainText(bs[0].Paragraph.RichText) != long {
		t.Fatalf("4500 characters: %d blocks, %+v", len(bs), bs)
	}
	// Emoji count two units each: 1500 of them are 3000 units.
	emoji := strings.Repeat("😀", 1500)
	bs = mustConvert(t, emoji)
	checkLimits(t, bs)
	if rt := bs[0].Paragraph.RichText; len(rt) != 2 || units(rt[0].Content()) != 2000 || notion.PlainText(rt) != emoji {
		t.Errorf("emoji split into %d items", len(rt))
	}
	// A paragraph of more than 100 items (alternating styles) continues
	// in a second paragraph; a long code block in a second code block.
	var b strings.Builder
	for i := range 150 {
		if i%2 == 0 {
			b.WriteString("**b** ")
		} else {
			b.WriteString("i ")
		}
	}
	bs = mustConvert(t, b.String())
	checkLimits(t, bs)
	if len(bs) != 2 || bs[0].Type != notion.BlockParagraph || bs[1].Type != notion.BlockParagraph {
		t.Errorf("150 items: %d blocks", len(bs))
	}
	code := "```go\n" + strings.Repeat(strings.Repeat("x", 99)+"\n", 2100) + "```\n" // 210,000 characters
	bs = mustConvert(t, code)
	checkLimits(t, bs)
	if len(bs) != 2 || bs[1].Code == nil || bs[1].Code.Language != "go" {
		t.Errorf("long code: %d blocks", len(bs))
	}
	// Escaped characters weigh more in JSON: a block stays under 400 KB.
	bs = mustConvert(t, "```\n"+strings.Repeat("<&>", 60000)+"\n```\n")
	checkLimits(t, bs)
	if len(bs) < 3 {
		t.Errorf("180,000 escaped characters in %d blocks", len(bs))
	}
}

func TestConvertErrors(t *testing.T) {
	wide := "|" + strings.Repeat(" c |", 101) + "\n|" + strings.Repeat("---|", 101) + "\n"
	cases := []struct {
		name, md string
		is       error
		msg      string
	}{
		{"too long", strings.Repeat("a", pagecontent.MaxMarkdownBytes+1), pagecontent.ErrTooLarge, "shorten it"},
		{"too many blocks", strings.Repeat("para\n\n", 1001), pagecontent.ErrTooLarge, "more than 1000 blocks (block 1001 comes from line 2001)"},
		{"too many list items", strings.Repeat("- x\n", 1001), pagecontent.ErrTooLarge, "more than 1000 blocks"},
		{"wide table", "intro\n\n" + wide, pagecontent.ErrTooLarge, "the table at line 3 has 101 columns, Notion allows 100"},
		{"invalid utf-8", "ok\nbad \xff here", pagecontent.ErrInvalidUTF8, "invalid byte 0xff at line 2, column 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pagecontent.Convert(tc.md)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.msg)
			}
		})
	}
	// Exactly at the limits is fine.
	if _, err := pagecontent.Convert(strings.Repeat("para\n\n", 1000)); err != nil {
		t.Errorf("1000 blocks: %v", err)
	}
	if _, err := pagecontent.Convert("|" + strings.Repeat(" c |", 100) + "\n|" + strings.Repeat("---|", 100) + "\n"); err != nil {
		t.Errorf("100 columns: %v", err)
	}
}

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{"go": "go", "Go": "go", "golang": "go", "js": "javascript", "c++": "c++",
		"cpp": "c++", "sh": "shell", "bash": "bash", "yml": "yaml", "python {.numberLines}": "python", "": "plain text",
		"brainfuck": "plain text", "language-rust": "rust", "Dockerfile": "docker", "plain text": "plain text"} {
		if got := pagecontent.Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzConvert(f *testing.F) {
	for _, s := range []string{"# h\n\n- a\n  - b\n\n```go\nx\n```\n", "| a | b |\n|-|-|\n| 1 | 2 |\n", "> q\n> - [x] t\n",
		"![i](https://x.io/i.png) **b** ~~s~~ `c` [l](https://x.io)", strings.Repeat("😀", 1100), "<div>\n\n*x*\n\n</div>",
		"1. a\n   1. b\n      1. c\n         1. d\n", "[^1]\n\n[^1]: n", "\x00&#0;&#xD800;", "- [ ]\n- [x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		bs, err := pagecontent.Convert(md)
		if err != nil {
			if !errors.Is(err, pagecontent.ErrTooLarge) && !errors.Is(err, pagecontent.ErrInvalidUTF8) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		checkLimits(t, bs)
		// Every block is sendable: it marshals, and hashing is stable.
		for _, b := range bs {
			if _, err := b.MarshalJSON(); err != nil {
				t.Fatalf("block does not marshal: %v", err)
			}
			if pagecontent.Hash(b) != pagecontent.Hash(b) {
				t.Fatal("unstable hash")
			}
		}
	})
}
