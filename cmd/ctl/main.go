// Command ctl is the operator's CLI for synq: sync status (live), trigger
// and preview, state, pause and resume, runs and their logs, over the
// scheduler's control API.
//
// Exit codes: 0 ok, 1 the operation failed, 2 bad usage.
package main

import (
	"context"
	"io"
	"os"

	"github.com/synqhq/synq/internal/cli"
)

func main() { cli.Main(newRoot(os.Stdout, os.Stderr)) }

// run runs ctl with args, as main does, and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, newRoot(stdout, stderr), args, stderr)
}
