package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/synqhq/synq/internal/cli"
	"github.com/synqhq/synq/internal/logging"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// app holds the global flags and the connection.
type app struct {
	stdout, stderr io.Writer
	addr, token    string
	output         string
	jsonOut        bool // --json: an alias of -o json
	tls            bool
	tlsCA          string
	timeout        time.Duration

	conn   *grpc.ClientConn
	client synqv1.ControlServiceClient
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "ctl",
		Short: "Operate synq: sync status, triggers, state, pause/resume, runs and logs",
		Long: `ctl talks to a synq scheduler's control API.

Examples:
  ctl status                      live status of every sync
  ctl trigger ticketsBackfill     start a run now
  ctl trigger ticketsDelta --preview
  ctl pause customersSync         stop scheduling (capabilities disable)
  ctl trigger ticketsBackfill --follow
  ctl runs list ticketsBackfill
  ctl runs logs ticketsBackfill   the log of the sync's latest run
  ctl runs logs RUN --follow
  ctl new my-worker               scaffold a worker module of your own

Tables on a terminal, JSON when piped (or -o json): enum values in
lowercase ("healthy", "succeeded"), counters as numbers.`,
		Version: versionString(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.jsonOut {
				if a.output != "" && a.output != "json" {
					return cli.Usagef("--json and -o %s disagree: give one of them", a.output)
				}
				a.output = "json"
			}
			switch a.output {
			case "", "table", "json":
			default:
				return cli.Usagef("-o %q: use table or json", a.output)
			}
			if a.output == "" {
				a.output = "table"
				if !isTerminal(a.stdout) {
					a.output = "json"
				}
			}
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if a.conn != nil {
				_ = a.conn.Close()
			}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError{Err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", cli.EnvOr("SYNQ_ADDR", synqv1.AddrDefault), "scheduler control API address (env SYNQ_ADDR)")
	pf.StringVar(&a.token, "token", os.Getenv("SYNQ_TOKEN"), "control API token (env SYNQ_TOKEN)")
	pf.StringVarP(&a.output, "output", "o", "", "output format: table or json (default: table on a terminal, json otherwise)")
	pf.BoolVar(&a.jsonOut, "json", false, "the same as -o json")
	pf.BoolVar(&a.tls, "tls", os.Getenv("SYNQ_TLS") == "1", "connect with TLS (env SYNQ_TLS=1)")
	pf.StringVar(&a.tlsCA, "tls-ca", os.Getenv("SYNQ_TLS_CA"), "CA certificate file to verify the scheduler (implies --tls; env SYNQ_TLS_CA)")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "deadline of one request (not of --follow or watching)")

	root.AddCommand(a.statusCmd(), a.triggerCmd(), a.stateCmd(), a.pauseCmd("pause", "Pause a sync: no new runs; an active run stops at its next page"),
		a.resumeCmd("resume", "Resume a paused sync and continue its parked run"), a.cancelCmd(), a.runsCmd(), a.forgetCmd(), a.webhooksCmd(),
		a.alertsCmd(), a.versionCmd(), a.newCmd(), a.schemaCmd())
	// ntn-style spellings.
	syncCmd := &cobra.Command{Use: "sync", Short: "ntn-style spellings: sync status|trigger|state"}
	syncCmd.AddCommand(a.statusCmd(), a.triggerCmd(), a.stateCmd())
	capCmd := &cobra.Command{Use: "capabilities", Short: "ntn-style spellings: capabilities disable|enable KEY"}
	capCmd.AddCommand(a.pauseCmd("disable", "Disable a sync (same as pause)"), a.resumeCmd("enable", "Enable a sync (same as resume)"))
	root.AddCommand(syncCmd, capCmd)
	return root
}

// connect dials the scheduler once per command.
func (a *app) connect() (synqv1.ControlServiceClient, error) {
	if a.client != nil {
		return a.client, nil
	}
	creds := insecure.NewCredentials()
	if a.secure() {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.tlsCA != "" {
			pem, err := os.ReadFile(a.tlsCA)
			if err != nil {
				return nil, cli.Usagef("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, cli.Usagef("--tls-ca %s holds no PEM certificate", a.tlsCA)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if a.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: a.token, secure: a.secure()}))
	}
	conn, err := grpc.NewClient(a.addr, opts...)
	if err != nil {
		return nil, cli.Usagef("--addr %q: %w", a.addr, err)
	}
	a.conn = conn
	a.client = synqv1.NewControlServiceClient(conn)
	return a.client, nil
}

// call bounds one request.
func (a *app) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so a token works over a loopback or
// private network without TLS; use --tls across untrusted networks.
func (b bearer) RequireTransportSecurity() bool { return false }

// isTerminal is true for a terminal only: /dev/null is a character
// device too, and `ctl status > /dev/null` must not open the live view.
func isTerminal(w io.Writer) bool { return logging.IsTerminal(w) }

// secure reports whether ctl connects with TLS.
func (a *app) secure() bool { return a.tls || a.tlsCA != "" }
