package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/rdb"
)

// Content hashes end with a mark of what the row set besides its
// properties, so that a later write without an icon or cover knows there
// is one to clear in Notion (one the sync never set is left alone).
const (
	markIcon  = "i"
	markCover = "c"
	markSep   = "+"
)

// contentHash identifies what a row's write would contain: properties,
// icon and cover. encoding/json sorts map keys, so equal content always
// hashes equal; an upsert whose hash matches the index costs no Notion
// call.
func contentHash(props builder.Properties, icon, cover string) string {
	b, err := json.Marshal(struct {
		P builder.Properties `json:"p"`
		I string             `json:"i,omitempty"`
		C string             `json:"c,omitempty"`
	}{props, icon, cover})
	if err != nil {
		// Values are plain data validated before hashing; an encoding
		// failure would be a bug, and an empty hash only forces a write.
		return ""
	}
	sum := sha256.Sum256(b)
	// rdb stores hashes of this length compactly (8 bytes a row), the
	// icon and cover marks as flags.
	h := hex.EncodeToString(sum[:rdb.HashBytes])
	if icon != "" || cover != "" {
		h += markSep
		if icon != "" {
			h += markIcon
		}
		if cover != "" {
			h += markCover
		}
	}
	return h
}

// hashSetIcon and hashSetCover say whether the content hash h was written
// with an icon or a cover.
func hashSetIcon(h string) bool  { return hashMarks(h, markIcon) }
func hashSetCover(h string) bool { return hashMarks(h, markCover) }

func hashMarks(h, mark string) bool {
	_, marks, ok := strings.Cut(h, markSep)
	return ok && strings.Contains(marks, mark)
}

func sortedKeys[V any](m map[string]V) iter.Seq[string] {
	return slices.Values(slices.Sorted(maps.Keys(m)))
}
