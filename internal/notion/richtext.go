package notion

import (
	"encoding/json"
	"strings"
)

// RichText is one rich-text item. Requests carry type "text" with
// Text and optional Annotations; responses add PlainText and Href. Items of
// other types (mention, equation) read from Notion are written back as
// they were received.
type RichText struct {
	Type        string       `json:"type"`
	Text        *TextContent `json:"text,omitempty"`
	Annotations *Annotations `json:"annotations,omitempty"`
	PlainText   string       `json:"plain_text,omitempty"`
	Href        string       `json:"href,omitempty"`

	raw json.RawMessage // the whole item, for types other than "text"
}

// TextContent is the text of a rich-text item.
type TextContent struct {
	Content string `json:"content"`
	Link    *Link  `json:"link"`
}

// Link is the target of a linked text.
type Link struct {
	URL string `json:"url"`
}

// Annotations style a rich-text item.
type Annotations struct {
	Bold          bool   `json:"bold"`
	Italic        bool   `json:"italic"`
	Strikethrough bool   `json:"strikethrough"`
	Underline     bool   `json:"underline"`
	Code          bool   `json:"code"`
	Color         string `json:"color"`
}

// Text returns a plain text item.
func Text(content string) RichText {
	return RichText{Type: "text", Text: &TextContent{Content: content}}
}

// LinkText returns a text item linking to url ("" means no link).
func LinkText(content, url string) RichText {
	rt := Text(content)
	if url != "" {
		rt.Text.Link = &Link{URL: url}
	}
	return rt
}

// Content is the text of the item: its content for text items, its
// plain_text otherwise.
func (r RichText) Content() string {
	if r.Text != nil {
		return r.Text.Content
	}
	return r.PlainText
}

// PlainText joins the text of items.
func PlainText(items []RichText) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.Content())
	}
	return b.String()
}

// MarshalJSON writes the request form: type, text and annotations only,
// since plain_text and href are derived by Notion.
func (r RichText) MarshalJSON() ([]byte, error) {
	if r.raw != nil && r.Type != "text" {
		return r.raw, nil
	}
	type text struct {
		Type        string       `json:"type"`
		Text        TextContent  `json:"text"`
		Annotations *Annotations `json:"annotations,omitempty"`
	}
	t := text{Type: "text", Annotations: r.Annotations}
	if r.Text != nil {
		t.Text = *r.Text
	} else {
		t.Text.Content = r.PlainText
	}
	return json.Marshal(t)
}

// UnmarshalJSON reads the response (or request) form.
func (r *RichText) UnmarshalJSON(b []byte) error {
	type plain RichText
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = RichText(p)
	if r.Type == "" && r.Text != nil {
		r.Type = "text"
	}
	if r.Type != "text" {
		r.raw = append(json.RawMessage(nil), b...)
	}
	return nil
}
