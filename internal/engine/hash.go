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
// icon, cover and page body. encoding/json sorts map keys, so equal
// content always hashes equal; an upsert whose hash matches the index
// costs no Notion call.
//
// body is the body's hash (pagecontent.BodyHash), or "" for a row synq
// never wrote a body to: a row without one hashes as it did before page
// bodies existed. An upsert with Content hashes its new body. One without
// Content leaves the body alone, so it hashes the body synq last wrote
// (the body record beside the index entry, see row.hashOn): a row whose
// properties did not change costs nothing whether or not its upsert
// carries the body. The body hash also lets a write tell what changed
// (the stored hash is contentHash of the stored body): a changed body
// with unchanged properties costs no page update, only its blocks.
func contentHash(props builder.Properties, icon, cover, body string) string {
	b, err := json.Marshal(struct {
		P builder.Properties `json:"p"`
		I string             `json:"i,omitempty"`
		C string             `json:"c,omitempty"`
		B string             `json:"b,omitempty"`
	}{props, icon, cover, body})
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
