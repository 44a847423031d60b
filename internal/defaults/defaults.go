// Package defaults fills a config's unset fields with their named
// defaults (River's valutil, in synq's words): each config's withDefaults
// is then one line a field.
package defaults

// Positive returns v when it is above zero, and def otherwise: for counts
// and durations, where zero means "unset" and a negative value means
// nothing else.
func Positive[T ~int | ~int64 | ~float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
