package main

import (
	"strings"
	"testing"
)

// --run-retention wins over SYNQ_RUN_RETENTION; a bad value of either is
// refused with what to give instead, never silently replaced.
func TestRunRetention(t *testing.T) {
	t.Setenv("SYNQ_RUN_RETENTION", "")
	if n, err := runRetention(0); err != nil || n != 0 {
		t.Fatalf("nothing set: %d, %v; want 0 (the default)", n, err)
	}
	t.Setenv("SYNQ_RUN_RETENTION", "20")
	if n, err := runRetention(0); err != nil || n != 20 {
		t.Fatalf("SYNQ_RUN_RETENTION=20: %d, %v", n, err)
	}
	if n, err := runRetention(7); err != nil || n != 7 {
		t.Fatalf("--run-retention 7 with SYNQ_RUN_RETENTION=20: %d, %v", n, err)
	}
	for _, bad := range []string{"0", "-3", "many"} {
		t.Setenv("SYNQ_RUN_RETENTION", bad)
		if _, err := runRetention(0); err == nil || !strings.Contains(err.Error(), "a whole number ≥ 1") {
			t.Errorf("SYNQ_RUN_RETENTION=%s: %v", bad, err)
		}
	}
	if _, err := runRetention(-1); err == nil || !strings.Contains(err.Error(), "--run-retention -1") {
		t.Errorf("--run-retention -1: %v", err)
	}
}
