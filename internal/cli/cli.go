// Package cli holds what synq's commands share: environment defaults for
// flags, usage-error exit codes and the health-check subcommand that
// container images (which have no curl) use.
package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// UsageError marks a bad flag or argument: the command exits 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// IsUsage reports whether err is a usage mistake: a UsageError or one of
// cobra's flag and argument errors.
func IsUsage(err error) bool {
	var ue UsageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "invalid argument", "flag needs", "unknown command", "accepts "} {
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

// EnvOr returns the environment variable k, or def when it is empty.
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
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
