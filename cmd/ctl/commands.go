package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/synqhq/synq/internal/cli"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// previewTimeout bounds a preview, which runs Execute on an executor.
const previewTimeout = 10 * time.Minute

// unary makes a command's one request: it connects, calls rpc within
// --timeout and turns a failure into one line that says what to do. rpc is
// a method of the client, e.g. synqv1.ControlServiceClient.PauseSync.
func unary[Req, Resp any](a *app, cmd *cobra.Command, rpc func(synqv1.ControlServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	var zero Resp
	c, err := a.connect()
	if err != nil {
		return zero, err
	}
	ctx, cancel := a.call(cmd.Context())
	defer cancel()
	r, err := rpc(c, ctx, req)
	if err != nil {
		return zero, a.rpcErr(err)
	}
	return r, nil
}

// oneArgCmd is a command of one argument (a sync key, a run id) that runs
// do with it.
func oneArgCmd(use, short, argName, example string, do func(cmd *cobra.Command, arg string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  oneArg(argName, example),
		RunE:  func(cmd *cobra.Command, args []string) error { return do(cmd, args[0]) },
	}
}

// optionalArg makes more than one argument a usage error that names it.
func optionalArg(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 1 {
			return cli.Usagef("%s takes at most one %s", cmd.CommandPath(), name)
		}
		return nil
	}
}

// oneArg makes a missing or extra argument a usage error that names it.
func oneArg(name, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return cli.Usagef("%s takes exactly one %s: %s", cmd.CommandPath(), name, example)
		}
		return nil
	}
}

func (a *app) statusCmd() *cobra.Command {
	var noWatch bool
	var interval time.Duration
	var healths []string
	var worker string
	var limit int
	cmd := &cobra.Command{
		Use:   "status [KEY | KEY-GLOB]",
		Short: "Show syncs: health, schedule, last and active run (live on a terminal)",
		Long: `Show syncs: health, schedule, last and active run; live on a terminal (--no-watch
prints once), JSON when piped or with -o json (health_reason says why in words).
A summary line comes first: how many syncs, and how many of each health.

With thousands of syncs, narrow the list:
  --health error,warning   only these healths (or undeclared: no live executor declares it)
  --worker NAME            only one worker's syncs
  KEY-GLOB                 keys matching a glob (tickets*, *Backfill, team-?-*); a plain KEY shows that sync
  --limit N                at most N syncs (the summary still counts them all)

Health:
  INITIALIZING  no run has succeeded yet: a new sync, or a manual one nobody triggered
  HEALTHY       its last finished run succeeded
  WARNING       its last 1–2 runs failed (or ended as a warning: the deletion guard held a sweep)
  ERROR         its last 3 or more runs failed
  DISABLED      paused: the schedule starts no run until ctl resume KEY`,
		Example: `  ctl status
  ctl status --health error --worker billing
  ctl status 'tickets*' --no-watch`,
		Args: optionalArg("sync key or key glob"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval < 200*time.Millisecond {
				return cli.Usagef("--interval %v: at least 200ms", interval)
			}
			if limit < 0 {
				return cli.Usagef("--limit %d: give a positive number, or 0 for every sync", limit)
			}
			req := &synqv1.ListSyncsRequest{Worker: worker, PageSize: int32(limit)}
			for _, h := range healths {
				for _, h := range strings.Split(h, ",") {
					h = strings.ToUpper(strings.TrimSpace(h))
					if h == "UNDECLARED" {
						req.Undeclared = true
						continue
					}
					v, ok := synqv1.Health_value["HEALTH_"+h]
					if !ok || h == "UNSPECIFIED" || h == "" {
						return cli.Usagef("--health %q: give error, warning, healthy, initializing, disabled or undeclared", h)
					}
					req.Health = append(req.Health, synqv1.Health(v))
				}
			}
			one := len(args) == 1 && !strings.ContainsAny(args[0], "*?[")
			if len(args) == 1 && !one {
				req.Key = args[0]
			}
			if noWatch || a.output != "table" || !isTerminal(a.stdout) {
				if one {
					r, err := unary(a, cmd, synqv1.ControlServiceClient.GetSync, &synqv1.GetSyncRequest{Key: args[0]})
					if err != nil {
						return err
					}
					return a.printSyncs([]*synqv1.Sync{r.Sync})
				}
				r, err := unary(a, cmd, synqv1.ControlServiceClient.ListSyncs, req)
				if err != nil {
					return err
				}
				return a.printSyncList(r)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			wreq := &synqv1.WatchSyncsRequest{Interval: durationpb.New(interval), Health: req.Health, Worker: req.Worker, Key: req.Key}
			if one {
				wreq.Keys = args
			}
			stream, err := c.WatchSyncs(cmd.Context(), wreq)
			if err != nil {
				return a.rpcErr(err)
			}
			recv := func() (*synqv1.WatchSyncsResponse, error) {
				m, err := stream.Recv()
				if err != nil {
					return nil, a.rpcErr(err)
				}
				return m, nil
			}
			return liveView(cmd.Context(), recv, interval, limit, func(list *synqv1.ListSyncsResponse) error {
				fmt.Fprint(a.stdout, "\x1b[H\x1b[2J")
				fmt.Fprintf(a.stdout, "synq · %s · %s · Ctrl-C to quit\n\n", a.addr, time.Now().Format("15:04:05"))
				return a.printSyncList(list)
			})
		},
	}
	cmd.Flags().BoolVar(&noWatch, "no-watch", false, "print once instead of a live view")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval of the live view")
	cmd.Flags().StringSliceVar(&healths, "health", nil, "only syncs of these healths: error, warning, healthy, initializing, disabled, undeclared (repeat or comma-separate)")
	cmd.Flags().StringVar(&worker, "worker", "", "only the syncs of this worker")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many syncs (0: all)")
	return cmd
}

func (a *app) triggerCmd() *cobra.Command {
	// The flags fill the request; the key comes from the argument.
	req := &synqv1.TriggerSyncRequest{}
	var follow bool
	cmd := oneArgCmd("trigger KEY", "Start a run now (--follow prints its log until it ends), or --preview one page without writing anything",
		"sync key", "ctl trigger ticketsBackfill", func(cmd *cobra.Command, key string) error {
			req.Key = key
			return a.trigger(cmd, req, follow)
		})
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "print the run's log until it ends; exit 1 if it fails")
	f.BoolVar(&req.Preview, "preview", false, "run Execute once and show what would change (the counts, then each changing property old → new, lines cut to $COLUMNS or the terminal), writing nothing")
	f.StringVar(&req.StateJson, "state", "", "state (JSON) to preview from instead of the stored one")
	f.BoolVar(&req.AllowTrash, "allow-trash", false, "lift the deletion guard for this run: its replace cycle may trash more than the sync's MaxTrashFraction of the database")
	return cmd
}

// checkTrigger refuses flags that do not go together.
func checkTrigger(req *synqv1.TriggerSyncRequest, follow bool) error {
	switch {
	case req.StateJson != "" && !req.Preview:
		return cli.Usagef("--state goes with --preview (to change the stored state use `ctl state reset`)")
	case req.AllowTrash && req.Preview:
		return cli.Usagef("--allow-trash goes with a run, not --preview (a preview trashes nothing)")
	case follow && req.Preview:
		return cli.Usagef("--follow goes with a run, not --preview (a preview prints its result at once)")
	case req.StateJson != "" && !json.Valid([]byte(req.StateJson)):
		return cli.Usagef("--state is not valid JSON: e.g. --state '{\"cursor\":\"abc\"}'")
	}
	return nil
}

// trigger starts a run, or previews one page.
func (a *app) trigger(cmd *cobra.Command, req *synqv1.TriggerSyncRequest, follow bool) error {
	if err := checkTrigger(req, follow); err != nil {
		return err
	}
	if req.Preview {
		// A preview runs Execute on an executor: allow for it.
		a.timeout = previewTimeout
	}
	r, err := unary(a, cmd, synqv1.ControlServiceClient.TriggerSync, req)
	if err != nil {
		return err
	}
	switch {
	case req.Preview:
		return a.printPreview(r.Preview)
	case a.output == "json":
		if err := a.json(object{{"run_id", r.RunId}, {"sync", req.Key}}); err != nil {
			return err
		}
	case follow:
		fmt.Fprintf(a.stdout, "started run %s\n", r.RunId)
	default:
		fmt.Fprintf(a.stdout, "started run %s\nfollow it with: ctl runs logs %s --follow\n", r.RunId, r.RunId)
	}
	if follow {
		return a.logs(cmd, r.RunId, true)
	}
	return nil
}

func (a *app) forgetCmd() *cobra.Command {
	return oneArgCmd("forget KEY", "Remove the records (state, runs, logs, health) of a sync no live executor declares; its Notion rows stay",
		"sync key", "ctl forget retiredSync", func(cmd *cobra.Command, key string) error {
			if _, err := unary(a, cmd, synqv1.ControlServiceClient.ForgetSync, &synqv1.ForgetSyncRequest{Key: key}); err != nil {
				return err
			}
			return a.done(key, "forgotten (its rows in Notion are untouched)")
		})
}

func (a *app) stateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Show or reset a sync's committed state"}
	get := oneArgCmd("get KEY", "Print a sync's committed state (JSON)", "sync key", "ctl state get ticketsDelta", func(cmd *cobra.Command, key string) error {
		r, err := unary(a, cmd, synqv1.ControlServiceClient.GetState, &synqv1.GetStateRequest{Key: key})
		if err != nil {
			return err
		}
		return a.printState(key, r.StateJson)
	})
	reset := oneArgCmd("reset KEY", "Clear a sync's state: the next run starts from scratch", "sync key", "ctl state reset ticketsDelta", func(cmd *cobra.Command, key string) error {
		if _, err := unary(a, cmd, synqv1.ControlServiceClient.ResetState, &synqv1.ResetStateRequest{Key: key}); err != nil {
			return err
		}
		return a.done(key, "state reset")
	})
	cmd.AddCommand(get, reset)
	return cmd
}

func (a *app) pauseCmd(use, short string) *cobra.Command {
	return oneArgCmd(use+" KEY", short, "sync key", "ctl "+use+" customersSync", func(cmd *cobra.Command, key string) error {
		r, err := unary(a, cmd, synqv1.ControlServiceClient.PauseSync, &synqv1.PauseSyncRequest{Key: key})
		if err != nil {
			return err
		}
		msg := "paused (health DISABLED): no new runs until `ctl resume " + key + "`"
		if r.Sync.ActiveRun != nil {
			msg += "; run " + r.Sync.ActiveRun.Id + " stops at its next page"
		}
		return a.result(r.Sync, key, msg)
	})
}

func (a *app) resumeCmd(use, short string) *cobra.Command {
	return oneArgCmd(use+" KEY", short, "sync key", "ctl "+use+" customersSync", func(cmd *cobra.Command, key string) error {
		r, err := unary(a, cmd, synqv1.ControlServiceClient.ResumeSync, &synqv1.ResumeSyncRequest{Key: key})
		if err != nil {
			return err
		}
		return a.result(r.Sync, key, "resumed")
	})
}

func (a *app) cancelCmd() *cobra.Command {
	return oneArgCmd("cancel KEY|RUN", "Cancel a sync's active run, or a run by id (the page in flight finishes; a cancelled run trashes nothing)",
		"sync key or run id", "ctl cancel ticketsBackfill, or ctl cancel ticketsBackfill-20261124T101500-3f9a1c", func(cmd *cobra.Command, run string) error {
			if !synqv1.IsRunID(run) {
				key := run
				s, err := unary(a, cmd, synqv1.ControlServiceClient.GetSync, &synqv1.GetSyncRequest{Key: key})
				if err != nil {
					return err
				}
				if s.GetSync().GetActiveRun() == nil {
					if a.output == "json" {
						return a.json(object{{"key", key}, {"result", "no active run"}})
					}
					fmt.Fprintf(a.stdout, "%s: no active run to cancel (ctl runs list %s shows its runs)\n", key, key)
					return nil
				}
				run = s.Sync.ActiveRun.Id
			}
			r, err := unary(a, cmd, synqv1.ControlServiceClient.CancelRun, &synqv1.CancelRunRequest{RunId: run})
			if err != nil {
				return err
			}
			return a.result(r.Run, run, "cancelled")
		})
}

func (a *app) runsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List runs and read their logs"}
	var plain bool
	var limit int
	list := &cobra.Command{
		Use:   "list [KEY]",
		Short: "List runs, newest first (of one sync, or all)",
		Args:  optionalArg("sync key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > synqv1.MaxPageSize {
				return cli.Usagef("--limit %d: between 1 and %d", limit, synqv1.MaxPageSize)
			}
			req := &synqv1.ListRunsRequest{PageSize: int32(limit)}
			if len(args) == 1 {
				req.SyncKey = args[0]
			}
			r, err := unary(a, cmd, synqv1.ControlServiceClient.ListRuns, req)
			if err != nil {
				return err
			}
			return a.printRuns(r.Runs, plain)
		},
	}
	list.Flags().BoolVar(&plain, "plain", false, "tab-separated, no header: for scripts")
	list.Flags().IntVar(&limit, "limit", 20, "how many runs")
	var follow bool
	logs := oneArgCmd("logs RUN|KEY", "Print a run's log (platform and user lines), or the log of a sync's latest run; --follow until it ends",
		"run id or sync key", "ctl runs logs ticketsBackfill-20261124T101500-3f9a1c, or ctl runs logs ticketsBackfill for its latest run",
		func(cmd *cobra.Command, run string) error {
			if !synqv1.IsRunID(run) {
				latest, err := a.latestRun(cmd, run)
				if err != nil {
					return err
				}
				if a.output == "table" {
					fmt.Fprintf(a.stdout, "run %s (the latest of %s, %s)\n", latest.Id, run, statusName(latest.Status))
				}
				run = latest.Id
			}
			return a.logs(cmd, run, follow)
		})
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the run ends")
	cmd.AddCommand(list, logs)
	return cmd
}

// latestRun returns the newest run of a sync.
func (a *app) latestRun(cmd *cobra.Command, key string) (*synqv1.Run, error) {
	r, err := unary(a, cmd, synqv1.ControlServiceClient.ListRuns, &synqv1.ListRunsRequest{SyncKey: key, PageSize: 1})
	if err != nil {
		return nil, err
	}
	if len(r.Runs) == 0 {
		return nil, fmt.Errorf("sync %s has no runs yet: start one with `ctl trigger %s --follow`", key, key)
	}
	return r.Runs[0], nil
}

// logs prints a run's log; with follow, until the run ends, and then its
// outcome (an error if it failed).
func (a *app) logs(cmd *cobra.Command, run string, follow bool) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if !follow {
		var cancel func()
		ctx, cancel = a.call(ctx)
		defer cancel()
	}
	stream, err := c.GetRunLogs(ctx, &synqv1.GetRunLogsRequest{RunId: run, Follow: follow})
	if err != nil {
		return a.rpcErr(err)
	}
	var last *synqv1.Run
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cmd.Context().Err() != nil {
				return nil
			}
			return a.rpcErr(err)
		}
		last = msg.Run
		for _, l := range msg.Lines {
			a.printLine(l)
		}
	}
	if !follow || last == nil {
		return nil
	}
	if a.output == "table" {
		c := last.GetCounters()
		fmt.Fprintf(a.stdout, "run %s %s: %s, rows %s\n%s\n", last.Id, statusName(last.Status), plural(c.GetPages(), "page"), rowCounts(c), rowsLegend)
		if last.Status == synqv1.RunStatus_RUN_STATUS_WARNING && last.Error != "" {
			fmt.Fprintf(a.stdout, "warning: %s\n", safe(last.Error))
		}
	}
	if last.Status == synqv1.RunStatus_RUN_STATUS_FAILED {
		return fmt.Errorf("run %s failed: %s", last.Id, safe(last.Error))
	}
	return nil
}
