package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// oneArg makes a missing or extra argument a usage error that names it.
func oneArg(name, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{fmt.Errorf("%s takes exactly one %s: %s", cmd.CommandPath(), name, example)}
		}
		return nil
	}
}

func (a *app) statusCmd() *cobra.Command {
	var noWatch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [KEY]",
		Short: "Show syncs: health, schedule, last and active run (live on a terminal)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("status takes at most one sync key")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			if interval < 200*time.Millisecond {
				return usageError{fmt.Errorf("--interval %v: at least 200ms", interval)}
			}
			watch := !noWatch && a.output == "table" && isTerminal(a.stdout)
			if !watch {
				ctx, cancel := a.call(cmd.Context())
				defer cancel()
				var syncs []*synqv1.Sync
				if len(args) == 1 {
					r, err := c.GetSync(ctx, &synqv1.GetSyncRequest{Key: args[0]})
					if err != nil {
						return a.rpcErr(err)
					}
					syncs = []*synqv1.Sync{r.Sync}
				} else {
					r, err := c.ListSyncs(ctx, &synqv1.ListSyncsRequest{})
					if err != nil {
						return a.rpcErr(err)
					}
					syncs = r.Syncs
				}
				return a.printSyncs(syncs)
			}
			stream, err := c.WatchSyncs(cmd.Context(), &synqv1.WatchSyncsRequest{Keys: args, Interval: durationpb.New(interval)})
			if err != nil {
				return a.rpcErr(err)
			}
			for {
				msg, err := stream.Recv()
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil // Ctrl-C
					}
					return a.rpcErr(err)
				}
				fmt.Fprint(a.stdout, "\x1b[H\x1b[2J")
				fmt.Fprintf(a.stdout, "synq · %s · %s · Ctrl-C to quit\n\n", a.addr, time.Now().Format("15:04:05"))
				if err := a.printSyncs(msg.Syncs); err != nil {
					return err
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noWatch, "no-watch", false, "print once instead of a live view")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval of the live view")
	return cmd
}

func (a *app) triggerCmd() *cobra.Command {
	var preview, allowTrash, follow bool
	var state string
	cmd := &cobra.Command{
		Use:   "trigger KEY",
		Short: "Start a run now (--follow prints its log until it ends), or --preview one page without writing anything",
		Args:  oneArg("sync key", "ctl trigger ticketsBackfill"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if state != "" && !preview {
				return usageError{fmt.Errorf("--state goes with --preview (to change the stored state use `ctl state reset`)")}
			}
			if allowTrash && preview {
				return usageError{fmt.Errorf("--allow-trash goes with a run, not --preview (a preview trashes nothing)")}
			}
			if follow && preview {
				return usageError{fmt.Errorf("--follow goes with a run, not --preview (a preview prints its result at once)")}
			}
			if state != "" && !json.Valid([]byte(state)) {
				return usageError{fmt.Errorf("--state is not valid JSON: e.g. --state '{\"cursor\":\"abc\"}'")}
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			if preview {
				// A preview runs Execute on an executor: allow for it.
				ctx, cancel = context10m(cmd)
				defer cancel()
			}
			r, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: args[0], Preview: preview, StateJson: state, AllowTrash: allowTrash})
			if err != nil {
				return a.rpcErr(err)
			}
			if preview {
				return a.printPreview(r.Preview)
			}
			if a.output == "json" {
				if err := a.json(object{{"run_id", r.RunId}, {"sync", args[0]}}); err != nil {
					return err
				}
			} else if follow {
				fmt.Fprintf(a.stdout, "started run %s\n", r.RunId)
			} else {
				fmt.Fprintf(a.stdout, "started run %s\nfollow it with: ctl runs logs %s --follow\n", r.RunId, r.RunId)
			}
			if follow {
				return a.logs(cmd, r.RunId, true)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "print the run's log until it ends; exit 1 if it fails")
	cmd.Flags().BoolVar(&preview, "preview", false, "run Execute once and show what would change, writing nothing")
	cmd.Flags().StringVar(&state, "state", "", "state (JSON) to preview from instead of the stored one")
	cmd.Flags().BoolVar(&allowTrash, "allow-trash", false, "lift the deletion guard for this run: its replace cycle may trash more than the sync's MaxTrashFraction of the database")
	return cmd
}

func (a *app) forgetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "forget KEY",
		Short: "Remove the records (state, runs, logs, health) of a sync no live executor declares; its Notion rows stay",
		Args:  oneArg("sync key", "ctl forget retiredSync"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			if _, err := c.ForgetSync(ctx, &synqv1.ForgetSyncRequest{Key: args[0]}); err != nil {
				return a.rpcErr(err)
			}
			return a.done(args[0], "forgotten (its rows in Notion are untouched)")
		},
	}
}

func (a *app) stateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Show or reset a sync's committed state"}
	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a sync's committed state (JSON)",
		Args:  oneArg("sync key", "ctl state get ticketsDelta"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			r, err := c.GetState(ctx, &synqv1.GetStateRequest{Key: args[0]})
			if err != nil {
				return a.rpcErr(err)
			}
			st := r.StateJson
			if st == "" {
				st = "null"
			}
			if a.output == "json" {
				return a.json(object{{"key", args[0]}, {"state", json.RawMessage(st)}})
			}
			if st == "null" {
				fmt.Fprintf(a.stdout, "%s has no committed state: its next run starts from scratch (a replace sync's state is empty between cycles)\n", args[0])
				return nil
			}
			var v any
			_ = json.Unmarshal([]byte(st), &v)
			b, _ := json.MarshalIndent(v, "", "  ")
			fmt.Fprintln(a.stdout, string(b))
			return nil
		},
	}
	reset := &cobra.Command{
		Use:   "reset KEY",
		Short: "Clear a sync's state: the next run starts from scratch",
		Args:  oneArg("sync key", "ctl state reset ticketsDelta"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			if _, err := c.ResetState(ctx, &synqv1.ResetStateRequest{Key: args[0]}); err != nil {
				return a.rpcErr(err)
			}
			return a.done(args[0], "state reset")
		},
	}
	cmd.AddCommand(get, reset)
	return cmd
}

func (a *app) pauseCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " KEY",
		Short: short,
		Args:  oneArg("sync key", "ctl "+use+" customersSync"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			r, err := c.PauseSync(ctx, &synqv1.PauseSyncRequest{Key: args[0]})
			if err != nil {
				return a.rpcErr(err)
			}
			if a.output == "json" {
				return a.json(r.Sync)
			}
			msg := "paused: no new runs"
			if r.Sync.ActiveRun != nil {
				msg += "; run " + r.Sync.ActiveRun.Id + " stops at its next page"
			}
			return a.done(args[0], msg)
		},
	}
}

func (a *app) resumeCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " KEY",
		Short: short,
		Args:  oneArg("sync key", "ctl "+use+" customersSync"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			r, err := c.ResumeSync(ctx, &synqv1.ResumeSyncRequest{Key: args[0]})
			if err != nil {
				return a.rpcErr(err)
			}
			if a.output == "json" {
				return a.json(r.Sync)
			}
			return a.done(args[0], "resumed")
		},
	}
}

func (a *app) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel an active run (the page in flight finishes)",
		Args:  oneArg("run id", "ctl cancel ticketsBackfill-20261124T101500-3f9a1c"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			r, err := c.CancelRun(ctx, &synqv1.CancelRunRequest{RunId: args[0]})
			if err != nil {
				return a.rpcErr(err)
			}
			if a.output == "json" {
				return a.json(r.Run)
			}
			return a.done(args[0], "cancelled")
		},
	}
}

func (a *app) runsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List runs and read their logs"}
	var plain bool
	var limit int
	list := &cobra.Command{
		Use:   "list [KEY]",
		Short: "List runs, newest first (of one sync, or all)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("runs list takes at most one sync key")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > synqv1.MaxPageSize {
				return usageError{fmt.Errorf("--limit %d: between 1 and %d", limit, synqv1.MaxPageSize)}
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			req := &synqv1.ListRunsRequest{PageSize: int32(limit)}
			if len(args) == 1 {
				req.SyncKey = args[0]
			}
			r, err := c.ListRuns(ctx, req)
			if err != nil {
				return a.rpcErr(err)
			}
			return a.printRuns(r.Runs, plain)
		},
	}
	list.Flags().BoolVar(&plain, "plain", false, "tab-separated, no header: for scripts")
	list.Flags().IntVar(&limit, "limit", 20, "how many runs")
	var follow bool
	logs := &cobra.Command{
		Use:   "logs RUN|KEY",
		Short: "Print a run's log (platform and user lines), or the log of a sync's latest run; --follow until it ends",
		Args:  oneArg("run id or sync key", "ctl runs logs ticketsBackfill-20261124T101500-3f9a1c, or ctl runs logs ticketsBackfill for its latest run"),
		RunE: func(cmd *cobra.Command, args []string) error {
			run := args[0]
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
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the run ends")
	cmd.AddCommand(list, logs)
	return cmd
}

// latestRun returns the newest run of a sync.
func (a *app) latestRun(cmd *cobra.Command, key string) (*synqv1.Run, error) {
	c, err := a.connect()
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.call(cmd.Context())
	defer cancel()
	r, err := c.ListRuns(ctx, &synqv1.ListRunsRequest{SyncKey: key, PageSize: 1})
	if err != nil {
		return nil, a.rpcErr(err)
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
		fmt.Fprintf(a.stdout, "run %s %s: %d pages, rows %s\n%s\n", last.Id, statusName(last.Status), c.GetPages(), rowCounts(c), rowsLegend)
		if last.Status == synqv1.RunStatus_RUN_STATUS_WARNING && last.Error != "" {
			fmt.Fprintf(a.stdout, "warning: %s\n", last.Error)
		}
	}
	if last.Status == synqv1.RunStatus_RUN_STATUS_FAILED {
		return fmt.Errorf("run %s failed: %s", last.Id, last.Error)
	}
	return nil
}
