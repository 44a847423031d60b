// Command helpdesk serves the demo helpdesk API that synq's example
// syncs read: tickets, customers, teams, projects and tasks, with cursor
// pagination, updated_since, deletions, a rate limit and data that keeps
// changing.
//
//	helpdesk --addr=127.0.0.1:7080 --tickets=500 --change-rate=1
//	helpdesk healthcheck --url=http://127.0.0.1:7080/healthz
package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/internal/cli"
)

// stopGrace is how long the requests in flight get when the API stops.
const stopGrace = 5 * time.Second

func main() { cli.Main(newRoot()) }

func newRoot() *cobra.Command {
	var cfg api.Config
	var logLevel string
	root := &cobra.Command{
		Use:   "helpdesk",
		Short: "Serve the demo helpdesk API that synq's example syncs read",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			s, err := api.New(cfg)
			if err != nil {
				return cli.UsageError{Err: err} // api.New refuses only bad flag values
			}
			if err := s.Start(cmd.Context()); err != nil {
				return err
			}
			log.Info("helpdesk API listening", "url", s.URL(), "tickets", cfg.Tickets, "customers", cfg.Customers,
				"change_rate_per_s", cfg.ChangeRate, "rate_limit_per_s", cfg.RateLimit, "webhook", cfg.WebhookURL != "")
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
			defer cancel()
			return s.Stop(ctx)
		},
	}
	f := root.Flags()
	f.StringVar(&cfg.Addr, "addr", cli.EnvOr("HELPDESK_ADDR", api.AddrDefault), "listen address (env HELPDESK_ADDR)")
	f.IntVar(&cfg.Tickets, "tickets", 200, "tickets to start with")
	f.IntVar(&cfg.Customers, "customers", 50, "customers")
	f.IntVar(&cfg.Teams, "teams", 4, "teams")
	f.IntVar(&cfg.Projects, "projects", 5, "projects")
	f.IntVar(&cfg.TasksPerProject, "tasks-per-project", 6, "tasks per project")
	f.Float64Var(&cfg.ChangeRate, "change-rate", 0.5, "changes per second made on their own (updates, new tickets, deletions); 0 for none")
	f.Float64Var(&cfg.RateLimit, "rate-limit", 20, "requests per second per client before 429s; negative for none")
	f.StringVar(&cfg.WebhookURL, "webhook-url", cli.EnvOr("HELPDESK_WEBHOOK_URL", ""), "send a signed event for every ticket change to this URL, e.g. the demo worker's helpdeskEvents webhook from `ctl webhooks list` (env HELPDESK_WEBHOOK_URL)")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", cli.EnvOr("HELPDESK_WEBHOOK_SECRET", ""), "secret the events are signed with: HMAC-SHA256 of the body in X-Helpdesk-Signature (env HELPDESK_WEBHOOK_SECRET)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated data")
	f.StringVar(&logLevel, "log-level", cli.EnvOr("SYNQ_LOG_LEVEL", "info"), "debug, info, warn or error (env SYNQ_LOG_LEVEL)")
	root.AddCommand(cli.Healthcheck("helpdesk API", "http://"+api.AddrDefault+"/healthz"))
	return root
}
