package rdb

import "time"

// SetTombstoneTTL shortens how long tombstones are kept, for a test.
func SetTombstoneTTL(d time.Duration) (restore func()) {
	old := tombstoneTTL
	tombstoneTTL = d
	return func() { tombstoneTTL = old }
}
