package pagecontent

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"github.com/synqhq/synq/internal/notion"
)

// Limits of one page body. Notion's per-request limits (100 children,
// two levels, 1000 blocks, 500 KB) are not limits of a body: the writer
// splits a body into as many requests as it takes.
const (
	// MaxMarkdownBytes bounds the Markdown of one body. A body that large
	// already costs dozens of requests to write.
	MaxMarkdownBytes = 1 << 20
	// MaxBlocks bounds the blocks of one body, nested ones included.
	MaxBlocks = 1000
	// MaxTableWidth is the most columns a table may have: a row's cells
	// are one array, and Notion takes at most 100 items per array.
	MaxTableWidth = 100
	// MaxDepth is how deep blocks nest; deeper Markdown (a list nested
	// ten times) is flattened into the block at this depth, since every
	// level past the second costs one more request.
	MaxDepth = 8

	maxTextUnits  = notion.MaxTextLen // UTF-16 code units per rich-text item
	maxItems      = 100               // rich-text items per block, cells per row
	maxURLUnits   = 2000
	maxBlockBytes = 400 * 1000 // JSON of one block, so that any block fits in one request
)

// Errors for bodies Notion cannot hold; the message says what to shorten.
var (
	ErrTooLarge    = errors.New("page body over Notion's limits")
	ErrInvalidUTF8 = errors.New("page body is not valid UTF-8")
)

// htmlComment matches an HTML comment, which renderers hide.
var htmlComment = regexp.MustCompile(`(?s)<!--.*?-->`)

// Footnotes are parsed so that their definitions are not taken for link
// references (which would drop their text); they come out as plain text.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM, extension.Footnote))

// Convert parses Markdown (CommonMark with GitHub's tables, task lists,
// strikethrough and autolinks) into Notion blocks: headings 1–3 (deeper
// ones as heading 3), paragraphs, bulleted and numbered lists with
// nesting, to-dos, quotes, code with its language mapped to Notion's
// names, dividers, images by URL, tables, and bold, italic,
// strikethrough, code and links as rich-text annotations. Soft line breaks
// are kept as line breaks, as GitHub and issue trackers show them.
//
// Every block is within Notion's limits: text is split into items of at
// most 2000 characters (UTF-16 code units, as Notion counts), a block
// holds at most 100 items (longer text continues in a block of the same
// type). Constructs Notion has no block for (raw HTML, footnotes,
// relative images) become plain text, never an error; HTML comments are
// left out, as renderers hide them. The errors are a
// body over MaxMarkdownBytes or MaxBlocks or a table wider than
// MaxTableWidth (ErrTooLarge), and invalid UTF-8 (ErrInvalidUTF8); each
// names the line to shorten or fix.
func Convert(md string) ([]notion.Block, error) {
	if len(md) > MaxMarkdownBytes {
		return nil, fmt.Errorf("%w: the Markdown is %d bytes, a page body may be at most %d: shorten it", ErrTooLarge, len(md), MaxMarkdownBytes)
	}
	if !utf8.ValidString(md) {
		at := 0
		for at < len(md) {
			r, size := utf8.DecodeRuneInString(md[at:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			at += size
		}
		line, col := lineCol([]byte(md), at)
		return nil, fmt.Errorf("%w: invalid byte 0x%02x at line %d, column %d: send text as UTF-8", ErrInvalidUTF8, md[at], line, col)
	}
	src := []byte(md)
	doc := markdown.Parser().Parse(text.NewReader(src))
	c := &converter{src: src, footnotes: map[int]string{}}
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if f, ok := n.(*east.Footnote); ok && entering {
			c.footnotes[f.Index] = string(f.Ref)
		}
		return ast.WalkContinue, nil
	})
	blocks := c.blocks(doc, 1)
	if c.err != nil {
		return nil, c.err
	}
	return blocks, nil
}

func lineCol(src []byte, at int) (line, col int) {
	line = 1 + bytes.Count(src[:at], []byte{'\n'})
	col = at - bytes.LastIndexByte(src[:at], '\n')
	return line, col
}

type converter struct {
	src       []byte
	count     int
	err       error
	footnotes map[int]string // index → label
}

// line is the line a node starts on, for error messages.
func (c *converter) line(n ast.Node) int {
	for ; n != nil; n = n.FirstChild() {
		if n.Type() == ast.TypeBlock && n.Lines().Len() > 0 {
			l, _ := lineCol(c.src, n.Lines().At(0).Start)
			return l
		}
		if p := n.Pos(); p >= 0 && p <= len(c.src) {
			l, _ := lineCol(c.src, p)
			return l
		}
	}
	return 1
}

// made counts k blocks made from n and says whether to go on.
func (c *converter) made(n ast.Node, k int) bool {
	c.count += k
	if c.count > MaxBlocks && c.err == nil {
		c.err = fmt.Errorf("%w: the Markdown makes more than %d blocks (block %d comes from line %d): shorten it", ErrTooLarge, MaxBlocks, MaxBlocks+1, c.line(n))
	}
	return c.err == nil
}

// blocks converts the block children of n, at nesting depth.
func (c *converter) blocks(n ast.Node, depth int) []notion.Block {
	var out []notion.Block
	for k := n.FirstChild(); k != nil && c.err == nil; k = k.NextSibling() {
		out = append(out, c.block(k, depth)...)
	}
	return out
}

// siblings converts n and the blocks after it.
func (c *converter) siblings(n ast.Node, depth int) []notion.Block {
	var out []notion.Block
	for ; n != nil && c.err == nil; n = n.NextSibling() {
		out = append(out, c.block(n, depth)...)
	}
	return out
}

func (c *converter) block(n ast.Node, depth int) []notion.Block {
	switch n := n.(type) {
	case *ast.Heading:
		rt := c.richText(n)
		return c.textBlocks(n, depth, rt, nil, func(rt []notion.RichText) notion.Block { return notion.Heading(n.Level, rt...) })
	case *ast.Paragraph, *ast.TextBlock:
		return c.paragraph(n, depth)
	case *ast.ThematicBreak:
		if !c.made(n, 1) {
			return nil
		}
		return []notion.Block{notion.Divider()}
	case *ast.FencedCodeBlock:
		lang := "plain text"
		if l := n.Language(c.src); l != nil {
			lang = Language(string(unescape(l)))
		}
		return c.code(n, lang)
	case *ast.CodeBlock:
		return c.code(n, "plain text")
	case *ast.Blockquote:
		first := n.FirstChild()
		var rt []notion.RichText
		if first != nil && isText(first) {
			rt = c.richText(first)
			first = first.NextSibling()
		}
		kids := c.siblings(first, depth+1)
		return c.textBlocks(n, depth, rt, kids, func(rt []notion.RichText) notion.Block { return notion.Quote(rt...) })
	case *ast.List:
		var out []notion.Block
		for item := n.FirstChild(); item != nil && c.err == nil; item = item.NextSibling() {
			out = append(out, c.listItem(n, item, depth)...)
		}
		return out
	case *ast.HTMLBlock:
		var b bytes.Buffer
		for i := 0; i < n.Lines().Len(); i++ {
			seg := n.Lines().At(i)
			b.Write(seg.Value(c.src))
		}
		if n.HasClosure() {
			b.Write(n.ClosureLine.Value(c.src))
		}
		// HTML comments (issue templates are full of them) are hidden by
		// every Markdown renderer: they are left out.
		s := strings.Trim(htmlComment.ReplaceAllString(b.String(), ""), "\r\n")
		if strings.TrimSpace(s) == "" {
			return nil
		}
		return c.textBlocks(n, depth, c.items([]span{{text: s}}), nil, func(rt []notion.RichText) notion.Block { return notion.Paragraph(rt...) })
	case *east.Table:
		return c.table(n)
	case *east.Footnote:
		// "[^label]: " before the note's first paragraph, as written.
		mark := notion.Text("[^" + string(n.Ref) + "]: ")
		blocks := c.blocks(n, depth)
		if len(blocks) > 0 && blocks[0].Paragraph != nil && len(blocks[0].Paragraph.RichText) < maxItems {
			blocks[0].Paragraph.RichText = append([]notion.RichText{mark}, blocks[0].Paragraph.RichText...)
			return blocks
		}
		if !c.made(n, 1) {
			return nil
		}
		return append([]notion.Block{notion.Paragraph(mark)}, blocks...)
	}
	// Anything else (a construct of an extension Notion has no block for):
	// its blocks if it holds blocks, else its text as a paragraph.
	if n.HasChildren() && n.FirstChild().Type() == ast.TypeBlock {
		return c.blocks(n, depth)
	}
	rt := c.richText(n)
	if len(rt) == 0 {
		return nil
	}
	return c.textBlocks(n, depth, rt, nil, func(rt []notion.RichText) notion.Block { return notion.Paragraph(rt...) })
}

func isText(n ast.Node) bool {
	switch n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return true
	}
	return false
}

func (c *converter) listItem(list *ast.List, item ast.Node, depth int) []notion.Block {
	first := item.FirstChild()
	var rt []notion.RichText
	task, checked := false, false
	if first != nil && isText(first) {
		if cb, ok := first.FirstChild().(*east.TaskCheckBox); ok {
			task, checked = true, cb.IsChecked
		}
		rt = c.richText(first)
		if task && len(rt) > 0 && rt[0].Text != nil {
			// The space after [x] is the separator, not text.
			rt[0].Text.Content = strings.TrimLeft(rt[0].Text.Content, " ")
			if rt[0].Text.Content == "" {
				rt = rt[1:]
			}
		}
		first = first.NextSibling()
	}
	kids := c.siblings(first, depth+1)
	mk := func(rt []notion.RichText) notion.Block { return notion.BulletedListItem(rt...) }
	switch {
	case task:
		mk = func(rt []notion.RichText) notion.Block { return notion.ToDo(checked, rt...) }
	case list.IsOrdered():
		mk = func(rt []notion.RichText) notion.Block { return notion.NumberedListItem(rt...) }
	}
	return c.textBlocks(item, depth, rt, kids, mk)
}

// textBlocks makes blocks of one kind holding rt: one block, or several
// when rt is longer than one block may hold. kids become the children of
// the last one, or its siblings past MaxDepth.
func (c *converter) textBlocks(n ast.Node, depth int, rt []notion.RichText, kids []notion.Block, mk func([]notion.RichText) notion.Block) []notion.Block {
	chunks := chunk(rt)
	if !c.made(n, len(chunks)) {
		return nil
	}
	out := make([]notion.Block, 0, len(chunks)+len(kids))
	for _, ch := range chunks {
		out = append(out, mk(ch))
	}
	if depth >= MaxDepth {
		return append(out, kids...)
	}
	out[len(out)-1].Children = kids
	return out
}

func (c *converter) code(n ast.Node, lang string) []notion.Block {
	var b strings.Builder
	for i := 0; i < n.Lines().Len(); i++ {
		seg := n.Lines().At(i)
		b.Write(seg.Value(c.src))
	}
	content := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r")
	chunks := chunk(c.items([]span{{text: content}}))
	if !c.made(n, len(chunks)) {
		return nil
	}
	out := make([]notion.Block, len(chunks))
	for i, ch := range chunks {
		out[i] = notion.Code(lang, ch...)
	}
	return out
}

// paragraph makes paragraphs of n's text, and image blocks of its images:
// Notion shows images as blocks of their own.
func (c *converter) paragraph(n ast.Node, depth int) []notion.Block {
	var pieces []span
	c.inline(n, style{}, &pieces, true)
	var out []notion.Block
	var run []span
	flush := func() {
		trimRun(run)
		rt := c.items(run)
		run = run[:0]
		if len(rt) == 0 {
			return
		}
		out = append(out, c.textBlocks(n, depth, rt, nil, func(rt []notion.RichText) notion.Block { return notion.Paragraph(rt...) })...)
	}
	for _, p := range pieces {
		if p.image == "" {
			run = append(run, p)
			continue
		}
		flush()
		if !c.made(n, 1) {
			return nil
		}
		var caption []notion.RichText
		if p.text != "" {
			caption = c.items([]span{{text: p.text}})
			if len(caption) > maxItems {
				caption = caption[:maxItems]
			}
		}
		out = append(out, notion.ExternalImage(p.image, caption...))
	}
	flush()
	return out
}

// trimRun drops the blank space an image left at the edges of a run of
// text.
func trimRun(run []span) {
	if len(run) == 0 {
		return
	}
	run[0].text = strings.TrimLeft(run[0].text, " \t\r\n")
	run[len(run)-1].text = strings.TrimRight(run[len(run)-1].text, " \t\r\n")
}

func (c *converter) table(n *east.Table) []notion.Block {
	width := 0
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		width = max(width, row.ChildCount())
	}
	if width > MaxTableWidth {
		c.err = fmt.Errorf("%w: the table at line %d has %d columns, Notion allows %d: shorten it", ErrTooLarge, c.line(n), width, MaxTableWidth)
		return nil
	}
	if width == 0 || !c.made(n, 1+n.ChildCount()) {
		return nil
	}
	var rows []notion.Block
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		cells := make([][]notion.RichText, width)
		size := 0
		i := 0
		for cell := row.FirstChild(); cell != nil && i < width; cell = cell.NextSibling() {
			rt := c.richText(cell)
			if len(rt) > maxItems {
				// Too much formatting for one cell: keep the text, plain.
				rt = c.items([]span{{text: notion.PlainText(rt)}})
			}
			if len(rt) > maxItems {
				c.err = fmt.Errorf("%w: a cell of the table at line %d holds more than %d characters, Notion allows %d: shorten it", ErrTooLarge, c.line(n), maxItems*maxTextUnits, maxItems*maxTextUnits)
				return nil
			}
			cells[i] = rt
			size += itemsBytes(rt)
			i++
		}
		if size > maxBlockBytes {
			c.err = fmt.Errorf("%w: a row of the table at line %d is %d bytes of text, Notion takes at most %d per row: shorten it", ErrTooLarge, c.line(n), size, maxBlockBytes)
			return nil
		}
		rows = append(rows, notion.TableRow(cells...))
	}
	_, header := n.FirstChild().(*east.TableHeader)
	return []notion.Block{notion.Table(width, header, false, rows...)}
}

// style is the formatting of a run of text.
type style struct {
	bold, italic, strike, code bool
	link                       string
}

// span is a run of text in one style, or an image (image set to its URL,
// text to its alt text).
type span struct {
	text  string
	style style
	image string
}

// richText is the rich text of n's inline content; images become their
// alt text, linked to them.
func (c *converter) richText(n ast.Node) []notion.RichText {
	var spans []span
	c.inline(n, style{}, &spans, false)
	return c.items(spans)
}

// inline collects the text of n's inline children. With images set, an
// image is a span of its own; otherwise it is text.
func (c *converter) inline(n ast.Node, st style, out *[]span, images bool) {
	for k := n.FirstChild(); k != nil; k = k.NextSibling() {
		switch k := k.(type) {
		case *ast.Text:
			v := k.Segment.Value(c.src)
			s := string(v)
			if !k.IsRaw() {
				s = string(unescape(v))
			}
			if k.HardLineBreak() || k.SoftLineBreak() {
				s += "\n"
			}
			*out = append(*out, span{text: s, style: st})
		case *ast.String:
			*out = append(*out, span{text: string(k.Value), style: st})
		case *ast.CodeSpan:
			var b strings.Builder
			for t := k.FirstChild(); t != nil; t = t.NextSibling() {
				switch t := t.(type) {
				case *ast.Text:
					v := t.Segment.Value(c.src)
					if bytes.HasSuffix(v, []byte("\n")) {
						v = append(v[:len(v)-1:len(v)-1], ' ')
					}
					b.Write(v)
				case *ast.String:
					b.Write(t.Value)
				}
			}
			cs := st
			cs.code = true
			*out = append(*out, span{text: b.String(), style: cs})
		case *ast.Emphasis:
			es := st
			if k.Level >= 2 {
				es.bold = true
			} else {
				es.italic = true
			}
			c.inline(k, es, out, images)
		case *east.Strikethrough:
			ss := st
			ss.strike = true
			c.inline(k, ss, out, images)
		case *ast.Link:
			ls := st
			ls.link = linkURL(string(util.URLEscape(k.Destination, true)))
			c.inline(k, ls, out, images)
		case *ast.AutoLink:
			u := string(k.URL(c.src))
			if k.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(u), "mailto:") {
				u = "mailto:" + u
			}
			ls := st
			ls.link = linkURL(string(util.URLEscape([]byte(u), false)))
			*out = append(*out, span{text: string(k.Label(c.src)), style: ls})
		case *ast.Image:
			u := string(util.URLEscape(k.Destination, true))
			var alt []span
			c.inline(k, style{}, &alt, false)
			altText := ""
			for _, a := range alt {
				altText += a.text
			}
			if images && imageURL(u) {
				*out = append(*out, span{image: u, text: altText})
				continue
			}
			is := st
			if is.link == "" {
				is.link = linkURL(u)
			}
			if altText == "" {
				altText = u
			}
			*out = append(*out, span{text: altText, style: is})
		case *ast.RawHTML:
			var b strings.Builder
			for i := 0; i < k.Segments.Len(); i++ {
				seg := k.Segments.At(i)
				b.Write(seg.Value(c.src))
			}
			if !strings.HasPrefix(b.String(), "<!--") { // comments are hidden
				*out = append(*out, span{text: b.String(), style: st})
			}
		case *east.FootnoteLink:
			*out = append(*out, span{text: "[^" + c.footnotes[k.Index] + "]", style: st})
		case *east.TaskCheckBox, *east.FootnoteBacklink:
			// The list item carries the box as a to-do; backlinks are the
			// renderer's.
		default:
			c.inline(k, st, out, images)
		}
	}
}

// unescape resolves backslash escapes and character references, as a
// renderer of the text would.
func unescape(v []byte) []byte {
	v = util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(v)))
	return bytes.ReplaceAll(v, []byte{0}, []byte("\uFFFD"))
}

// linkURL returns u when Notion accepts it as a link, else "" (the text
// stays, unlinked): relative links and unknown schemes are refused by
// Notion.
func linkURL(u string) string {
	if notion.TextLen(u) > maxURLUnits {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https", "ftp":
		if p.Host == "" {
			return ""
		}
	case "mailto", "tel":
		if p.Opaque == "" {
			return ""
		}
	default:
		return ""
	}
	return u
}

// imageURL says whether u can be an image block: an absolute http(s) URL.
func imageURL(u string) bool {
	l := linkURL(u)
	return l != "" && (strings.HasPrefix(strings.ToLower(l), "http://") || strings.HasPrefix(strings.ToLower(l), "https://"))
}

// items makes rich-text items of spans: adjacent spans of one style are
// merged, empty ones dropped, and text longer than 2000 UTF-16 code units
// is split on character boundaries.
func (c *converter) items(spans []span) []notion.RichText {
	var merged []span
	for _, s := range spans {
		s.text = strings.ToValidUTF8(s.text, "\uFFFD")
		if s.text == "" {
			continue
		}
		if l := len(merged); l > 0 && merged[l-1].style == s.style {
			merged[l-1].text += s.text
			continue
		}
		merged = append(merged, s)
	}
	var out []notion.RichText
	for _, s := range merged {
		for _, piece := range notion.SplitText(s.text, maxTextUnits) {
			out = append(out, item(piece, s.style))
		}
	}
	return out
}

func item(content string, st style) notion.RichText {
	rt := notion.LinkText(content, st.link)
	if st.bold || st.italic || st.strike || st.code {
		rt.Annotations = &notion.Annotations{Bold: st.bold, Italic: st.italic, Strikethrough: st.strike, Code: st.code, Color: "default"}
	}
	return rt
}

// chunk cuts rich text into what one block may hold: at most 100 items
// and maxBlockBytes of JSON. It returns at least one (maybe empty) chunk.
func chunk(rt []notion.RichText) [][]notion.RichText {
	out := [][]notion.RichText{{}}
	size := 0
	for _, it := range rt {
		last := out[len(out)-1]
		b := itemBytes(it)
		if len(last) > 0 && (len(last) >= maxItems || size+b > maxBlockBytes) {
			out = append(out, []notion.RichText{})
			size = 0
		}
		out[len(out)-1] = append(out[len(out)-1], it)
		size += b
	}
	return out
}

// itemBytes bounds the JSON size of a rich-text item: encoding/json
// escapes control characters and <, >, & as six bytes.
func itemBytes(rt notion.RichText) int {
	n := 160 // type, annotations, link keys
	s := rt.Content()
	if rt.Text != nil && rt.Text.Link != nil {
		s += rt.Text.Link.URL
	}
	for _, r := range s {
		switch {
		case r == '\n', r == '\r', r == '\t', r == '"', r == '\\':
			n += 2
		case r < 0x20, r == '<', r == '>', r == '&', r == '\u2028', r == '\u2029', r == utf8.RuneError:
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

func itemsBytes(rt []notion.RichText) int {
	n := 0
	for _, it := range rt {
		n += itemBytes(it)
	}
	return n
}
