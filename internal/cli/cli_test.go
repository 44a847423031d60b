package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"
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

// Execute prints one line per error, points at --help after a usage
// mistake, and returns the exit code.
func TestExecute(t *testing.T) {
	newRoot := func(err error) *cobra.Command {
		root := &cobra.Command{Use: "tool", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return err }}
		root.Flags().Bool("quiet", false, "")
		return root
	}
	for _, tc := range []struct {
		name   string
		err    error
		args   []string
		code   int
		stderr string
	}{
		{"ok", nil, nil, 0, ""},
		{"failure", errors.New("redis down"), nil, 1, "tool: redis down\n"},
		{"usage", Usagef("--tick %d: too short", 0), nil, 2, "tool: --tick 0: too short\nRun 'tool --help' for usage.\n"},
		{"unknown flag", nil, []string{"--bogus"}, 2, "tool: unknown flag: --bogus\nRun 'tool --help' for usage.\n"},
		{"extra argument", nil, []string{"x"}, 2, "tool: unknown command \"x\" for \"tool\"\nRun 'tool --help' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Execute(context.Background(), newRoot(tc.err), tc.args, &stderr)
			if code != tc.code || stderr.String() != tc.stderr {
				t.Fatalf("Execute = %d, stderr %q; want %d, %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
