package cli

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil:                                0,
		errors.New("redis down"):           1,
		UsageError{Err: errors.New("bad")}: 2,
		fmt.Errorf("wrapped: %w", UsageError{Err: errors.New("bad")}): 2,
		errors.New("unknown flag: --bogus"):                           2,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
