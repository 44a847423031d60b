package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// defaultWidth is the preview's line width when neither COLUMNS nor the
// terminal says.
const defaultWidth = 100

// previewKinds are the change kinds in the order a preview lists them (as
// the console does), with the word its counts use.
var previewKinds = []struct {
	kind synqv1.ChangeKind
	word string
	mark string
}{
	{synqv1.ChangeKind_CHANGE_KIND_CREATE, "created", "+"},
	{synqv1.ChangeKind_CHANGE_KIND_UPDATE, "updated", "~"},
	{synqv1.ChangeKind_CHANGE_KIND_UNCHANGED, "unchanged", "="},
	{synqv1.ChangeKind_CHANGE_KIND_TRASH, "trashed", "-"},
	{synqv1.ChangeKind_CHANGE_KIND_STALE, "skipped", "!"},
	{synqv1.ChangeKind_CHANGE_KIND_INVALID, "invalid", "x"},
}

// propChange is one property of an updated row whose value changes.
type propChange struct {
	Property string `json:"property"`
	Old      string `json:"old"`
	New      string `json:"new"`
}

// changedProps lists an updated row's properties whose value changes
// (old ≠ new), sorted by name, as ops.PreviewChange.Changed does for the
// console; nil when the old values were not read.
func changedProps(c *synqv1.PreviewChange) []propChange {
	if c.Kind != synqv1.ChangeKind_CHANGE_KIND_UPDATE || c.OldPropertiesJson == "" {
		return nil
	}
	var props, old map[string]string
	_ = json.Unmarshal([]byte(c.PropertiesJson), &props)
	_ = json.Unmarshal([]byte(c.OldPropertiesJson), &old)
	out := []propChange{}
	for name, v := range props {
		if o := old[name]; o != v {
			out = append(out, propChange{name, o, v})
		}
	}
	slices.SortFunc(out, func(a, b propChange) int { return strings.Compare(a.Property, b.Property) })
	return out
}

// previewCounts counts the rows of each kind, in previewKinds' order.
func previewCounts(p *synqv1.Preview) object {
	n := map[synqv1.ChangeKind]int{}
	for _, c := range p.GetChanges() {
		n[c.Kind]++
	}
	out := object{}
	for _, k := range previewKinds {
		out = append(out, member{k.word, n[k.kind]})
	}
	return out
}

// printPreview prints what a run of one page would change: the counts
// first ("8 created · 42 updated · 44 unchanged · 2 trashed"), then each
// row that changes, an updated one with its changing properties as
// old → new, each line trimmed to the terminal's width.
func (a *app) printPreview(p *synqv1.Preview) error {
	if a.output == "json" {
		return a.json(previewJSON(p))
	}
	w := termWidth(a.stdout)
	counts := previewCounts(p)
	var parts []string
	for i, m := range counts {
		// created, updated, unchanged and trashed always; the rest when any.
		if i < 4 || m.v.(int) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m.v, m.k))
		}
	}
	fmt.Fprintln(a.stdout, strings.Join(parts, " · "))
	listed := false
	for _, k := range previewKinds {
		if k.kind == synqv1.ChangeKind_CHANGE_KIND_UNCHANGED {
			continue // counted, not listed: nothing would happen to them
		}
		for _, c := range p.GetChanges() {
			if c.Kind == k.kind {
				if !listed {
					fmt.Fprintln(a.stdout) // the rows apart from the counts
					listed = true
				}
				a.printPreviewRow(c, k.mark, k.word, w)
			}
		}
	}
	fmt.Fprintf(a.stdout, "\nhas_more: %v\nnext_state: %s\n(preview: nothing was written)\n", p.HasMore, trim(flat(p.NextStateJson), w-len("next_state: ")))
	return nil
}

func (a *app) printPreviewRow(c *synqv1.PreviewChange, mark, word string, w int) {
	head := fmt.Sprintf("%s %s %s  (%s)", mark, word, flat(c.Key), flat(c.Database))
	switch {
	case c.Message != "":
		fmt.Fprintln(a.stdout, trim(head+": "+flat(c.Message), w))
		return
	case c.Kind == synqv1.ChangeKind_CHANGE_KIND_UPDATE && c.OldPropertiesJson != "":
		ch := changedProps(c)
		if len(ch) == 0 {
			fmt.Fprintln(a.stdout, trim(head+": no property changes", w))
			return
		}
		fmt.Fprintln(a.stdout, trim(head, w))
		for _, pc := range ch {
			fmt.Fprintln(a.stdout, oldNew("    "+flat(pc.Property)+": ", flat(pc.Old), flat(pc.New), w))
		}
		return
	case c.OldError != "":
		head += " (old values not read: " + flat(c.OldError) + ")"
	}
	// Created, or updated without old values: the new values on one line.
	var props map[string]string
	_ = json.Unmarshal([]byte(c.PropertiesJson), &props)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintln(a.stdout, trim(head, w))
	if len(names) > 0 {
		var vals []string
		for _, n := range names {
			vals = append(vals, flat(n)+": "+flat(props[n]))
		}
		fmt.Fprintln(a.stdout, trim("    "+strings.Join(vals, " · "), w))
	}
}

// oldNew renders "prefix old → new" in w columns, trimming old and new
// each to a fair share so both stay visible.
func oldNew(prefix, old, new string, w int) string {
	const arrow = " → "
	if old == "" {
		old = "(empty)"
	}
	if new == "" {
		new = "(empty)"
	}
	avail := w - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(arrow)
	lo, ln := utf8.RuneCountInString(old), utf8.RuneCountInString(new)
	if lo+ln > avail {
		half := max(avail/2, 8)
		switch {
		case lo <= half:
			new = trim(new, max(avail-lo, 8))
		case ln <= half:
			old = trim(old, max(avail-ln, 8))
		default:
			old, new = trim(old, half), trim(new, max(avail-half, 8))
		}
	}
	return prefix + old + arrow + new
}

// flat is upstream text on one line, its control characters escaped.
func flat(s string) string {
	return safe(strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(s))
}

// trim cuts s to w runes, ending it with "…" when cut.
func trim(s string, w int) string {
	if w < 1 {
		w = 1
	}
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

// termWidth is COLUMNS, else the terminal's width, else defaultWidth.
func termWidth(out io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := out.(interface{ Fd() uintptr }); ok && isTerminal(out) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return defaultWidth
}

// previewJSON is the preview as scripts read it: the counts, then the
// Preview message as jsonOf renders it, each change with "changed" (an
// updated row's changing properties, old and new; null when not an
// update or the old values were not read).
func previewJSON(p *synqv1.Preview) object {
	out := object{{"counts", previewCounts(p)}}
	body, _ := jsonOf(p).(object)
	for _, m := range body {
		if m.k == "changes" {
			rows, _ := m.v.([]any)
			for i, r := range rows {
				o, _ := r.(object)
				var ch any
				if c := changedProps(p.Changes[i]); c != nil {
					ch = c
				}
				rows[i] = append(o, member{"changed", ch})
			}
		}
		out = append(out, m)
	}
	return out
}
