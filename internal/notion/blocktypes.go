package notion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Block types with a typed payload. Blocks of other types read from
// Notion (toggles, callouts, child pages …) keep their payload as it was
// received and are written back unchanged.
const (
	BlockParagraph        = "paragraph"
	BlockHeading1         = "heading_1"
	BlockHeading2         = "heading_2"
	BlockHeading3         = "heading_3"
	BlockBulletedListItem = "bulleted_list_item"
	BlockNumberedListItem = "numbered_list_item"
	BlockToDo             = "to_do"
	BlockQuote            = "quote"
	BlockCode             = "code"
	BlockDivider          = "divider"
	BlockImage            = "image"
	BlockTable            = "table"
	BlockTableRow         = "table_row"
)

// Block is a piece of page content. Exactly one payload field is set, the
// one Type names. Children are the nested blocks sent with a create or an
// append (inside the payload, as Notion expects); blocks read from Notion
// leave Children empty and say HasChildren: list them with
// ListBlockChildren.
type Block struct {
	Object         string    `json:"object,omitempty"`
	ID             string    `json:"id,omitempty"`
	Parent         *Parent   `json:"parent,omitempty"`
	Type           string    `json:"type"`
	CreatedTime    time.Time `json:"created_time,omitzero"`
	LastEditedTime time.Time `json:"last_edited_time,omitzero"`
	HasChildren    bool      `json:"has_children,omitempty"`
	InTrash        bool      `json:"in_trash,omitempty"`
	Archived       bool      `json:"archived,omitempty"`

	Paragraph        *TextBlock     `json:"paragraph,omitempty"`
	Heading1         *HeadingBlock  `json:"heading_1,omitempty"`
	Heading2         *HeadingBlock  `json:"heading_2,omitempty"`
	Heading3         *HeadingBlock  `json:"heading_3,omitempty"`
	BulletedListItem *TextBlock     `json:"bulleted_list_item,omitempty"`
	NumberedListItem *TextBlock     `json:"numbered_list_item,omitempty"`
	ToDo             *ToDoBlock     `json:"to_do,omitempty"`
	Quote            *TextBlock     `json:"quote,omitempty"`
	Code             *CodeBlock     `json:"code,omitempty"`
	Divider          *DividerBlock  `json:"divider,omitempty"`
	Image            *ImageBlock    `json:"image,omitempty"`
	Table            *TableBlock    `json:"table,omitempty"`
	TableRow         *TableRowBlock `json:"table_row,omitempty"`

	Children []Block `json:"-"`

	raw json.RawMessage // the payload of a type without a typed field
}

// TextBlock is the payload of paragraphs, list items and quotes.
type TextBlock struct {
	RichText []RichText `json:"rich_text"`
	Color    string     `json:"color,omitempty"`
}

// HeadingBlock is the payload of heading_1, heading_2 and heading_3.
type HeadingBlock struct {
	RichText     []RichText `json:"rich_text"`
	Color        string     `json:"color,omitempty"`
	IsToggleable bool       `json:"is_toggleable,omitempty"`
}

// ToDoBlock is the payload of a to-do.
type ToDoBlock struct {
	RichText []RichText `json:"rich_text"`
	Checked  bool       `json:"checked"`
	Color    string     `json:"color,omitempty"`
}

// CodeBlock is the payload of a code block. Language is one of Notion's
// names (CodeLanguages).
type CodeBlock struct {
	RichText []RichText `json:"rich_text"`
	Caption  []RichText `json:"caption,omitempty"`
	Language string     `json:"language"`
}

// DividerBlock is the (empty) payload of a divider.
type DividerBlock struct{}

// ImageBlock is the payload of an image: an external URL (what the API
// can create) or a Notion-hosted file (read only).
type ImageBlock struct {
	Type     string     `json:"type"`
	External *FileURL   `json:"external,omitempty"`
	File     *FileURL   `json:"file,omitempty"`
	Caption  []RichText `json:"caption,omitempty"`
}

// TableBlock is the payload of a table; its rows are table_row children
// and a table is created with at least one.
type TableBlock struct {
	TableWidth      int  `json:"table_width"`
	HasColumnHeader bool `json:"has_column_header"`
	HasRowHeader    bool `json:"has_row_header"`
}

// TableRowBlock is one row of a table: TableWidth cells of rich text.
type TableRowBlock struct {
	Cells [][]RichText `json:"cells"`
}

// Paragraph returns a paragraph block.
func Paragraph(rt ...RichText) Block {
	return Block{Type: BlockParagraph, Paragraph: &TextBlock{RichText: nonNil(rt)}}
}

// Heading returns a heading block of level 1, 2 or 3 (other levels are
// clamped).
func Heading(level int, rt ...RichText) Block {
	h := &HeadingBlock{RichText: nonNil(rt)}
	switch {
	case level <= 1:
		return Block{Type: BlockHeading1, Heading1: h}
	case level == 2:
		return Block{Type: BlockHeading2, Heading2: h}
	}
	return Block{Type: BlockHeading3, Heading3: h}
}

// BulletedListItem returns a bulleted list item; nested items go in
// Children.
func BulletedListItem(rt ...RichText) Block {
	return Block{Type: BlockBulletedListItem, BulletedListItem: &TextBlock{RichText: nonNil(rt)}}
}

// NumberedListItem returns a numbered list item.
func NumberedListItem(rt ...RichText) Block {
	return Block{Type: BlockNumberedListItem, NumberedListItem: &TextBlock{RichText: nonNil(rt)}}
}

// ToDo returns a to-do.
func ToDo(checked bool, rt ...RichText) Block {
	return Block{Type: BlockToDo, ToDo: &ToDoBlock{RichText: nonNil(rt), Checked: checked}}
}

// Quote returns a quote.
func Quote(rt ...RichText) Block {
	return Block{Type: BlockQuote, Quote: &TextBlock{RichText: nonNil(rt)}}
}

// Code returns a code block in language (one of CodeLanguages).
func Code(language string, rt ...RichText) Block {
	return Block{Type: BlockCode, Code: &CodeBlock{RichText: nonNil(rt), Language: language}}
}

// Divider returns a divider.
func Divider() Block { return Block{Type: BlockDivider, Divider: &DividerBlock{}} }

// ExternalImage returns an image shown from url.
func ExternalImage(url string, caption ...RichText) Block {
	return Block{Type: BlockImage, Image: &ImageBlock{Type: "external", External: &FileURL{URL: url}, Caption: caption}}
}

// Table returns a table of width columns with rows (TableRow blocks).
func Table(width int, columnHeader, rowHeader bool, rows ...Block) Block {
	return Block{Type: BlockTable, Table: &TableBlock{TableWidth: width, HasColumnHeader: columnHeader, HasRowHeader: rowHeader}, Children: rows}
}

// TableRow returns a table row.
func TableRow(cells ...[]RichText) Block {
	for i, c := range cells {
		cells[i] = nonNil(c)
	}
	return Block{Type: BlockTableRow, TableRow: &TableRowBlock{Cells: nonNil(cells)}}
}

// RichText is the block's text: the rich text of text blocks and code,
// nil for other types.
func (b *Block) RichText() []RichText {
	switch p := b.payload().(type) {
	case *TextBlock:
		return p.RichText
	case *HeadingBlock:
		return p.RichText
	case *ToDoBlock:
		return p.RichText
	case *CodeBlock:
		return p.RichText
	}
	return nil
}

// payload returns the typed payload of b.Type (a nil pointer when it is
// not set), or nil for types without a typed field.
func (b *Block) payload() any {
	switch b.Type {
	case BlockParagraph:
		return b.Paragraph
	case BlockHeading1:
		return b.Heading1
	case BlockHeading2:
		return b.Heading2
	case BlockHeading3:
		return b.Heading3
	case BlockBulletedListItem:
		return b.BulletedListItem
	case BlockNumberedListItem:
		return b.NumberedListItem
	case BlockToDo:
		return b.ToDo
	case BlockQuote:
		return b.Quote
	case BlockCode:
		return b.Code
	case BlockDivider:
		return b.Divider
	case BlockImage:
		return b.Image
	case BlockTable:
		return b.Table
	case BlockTableRow:
		return b.TableRow
	}
	return nil
}

// setPayload points b's field for typ at a new zero payload and returns it
// for decoding; nil for types without a typed field.
func (b *Block) setPayload(typ string) any {
	switch typ {
	case BlockParagraph:
		b.Paragraph = new(TextBlock)
		return b.Paragraph
	case BlockHeading1:
		b.Heading1 = new(HeadingBlock)
		return b.Heading1
	case BlockHeading2:
		b.Heading2 = new(HeadingBlock)
		return b.Heading2
	case BlockHeading3:
		b.Heading3 = new(HeadingBlock)
		return b.Heading3
	case BlockBulletedListItem:
		b.BulletedListItem = new(TextBlock)
		return b.BulletedListItem
	case BlockNumberedListItem:
		b.NumberedListItem = new(TextBlock)
		return b.NumberedListItem
	case BlockToDo:
		b.ToDo = new(ToDoBlock)
		return b.ToDo
	case BlockQuote:
		b.Quote = new(TextBlock)
		return b.Quote
	case BlockCode:
		b.Code = new(CodeBlock)
		return b.Code
	case BlockDivider:
		b.Divider = new(DividerBlock)
		return b.Divider
	case BlockImage:
		b.Image = new(ImageBlock)
		return b.Image
	case BlockTable:
		b.Table = new(TableBlock)
		return b.Table
	case BlockTableRow:
		b.TableRow = new(TableRowBlock)
		return b.TableRow
	}
	return nil
}

// PayloadJSON is the request form of the block's payload, without
// children: what PATCH /v1/blocks/{id} takes under the type's key.
func (b Block) PayloadJSON() (json.RawMessage, error) {
	if p := b.payload(); p != nil {
		if isNilPointer(p) {
			return nil, fmt.Errorf("notion: %s block without its %s payload", b.Type, b.Type)
		}
		return json.Marshal(p)
	}
	if b.raw != nil {
		return b.raw, nil
	}
	return nil, fmt.Errorf("notion: block of type %q has no payload", b.Type)
}

func isNilPointer(p any) bool {
	switch v := p.(type) {
	case *TextBlock:
		return v == nil
	case *HeadingBlock:
		return v == nil
	case *ToDoBlock:
		return v == nil
	case *CodeBlock:
		return v == nil
	case *DividerBlock:
		return v == nil
	case *ImageBlock:
		return v == nil
	case *TableBlock:
		return v == nil
	case *TableRowBlock:
		return v == nil
	}
	return false
}

// MarshalJSON writes the request form: object, type and the payload, with
// Children inside the payload as Notion expects. Read-only fields (id,
// parent, times, has_children) are not sent.
func (b Block) MarshalJSON() ([]byte, error) {
	payload, err := b.PayloadJSON()
	if err != nil {
		return nil, err
	}
	if len(b.Children) > 0 {
		kids, err := json.Marshal(b.Children)
		if err != nil {
			return nil, err
		}
		payload = withChildren(payload, kids)
	}
	typ, _ := json.Marshal(b.Type)
	var out bytes.Buffer
	out.Grow(len(payload) + 2*len(typ) + 32)
	out.WriteString(`{"object":"block","type":`)
	out.Write(typ)
	out.WriteByte(',')
	out.Write(typ)
	out.WriteByte(':')
	out.Write(payload)
	out.WriteByte('}')
	return out.Bytes(), nil
}

// withChildren adds "children" to a JSON object.
func withChildren(obj, kids []byte) []byte {
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return obj
	}
	out := make([]byte, 0, len(obj)+len(kids)+14)
	out = append(out, obj[:len(obj)-1]...)
	if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"children":`...)
	out = append(out, kids...)
	return append(out, '}')
}

// UnmarshalJSON reads the response form (and the request form, children
// included).
func (b *Block) UnmarshalJSON(data []byte) error {
	type common struct {
		Object         string    `json:"object"`
		ID             string    `json:"id"`
		Parent         *Parent   `json:"parent"`
		Type           string    `json:"type"`
		CreatedTime    time.Time `json:"created_time"`
		LastEditedTime time.Time `json:"last_edited_time"`
		HasChildren    bool      `json:"has_children"`
		InTrash        bool      `json:"in_trash"`
		Archived       bool      `json:"archived"`
	}
	var c common
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	*b = Block{Object: c.Object, ID: c.ID, Parent: c.Parent, Type: c.Type, CreatedTime: c.CreatedTime,
		LastEditedTime: c.LastEditedTime, HasChildren: c.HasChildren, InTrash: c.InTrash, Archived: c.Archived}
	raw, ok := fields[c.Type]
	if !ok || c.Type == "" {
		return nil
	}
	if p := b.setPayload(c.Type); p != nil {
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("notion: %s block: %w", c.Type, err)
		}
	} else {
		b.raw = append(json.RawMessage(nil), raw...)
	}
	var kids struct {
		Children []Block `json:"children"`
	}
	if bytes.Contains(raw, []byte(`"children"`)) {
		if err := json.Unmarshal(raw, &kids); err == nil {
			b.Children = kids.Children
		}
	}
	return nil
}

// BlockList is one page of a block's children, or the blocks an append
// created.
type BlockList struct {
	Results    []Block `json:"results"`
	NextCursor string  `json:"next_cursor,omitempty"`
	HasMore    bool    `json:"has_more"`
	RequestID  string  `json:"request_id,omitempty"`
}

// CodeLanguages are the language names a code block accepts.
var CodeLanguages = []string{
	"abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf", "c", "c#", "c++",
	"clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker", "ebnf", "elixir", "elm",
	"erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go", "graphql", "groovy", "haskell", "hcl",
	"html", "idris", "java", "javascript", "json", "julia", "kotlin", "latex", "less", "lisp",
	"livescript", "llvm ir", "lua", "makefile", "markdown", "markup", "matlab", "mathematica", "mermaid",
	"nix", "notion formula", "objective-c", "ocaml", "pascal", "perl", "php", "plain text", "powershell",
	"prolog", "protobuf", "purescript", "python", "r", "racket", "reason", "ruby", "rust", "sass",
	"scala", "scheme", "scss", "shell", "smalltalk", "solidity", "sql", "swift", "toml", "typescript",
	"vb.net", "verilog", "vhdl", "visual basic", "webassembly", "xml", "yaml", "java/c/c++/c#",
}
