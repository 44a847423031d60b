// Command scheduler starts synq runs when they are due and serves the
// control API. Run several replicas for availability: one holds the leader
// lease and schedules; every replica serves the control API.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/synqhq/synq/internal/alerts"
	"github.com/synqhq/synq/internal/cli"
	"github.com/synqhq/synq/internal/console"
	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/runs"
	"github.com/synqhq/synq/internal/scheduler"
)

type options struct {
	redisURL  string
	tick      time.Duration
	reapEvery time.Duration
	// runRetention is how many runs per sync are kept (0: the env's, else
	// runs.RetentionDefault).
	runRetention int
	id           string
	logLevel     string
	controlAddr  string
	consoleAddr  string
	token        string
	tlsCert      string
	tlsKey       string
	metricsAddr  string
	alerts       alertOptions
}

type alertOptions struct {
	slackURLs, jsonURLs []string
	consoleURL          string
	absentFor           time.Duration
}

func main() { cli.Main(newRoot()) }

func newRoot() *cobra.Command {
	o := options{}
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Start synq runs when they are due and serve the control API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.redisURL, "redis-url", cli.EnvOr("REDIS_URL", redisconn.URLDefault), "Redis URL: redis://, rediss:// or redis+sentinel://host:port,…/<master-name> (env REDIS_URL)")
	f.DurationVar(&o.tick, "tick", scheduler.TickDefault, "how often due syncs are checked")
	f.DurationVar(&o.reapEvery, "reap-every", scheduler.ReapEveryDefault, "how often the leader fails runs nobody will move on (lost tasks, executors lost on the last attempt, syncs no longer declared)")
	f.IntVar(&o.runRetention, "run-retention", 0, fmt.Sprintf("how many runs (records, logs, pages) each sync keeps, at least 1 (env SYNQ_RUN_RETENTION; default %d): the bulk of Redis for frequent syncs (docs/operations.md, sizing)", runs.RetentionDefault))
	f.StringVar(&o.id, "id", os.Getenv("SYNQ_SCHEDULER_ID"), "replica id in the leader lease (env SYNQ_SCHEDULER_ID; default <hostname>-<random>)")
	f.StringVar(&o.controlAddr, "control-addr", cli.EnvOr("SYNQ_CONTROL_ADDR", control.AddrDefault), "control API listen address (env SYNQ_CONTROL_ADDR)")
	f.StringVar(&o.consoleAddr, "console-addr", cli.EnvOr("SYNQ_CONSOLE_ADDR", console.AddrDefault), "web console listen address, \"off\" to serve none (env SYNQ_CONSOLE_ADDR); same token and loopback rule as the control API")
	f.StringVar(&o.token, "control-token", os.Getenv("SYNQ_CONTROL_TOKEN"), "bearer token ctl must send (env SYNQ_CONTROL_TOKEN); without one the API listens on loopback only")
	f.StringVar(&o.tlsCert, "tls-cert", os.Getenv("SYNQ_CONTROL_TLS_CERT"), "TLS certificate file for the control API (env SYNQ_CONTROL_TLS_CERT)")
	f.StringVar(&o.tlsKey, "tls-key", os.Getenv("SYNQ_CONTROL_TLS_KEY"), "TLS key file for the control API (env SYNQ_CONTROL_TLS_KEY)")
	f.StringVar(&o.metricsAddr, "metrics-addr", os.Getenv("SYNQ_METRICS_ADDR"), "serve Prometheus metrics at /metrics on this address (env SYNQ_METRICS_ADDR)")
	f.StringArrayVar(&o.alerts.slackURLs, "alert-webhook-url", envList("SYNQ_ALERT_WEBHOOK_URL"), "send alerts to this Slack-compatible incoming webhook (Slack, Mattermost, Teams); repeatable (env SYNQ_ALERT_WEBHOOK_URL, comma-separated)")
	f.StringArrayVar(&o.alerts.jsonURLs, "alert-json-url", envList("SYNQ_ALERT_JSON_URL"), "send alerts as JSON (docs/alerts.md) to this URL, signed when SYNQ_ALERT_SECRET is set; repeatable (env SYNQ_ALERT_JSON_URL, comma-separated)")
	f.StringVar(&o.alerts.consoleURL, "console-url", os.Getenv("SYNQ_CONSOLE_URL"), "the console's address as people open it, for links in alerts (env SYNQ_CONSOLE_URL; default the console's listen address)")
	f.DurationVar(&o.alerts.absentFor, "alert-executors-absent", envDuration("SYNQ_ALERT_EXECUTORS_ABSENT", alerts.ExecutorsAbsentForDefault), "alert when a worker with syncs has had no live executor this long (env SYNQ_ALERT_EXECUTORS_ABSENT)")
	f.StringVar(&o.logLevel, "log-level", cli.EnvOr("SYNQ_LOG_LEVEL", "info"), "debug, info, warn or error (env SYNQ_LOG_LEVEL)")
	return cmd
}

// serve runs a scheduler replica until ctx ends: the scheduling loop, the
// control API and, unless it is off, the console.
func serve(ctx context.Context, o options) error {
	log, err := cli.Logger(o.logLevel)
	if err != nil {
		return err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return cli.Usagef("--tls-cert and --tls-key go together: give both or neither")
	}
	if o.id == "" {
		o.id = defaultID()
	}
	retention, err := runRetention(o.runRetention)
	if err != nil {
		return err
	}
	control.RouteGRPCLog()
	conn, err := redisconn.Connect(ctx, o.redisURL, log)
	if err != nil {
		return err
	}
	defer conn.Client.Close()
	// While Redis is unreachable the scheduler keeps running; the monitor
	// logs the outage once, instead of a failed tick a second.
	log = conn.Logger
	_ = conn.Monitor.Start(ctx)
	defer conn.Monitor.Stop(context.Background())
	op, err := ops.New(ops.Config{Redis: conn.Client, Logger: log, RunRetention: retention})
	if err != nil {
		return err
	}
	m, stopMetrics, err := serveMetrics(ctx, o.metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	// The reaper does not judge the leases an outage lost (see
	// runs.ReaperConfig.Redis): the executors enqueue those pages again.
	s, err := scheduler.New(scheduler.Config{Ops: op, ID: o.id, Tick: o.tick, ReapEvery: o.reapEvery, Logger: log, Metrics: m,
		Reaper: runs.ReaperConfig{Redis: conn.Monitor}})
	if err != nil {
		return err
	}
	al, err := alertService(o, op, s, m, log)
	if err != nil {
		return err
	}
	if m != nil {
		m.Registry.MustRegister(scheduler.NewFleetCollector(op, s.IsLeader))
		m.WatchRedis(conn.Monitor.Up)
	}
	gs, lis, err := controlServer(o, op, conn, al, log)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	if err := s.Start(ctx); err != nil {
		gs.Stop()
		return err
	}
	_ = al.Start(ctx)
	defer al.Stop(context.Background())
	if err := serveConsole(ctx, o, op, s.ID(), al, log); err != nil {
		gs.Stop()
		_ = s.Stop(context.Background())
		return err
	}
	log.Info("scheduler started", "id", s.ID(), "redis", conn.Target.String(), "control_addr", lis.Addr().String(), "tls", o.tlsCert != "", "auth", o.token != "")
	select {
	case <-ctx.Done():
	case err := <-served:
		_ = s.Stop(context.Background())
		return fmt.Errorf("control API: %w", err)
	}
	return stop(gs, s, log)
}

// defaultID is a replica id that says where the replica runs: the host
// name (a container's id, in a container) and a random suffix that keeps
// two replicas on one host apart.
func defaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "scheduler"
	}
	return host + "-" + uuid.NewString()[:8]
}

// serveMetrics serves the scheduler's metrics at addr, when it is set.
func serveMetrics(ctx context.Context, addr string, log *slog.Logger) (*metrics.Metrics, func(), error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	m := metrics.NewScheduler()
	ms, err := m.Listen(addr, log)
	if err != nil {
		return nil, nil, err
	}
	_ = ms.Start(ctx)
	log.Info("serving metrics", "addr", ms.Addr())
	return m, func() { _ = ms.Stop(context.Background()) }, nil
}

// controlServer returns the control API's gRPC server and its listener.
func controlServer(o options, op *ops.Ops, conn *redisconn.Conn, al *alerts.Service, log *slog.Logger) (*grpc.Server, net.Listener, error) {
	p, err := pacer.New(pacer.Config{Redis: conn.Client, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	svc, err := control.New(control.Config{Ops: op, Pacer: p, Token: o.token, Alerts: al, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	var gopts []grpc.ServerOption
	if o.tlsCert != "" {
		creds, err := credentials.NewServerTLSFromFile(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, nil, fmt.Errorf("control API TLS: %w", err)
		}
		gopts = append(gopts, grpc.Creds(creds))
	}
	lis, err := control.Listen(o.controlAddr, o.token != "", log)
	if err != nil {
		return nil, nil, err
	}
	return svc.NewGRPCServer(gopts...), lis, nil
}

// serveConsole serves the web console in the background until ctx ends,
// unless --console-addr is off.
func serveConsole(ctx context.Context, o options, op *ops.Ops, schedulerID string, al *alerts.Service, log *slog.Logger) error {
	if o.consoleAddr == "" || o.consoleAddr == "off" {
		return nil
	}
	var dests []string
	for _, d := range al.Destinations() {
		dests = append(dests, d.String())
	}
	con, err := console.New(console.Config{Ops: op, Token: o.token, SchedulerID: schedulerID, AlertDestinations: dests, Logger: log})
	if err != nil {
		return err
	}
	lis, err := control.ListenAs("console", console.AddrDefault, o.consoleAddr, o.token != "", log)
	if err != nil {
		return err
	}
	go func() {
		if err := con.Serve(ctx, lis, o.tlsCert, o.tlsKey); err != nil {
			log.Error("console stopped serving", "err", err)
		}
	}()
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	log.Info("serving the console", "url", scheme+"://"+lis.Addr().String()+"/")
	return nil
}

// alertService detects and sends alerts while this replica leads.
func alertService(o options, op *ops.Ops, s *scheduler.Scheduler, m *metrics.Metrics, log *slog.Logger) (*alerts.Service, error) {
	slack, err := alerts.ParseDestinations("SYNQ_ALERT_WEBHOOK_URL", alerts.FormatSlack, o.alerts.slackURLs)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	js, err := alerts.ParseDestinations("SYNQ_ALERT_JSON_URL", alerts.FormatJSON, o.alerts.jsonURLs)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	dests := append(slack, js...)
	consoleURL := o.alerts.consoleURL
	if consoleURL == "" && o.consoleAddr != "off" && o.consoleAddr != "" {
		consoleURL = consoleLink(o)
	}
	al, err := alerts.New(alerts.Config{Ops: op, Leader: s.IsLeader, Destinations: dests, Secret: []byte(os.Getenv("SYNQ_ALERT_SECRET")),
		ConsoleURL: consoleURL, ExecutorsAbsentFor: o.alerts.absentFor, Logger: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	if len(dests) == 0 {
		log.Info("alerts are recorded (ctl alerts list, the console) but sent nowhere: set SYNQ_ALERT_WEBHOOK_URL or SYNQ_ALERT_JSON_URL")
	} else {
		names := make([]string, len(dests))
		for i, d := range dests {
			names[i] = d.String()
		}
		log.Info("sending alerts", "destinations", names, "signed", os.Getenv("SYNQ_ALERT_SECRET") != "")
	}
	return al, nil
}

// consoleLink is the console's address for links when SYNQ_CONSOLE_URL
// is not set: its listen address, with a wildcard host made loopback.
func consoleLink(o options) string {
	host, port, err := net.SplitHostPort(o.consoleAddr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// envList splits a comma-separated variable (cobra splits nothing in a
// StringArray's default).
func envList(k string) []string {
	v := strings.TrimSpace(os.Getenv(k))
	if v == "" {
		return nil
	}
	return []string{v}
}

// runRetention is --run-retention, else SYNQ_RUN_RETENTION, else 0 (the
// default).
func runRetention(flag int) (int, error) {
	if flag < 0 {
		return 0, cli.Usagef("--run-retention %d: want how many runs each sync keeps, a whole number ≥ 1", flag)
	}
	if flag > 0 {
		return flag, nil
	}
	v := os.Getenv("SYNQ_RUN_RETENTION")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, cli.Usagef("SYNQ_RUN_RETENTION=%q: want how many runs each sync keeps, a whole number ≥ 1 (default %d)", v, runs.RetentionDefault)
	}
	return n, nil
}

func envDuration(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil && d > 0 {
		return d
	}
	return def
}

// stop ends the control API's calls (gracefully, for up to 10 s) and the
// scheduling loop.
func stop(gs *grpc.Server, s *scheduler.Scheduler, log *slog.Logger) error {
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		gs.Stop()
	}
	if err := s.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("scheduler stopped")
	return nil
}
