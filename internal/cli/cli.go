// Package cli holds what synq's commands share: running a cobra root as
// the process (signals, one-line errors, exit codes), environment defaults
// for flags, the --log-level logger, and the health-check subcommand that
// container images (which have no curl) use.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/logging"
)

// UsageError marks a bad flag or argument: the command exits 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, a ...any) error { return UsageError{Err: fmt.Errorf(format, a...)} }

// cobraUsage are the prefixes of cobra's own flag, argument and command
// errors.
var cobraUsage = []string{"unknown flag", "unknown shorthand", "invalid argument", "flag needs", "unknown command", "accepts ", "requires "}

// IsUsage reports whether err is a usage mistake: a UsageError or one of
// cobra's flag and argument errors.
func IsUsage(err error) bool {
	var ue UsageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, p := range cobraUsage {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// ExitCode is 0 for nil, 2 for usage mistakes and 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case IsUsage(err):
		return 2
	}
	return 1
}

// Execute runs root with args and reports its error the way every synq
// command does: one line "<name>: <error>" on stderr (cobra's own error
// and usage printing is turned off), a pointer to --help after a usage
// mistake, and the exit code (ExitCode).
func Execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	code := ExitCode(err)
	if code == 2 {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", root.Name())
	}
	return code
}

// Main runs root as the process: SIGINT and SIGTERM cancel the command's
// context, and the process exits with Execute's code.
func Main(root *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Execute(ctx, root, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// EnvOr returns the environment variable k, or def when it is empty.
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Logger returns a logger on stderr at level (a --log-level value) in the
// format SYNQ_LOG_FORMAT asks for, and makes it the process's default
// (logging.Install). A bad value is a UsageError that names its flag or
// variable.
func Logger(level string) (*slog.Logger, error) {
	l, err := logging.ParseLevel(level)
	if err != nil {
		return nil, UsageError{Err: fmt.Errorf("--log-level: %w", err)}
	}
	format, err := logging.ParseFormat(os.Getenv(logging.FormatVar), os.Stderr)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	log := logging.New(os.Stderr, l, format)
	logging.Install(log)
	return log, nil
}

// Healthcheck is a `healthcheck --url` subcommand: exit 0 when the URL
// answers 200.
func Healthcheck(what, defaultURL string) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the " + what + " at --url answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := http.Client{Timeout: timeout}
			resp, err := c.Get(url)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", url, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", defaultURL, "health URL")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after")
	return cmd
}
