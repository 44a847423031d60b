package emulator

import (
	"net/url"
	"strings"
	"unicode/utf16"
)

// Notion's request limits (developers.notion.com/reference/request-limits).
const (
	maxTextLen    = 2000 // characters of one rich-text item's content, as UTF-16 code units
	maxURLLen     = 2000
	maxEmailLen   = 200
	maxPhoneLen   = 200
	maxArrayItems = 100
	maxBodyBytes  = 500 * 1000
	maxOptionName = 100
)

// textLen counts characters as Notion (JavaScript) does: UTF-16 code
// units, so an emoji outside the BMP counts two.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }

func defaultAnnotations() map[string]any {
	return map[string]any{"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}
}

// richText converts request rich text to its response form, checking
// Notion's limits. path names the field in error messages.
func richText(v any, path string) ([]any, *apiError) {
	items, ok := v.([]any)
	if !ok {
		if v == nil {
			return []any{}, nil
		}
		return nil, validationf("body failed validation: %s should be an array, instead was `%s`.", path, jsonShort(v))
	}
	if len(items) > maxArrayItems {
		return nil, validationf("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, maxArrayItems, len(items))
	}
	out := make([]any, 0, len(items))
	for i, it := range items {
		ip := path + "[" + itoa(i) + "]"
		m, ok := it.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object, instead was `%s`.", ip, jsonShort(it))
		}
		typ, _ := m["type"].(string)
		if typ == "" {
			for _, k := range []string{"text", "mention", "equation"} {
				if _, ok := m[k]; ok {
					typ = k
				}
			}
		}
		ann := defaultAnnotations()
		if a, ok := m["annotations"].(map[string]any); ok {
			for k, v := range a {
				if _, known := ann[k]; !known {
					return nil, validationf("body failed validation: %s.annotations.%s should be not present.", ip, k)
				}
				if k == "color" {
					c, ok := v.(string)
					if !ok {
						return nil, validationf("body failed validation: %s.annotations.color should be a string.", ip)
					}
					ann[k] = c
					continue
				}
				b, ok := v.(bool)
				if !ok {
					return nil, validationf("body failed validation: %s.annotations.%s should be a boolean.", ip, k)
				}
				ann[k] = b
			}
		}
		switch typ {
		case "text":
			t, ok := m["text"].(map[string]any)
			if !ok {
				return nil, validationf("body failed validation: %s.text should be defined, instead was `undefined`.", ip)
			}
			content, ok := t["content"].(string)
			if !ok {
				return nil, validationf("body failed validation: %s.text.content should be a string, instead was `%s`.", ip, jsonShort(t["content"]))
			}
			if n := textLen(content); n > maxTextLen {
				return nil, validationf("body failed validation: %s.text.content.length should be ≤ `%d`, instead was `%d`.", ip, maxTextLen, n)
			}
			var link, href any
			if l, ok := t["link"].(map[string]any); ok {
				u, _ := l["url"].(string)
				if u == "" || !validURL(u) {
					return nil, validationf("body failed validation: %s.text.link.url should be a valid URL, instead was `%s`.", ip, jsonShort(l["url"]))
				}
				if textLen(u) > maxURLLen {
					return nil, validationf("body failed validation: %s.text.link.url.length should be ≤ `%d`.", ip, maxURLLen)
				}
				link, href = map[string]any{"url": u}, u
			} else if t["link"] != nil {
				return nil, validationf("body failed validation: %s.text.link should be an object or `null`.", ip)
			}
			out = append(out, map[string]any{
				"type": "text", "text": map[string]any{"content": content, "link": link},
				"annotations": ann, "plain_text": content, "href": href,
			})
		case "equation":
			e, _ := m["equation"].(map[string]any)
			expr, ok := e["expression"].(string)
			if !ok {
				return nil, validationf("body failed validation: %s.equation.expression should be a string.", ip)
			}
			out = append(out, map[string]any{"type": "equation", "equation": map[string]any{"expression": expr},
				"annotations": ann, "plain_text": expr, "href": nil})
		case "mention":
			mm, ok := m["mention"].(map[string]any)
			if !ok {
				return nil, validationf("body failed validation: %s.mention should be an object.", ip)
			}
			plain, _ := m["plain_text"].(string)
			out = append(out, map[string]any{"type": "mention", "mention": mm, "annotations": ann, "plain_text": plain, "href": nil})
		default:
			return nil, validationf("body failed validation: %s.type should be `text`, `mention` or `equation`, instead was `%s`.", ip, typ)
		}
	}
	return out, nil
}

// plainText joins the plain_text of response-form rich text.
func plainText(v any) string {
	items, _ := v.([]any)
	var b strings.Builder
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			s, _ := m["plain_text"].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}
