package main

import (
	"fmt"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/cli"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

func (a *app) alertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Send a test alert, list recent alerts and their delivery"}
	test := &cobra.Command{
		Use:     "test",
		Short:   "Send a test notification to every alert destination now",
		Example: "ctl alerts test",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			by := "`ctl alerts test`"
			if u, err := user.Current(); err == nil && u.Username != "" {
				by += " (" + u.Username + ")"
			}
			r, err := unary(a, cmd, synqv1.ControlServiceClient.TestAlert, &synqv1.TestAlertRequest{By: by})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.json(jsonOf(r))
			}
			failed := 0
			for _, d := range r.Results {
				if d.Delivered {
					fmt.Fprintf(a.stdout, "delivered  %s\n", safe(d.Destination))
				} else {
					failed++
					fmt.Fprintf(a.stdout, "FAILED     %s: %s\n", safe(d.Destination), oneLine(d.Error))
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d alert destinations did not take the test notification (%s): check the URL and that the receiver is up", failed, len(r.Results), r.AlertId)
			}
			return nil
		},
	}
	var limit int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List recent notifications, newest first, with their delivery",
		Example: "ctl alerts list --limit 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 200 {
				return cli.Usagef("--limit %d: between 1 and 200", limit)
			}
			r, err := unary(a, cmd, synqv1.ControlServiceClient.ListAlerts, &synqv1.ListAlertsRequest{Limit: int32(limit)})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.json(jsonOf(r))
			}
			if len(r.Alerts) == 0 {
				fmt.Fprintln(a.stdout, "no alerts yet")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tSEVERITY\tALERT\tDELIVERY")
			for _, x := range r.Alerts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ago(x.Created), x.Severity, oneLine(x.Title), deliverySummary(x.Deliveries))
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "how many notifications")
	cmd.AddCommand(test, list)
	return cmd
}

// deliverySummary says how a notification's deliveries went, in a cell.
func deliverySummary(ds []*synqv1.AlertDelivery) string {
	if len(ds) == 0 {
		return "recorded (no destination)"
	}
	var parts []string
	for _, d := range ds {
		s := d.Status
		if d.Attempts > 1 {
			s += fmt.Sprintf(" after %d attempts", d.Attempts)
		}
		if d.Status != "delivered" && d.LastError != "" {
			s += ": " + oneLine(d.LastError)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
