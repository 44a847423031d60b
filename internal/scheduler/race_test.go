//go:build race

package scheduler

// raceEnabled: the race detector slows Redis round trips' Go side about
// tenfold, so the storm test uses fewer syncs.
const raceEnabled = true
