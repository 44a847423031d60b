package notion

import (
	"unicode/utf16"
	"unicode/utf8"
)

// MaxTextLen is how long one rich-text item's content (and a link's URL)
// may be, in Notion's characters (TextLen).
const MaxTextLen = 2000

// TextLen counts characters as Notion does (JavaScript string length):
// UTF-16 code units, so an emoji outside the BMP counts two. Counting
// runes would let an emoji-heavy item past a check and into a 400.
func TextLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// SplitText cuts s into pieces of at most limit characters (TextLen),
// never inside a character; "" gives no piece.
func SplitText(s string, limit int) []string {
	var out []string
	for s != "" {
		cut := prefixEnd(s, limit)
		if cut == 0 { // limit < 2 and a character that counts two
			_, cut = utf8.DecodeRuneInString(s)
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// prefixEnd is where the longest prefix of s of at most limit characters
// ends.
func prefixEnd(s string, limit int) int {
	n := 0
	for i, r := range s {
		if n+utf16.RuneLen(r) > limit {
			return i
		}
		n += utf16.RuneLen(r)
	}
	return len(s)
}
