package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/cli"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

func (a *app) webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "List webhooks and their deliveries; rotate a URL's token; enable a disabled webhook"}
	var plain bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List webhooks: URL (with its token), state and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := unary(a, cmd, synqv1.ControlServiceClient.ListWebhooks, &synqv1.ListWebhooksRequest{})
			if err != nil {
				return err
			}
			return a.printWebhooks(r.Webhooks, plain)
		},
	}
	list.Flags().BoolVar(&plain, "plain", false, "tab-separated, no header: for scripts")
	var dplain bool
	var limit int
	deliveries := &cobra.Command{
		Use:   "deliveries KEY",
		Short: "List a webhook's recent deliveries, newest first: status, attempts, latency, rows written",
		Args:  oneArg("webhook key", "ctl webhooks deliveries helpdeskEvents"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 200 {
				return cli.Usagef("--limit %d: between 1 and 200", limit)
			}
			r, err := unary(a, cmd, synqv1.ControlServiceClient.ListDeliveries, &synqv1.ListDeliveriesRequest{Key: args[0], Limit: int32(limit)})
			if err != nil {
				return err
			}
			return a.printDeliveries(r, dplain)
		},
	}
	deliveries.Flags().BoolVar(&dplain, "plain", false, "tab-separated, no header: for scripts")
	deliveries.Flags().IntVar(&limit, "limit", 20, "how many deliveries")
	rotate := oneArgCmd("rotate KEY", "Give a webhook a new URL token (the old URL answers 404 from now on)", "webhook key",
		"ctl webhooks rotate helpdeskEvents", func(cmd *cobra.Command, key string) error {
			r, err := unary(a, cmd, synqv1.ControlServiceClient.RotateWebhookToken, &synqv1.RotateWebhookTokenRequest{Key: key})
			if err != nil {
				return err
			}
			msg := "token rotated; the old URL answers 404 from now on"
			if u := r.Webhook.GetUrl(); u != "" {
				msg += "; new URL " + u
			}
			return a.result(r, key, msg)
		})
	enable := oneArgCmd("enable KEY", "Make a webhook disabled by verification failures live again", "webhook key",
		"ctl webhooks enable helpdeskEvents", func(cmd *cobra.Command, key string) error {
			r, err := unary(a, cmd, synqv1.ControlServiceClient.EnableWebhook, &synqv1.EnableWebhookRequest{Key: key})
			if err != nil {
				return err
			}
			return a.result(r, key, "enabled: deliveries are accepted again")
		})
	cmd.AddCommand(list, deliveries, rotate, enable)
	return cmd
}

func (a *app) printWebhooks(hs []*synqv1.Webhook, plain bool) error {
	if a.output == "json" && !plain {
		return a.json(&synqv1.ListWebhooksResponse{Webhooks: hs})
	}
	var tw io.Writer = a.stdout
	if !plain {
		aligned := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		defer aligned.Flush()
		tw = aligned
		fmt.Fprintln(tw, "WEBHOOK\tWORKER\tSTATE\tRECEIVED\tREJECTED\tHANDLED\tFAILED\tURL")
	}
	for _, h := range hs {
		state := "live"
		if h.Disabled != "" {
			state = "disabled: " + oneLine(h.Disabled)
		}
		u := h.Url
		if u == "" {
			u = "(no executor serves webhooks: set SYNQ_WEBHOOK_ADDR)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", h.Key, h.Worker, state, h.Received, h.Rejected, h.Handled, h.Failed, u)
	}
	if len(hs) == 0 && !plain {
		fmt.Fprintln(a.stdout, "no webhooks: declare one with synq.AddWebhook")
	}
	return nil
}

func (a *app) printDeliveries(r *synqv1.ListDeliveriesResponse, plain bool) error {
	if a.output == "json" && !plain {
		return a.json(r)
	}
	var tw io.Writer = a.stdout
	if !plain {
		aligned := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		defer aligned.Flush()
		tw = aligned
		fmt.Fprintln(tw, "DELIVERY\tSTATUS\tRECEIVED\tATTEMPTS\tLATENCY\tROWS\tTRIGGERED\tERROR")
	}
	for _, d := range r.Deliveries {
		received := "-"
		if d.Received != nil {
			received = d.Received.AsTime().Local().Format("2006-01-02 15:04:05")
		}
		latency := "-"
		if d.Latency != nil {
			latency = d.Latency.AsDuration().Round(time.Millisecond).String()
		}
		rows := "-"
		if len(d.Rows) > 0 {
			var parts []string
			for k, v := range d.Rows {
				parts = append(parts, fmt.Sprintf("%s %d", k, v))
			}
			sort.Strings(parts)
			rows = strings.Join(parts, ", ")
		}
		trig := "-"
		if len(d.Triggered) > 0 {
			trig = strings.Join(d.Triggered, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.Id, d.Status, received, d.Attempts, latency, rows, trig, oneLine(d.Error))
	}
	return nil
}
