package notion_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/notion"
)

func TestTextLenCountsUTF16Units(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é": 1, "日本": 2, "😀": 2, "a😀b": 4} {
		if got := notion.TextLen(s); got != want {
			t.Errorf("TextLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestSplitTextNeverCutsACharacter(t *testing.T) {
	emoji := strings.Repeat("😀", 1500) // 3,000 units
	got := notion.SplitText(emoji, notion.MaxTextLen)
	if len(got) != 2 || notion.TextLen(got[0]) != 2000 || notion.TextLen(got[1]) != 1000 || strings.Join(got, "") != emoji {
		t.Fatalf("split of 1,500 emoji: %d pieces of %v units", len(got), lens(got))
	}
	// An odd limit cannot be filled with two-unit characters.
	if got := notion.SplitText("😀😀😀", 3); !slices.Equal(got, []string{"😀", "😀", "😀"}) {
		t.Fatalf("SplitText with limit 3 = %q", got)
	}
	if got := notion.SplitText("a😀", 1); !slices.Equal(got, []string{"a", "😀"}) {
		t.Fatalf("SplitText with limit 1 = %q", got)
	}
	if got := notion.SplitText("", 10); got != nil {
		t.Fatalf("SplitText of \"\" = %q, want no piece", got)
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, notion.TextLen(s))
	}
	return out
}
