package pacer

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// NotionDefaultPerMinute is Notion's documented average: 3 requests per
// second per integration.
const NotionDefaultPerMinute = 180

// NotionLimit is the pacer limit for Notion's API at perMinute requests per
// minute per integration token (SYNQ_NOTION_RATE_LIMIT). ok is false when
// perMinute is 0 or less: no pacing. The burst is one second's worth
// (3 at the default): Notion tolerates short bursts over its average, and
// a burst keeps a consumer that wakes up late from losing its turn.
func NotionLimit(perMinute int) (lim Limit, ok bool) {
	if perMinute <= 0 {
		return Limit{}, false
	}
	return Limit{Requests: perMinute, Interval: time.Minute, Burst: max(1, perMinute/60)}, true
}

// NotionPacerName is the name of the pacer shared by every process that
// calls Notion with token: one budget per integration, as Notion counts.
// It is derived from a hash of the token, so the token itself never
// reaches Redis keys, logs or the operator's views.
func NotionPacerName(token string) string {
	sum := sha256.Sum256([]byte("synq notion pacer\x00" + token))
	return "notion:" + hex.EncodeToString(sum[:8])
}
