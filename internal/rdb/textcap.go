package rdb

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// Size caps of what a run stores. An error or a log line comes from user
// code or from an upstream's answer and can be any size; the run record
// and its log are read by every status page, so each is cut to a size a
// person reads, saying how much was cut.
const (
	// MaxErrorBytes caps a run's error, its last page error and a failed
	// page's error.
	MaxErrorBytes = 4 << 10
	// MaxLogMessageBytes caps a log line's message.
	MaxLogMessageBytes = 4 << 10
	// MaxLogAttrBytes caps each attribute of a log line (its JSON).
	MaxLogAttrBytes = 1 << 10
	// MaxLogLineBytes caps a log line's attributes together (their JSON):
	// attributes past it are dropped, in key order, and counted.
	MaxLogLineBytes = 8 << 10
)

// LogCutAttr is the attribute that says what was dropped from a log line
// whose attributes went over MaxLogLineBytes.
const LogCutAttr = "synq_cut"

// CapText returns s cut to at most n bytes (at a character boundary),
// ending with a note of how many bytes were cut; s itself when it fits.
func CapText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Room for the note with the largest numbers it can hold.
	keep := max(n-len(cutNote(len(s), len(s))), 0)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + cutNote(len(s)-keep, len(s))
}

func cutNote(cut, of int) string { return fmt.Sprintf(" … [%d of %d bytes cut]", cut, of) }

// capped returns l within the log caps: the message cut to
// MaxLogMessageBytes, each attribute whose JSON is over MaxLogAttrBytes
// replaced by its cut JSON text, and attributes past MaxLogLineBytes in
// all dropped and counted under LogCutAttr.
func (l LogLine) capped() LogLine {
	l.Message = CapText(l.Message, MaxLogMessageBytes)
	if len(l.Attrs) == 0 {
		return l
	}
	out := make(map[string]any, len(l.Attrs))
	total, dropped, droppedBytes := 0, 0, 0
	for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
		v := l.Attrs[k]
		b, err := json.Marshal(v)
		if err != nil {
			v, b = fmt.Sprint(v), nil
			b, _ = json.Marshal(v)
		}
		if len(b) > MaxLogAttrBytes {
			s, ok := v.(string)
			if !ok {
				s = string(b)
			}
			v = CapText(s, MaxLogAttrBytes)
			b, _ = json.Marshal(v)
		}
		if total+len(k)+len(b) > MaxLogLineBytes {
			dropped++
			droppedBytes += len(k) + len(b)
			continue
		}
		total += len(k) + len(b)
		out[k] = v
	}
	if dropped > 0 {
		out[LogCutAttr] = fmt.Sprintf("%d attributes (%d bytes) cut: a log line keeps %d bytes of attributes", dropped, droppedBytes, MaxLogLineBytes)
	}
	l.Attrs = out
	return l
}

// logLineJSON is LogLine without its MarshalJSON.
type logLineJSON LogLine

// MarshalJSON encodes the line within the log caps (see MaxLogLineBytes):
// every line a run stores goes through it.
func (l LogLine) MarshalJSON() ([]byte, error) {
	return json.Marshal(logLineJSON(l.capped()))
}
