package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"iter"
	"maps"
	"slices"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/rdb"
)

// contentHash identifies what a row's write would contain. encoding/json
// sorts map keys, so equal content always hashes equal; an upsert whose
// hash matches the index costs no Notion call.
func contentHash(props builder.Properties, icon string) string {
	b, err := json.Marshal(struct {
		P builder.Properties `json:"p"`
		I string             `json:"i,omitempty"`
	}{props, icon})
	if err != nil {
		// Values are plain data validated before hashing; an encoding
		// failure would be a bug, and an empty hash only forces a write.
		return ""
	}
	sum := sha256.Sum256(b)
	// rdb stores hashes of this length compactly (8 bytes a row).
	return hex.EncodeToString(sum[:rdb.HashBytes])
}

func sortedKeys[V any](m map[string]V) iter.Seq[string] {
	return slices.Values(slices.Sorted(maps.Keys(m)))
}
