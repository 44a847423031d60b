// Command scheduler starts synq runs when they are due and serves the
// control API. Run several replicas for availability: one holds the leader
// lease and schedules; every replica serves the control API.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/synqhq/synq/internal/console"
	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/logging"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/scheduler"
)

type options struct {
	redisURL    string
	tick        time.Duration
	reapEvery   time.Duration
	id          string
	logLevel    string
	controlAddr string
	consoleAddr string
	token       string
	tlsCert     string
	tlsKey      string
	metricsAddr string
}

func main() {
	os.Exit(run())
}

func run() int {
	o := options{}
	cmd := &cobra.Command{
		Use:           "scheduler",
		Short:         "Start synq runs when they are due and serve the control API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.redisURL, "redis-url", envOr("REDIS_URL", redisconn.DefaultURL), "Redis URL: redis://, rediss:// or redis+sentinel://host:port,…/<master-name> (env REDIS_URL)")
	f.DurationVar(&o.tick, "tick", 1*time.Second, "how often due syncs are checked")
	f.DurationVar(&o.reapEvery, "reap-every", 10*time.Second, "how often the leader fails runs nobody will move on (lost tasks, executors lost on the last attempt, syncs no longer declared)")
	f.StringVar(&o.id, "id", os.Getenv("SYNQ_SCHEDULER_ID"), "replica id in the leader lease (env SYNQ_SCHEDULER_ID; default random)")
	f.StringVar(&o.controlAddr, "control-addr", envOr("SYNQ_CONTROL_ADDR", control.DefaultAddr), "control API listen address (env SYNQ_CONTROL_ADDR)")
	f.StringVar(&o.consoleAddr, "console-addr", envOr("SYNQ_CONSOLE_ADDR", console.DefaultAddr), "web console listen address, \"off\" to serve none (env SYNQ_CONSOLE_ADDR); same token and loopback rule as the control API")
	f.StringVar(&o.token, "control-token", os.Getenv("SYNQ_CONTROL_TOKEN"), "bearer token ctl must send (env SYNQ_CONTROL_TOKEN); without one the API listens on loopback only")
	f.StringVar(&o.tlsCert, "tls-cert", os.Getenv("SYNQ_CONTROL_TLS_CERT"), "TLS certificate file for the control API (env SYNQ_CONTROL_TLS_CERT)")
	f.StringVar(&o.tlsKey, "tls-key", os.Getenv("SYNQ_CONTROL_TLS_KEY"), "TLS key file for the control API (env SYNQ_CONTROL_TLS_KEY)")
	f.StringVar(&o.metricsAddr, "metrics-addr", os.Getenv("SYNQ_METRICS_ADDR"), "serve Prometheus metrics at /metrics on this address (env SYNQ_METRICS_ADDR)")
	f.StringVar(&o.logLevel, "log-level", envOr("SYNQ_LOG_LEVEL", "info"), "debug, info, warn or error (env SYNQ_LOG_LEVEL)")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		var ue usageError
		if errors.As(err, &ue) || isFlagError(err) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func isFlagError(err error) bool {
	// cobra reports unknown flags and bad values with these prefixes.
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "invalid argument", "flag needs", "unknown command", "accepts "} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}

func serve(ctx context.Context, o options) error {
	level, err := logging.ParseLevel(o.logLevel)
	if err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	format, err := logging.ParseFormat(os.Getenv(logging.FormatVar), os.Stderr)
	if err != nil {
		return usageError{err}
	}
	log := logging.New(os.Stderr, level, format)
	logging.Install(log)
	control.RouteGRPCLog()
	target, err := redisconn.Parse(o.redisURL)
	if err != nil {
		return err
	}
	client, err := target.Open(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	// While Redis is unreachable the scheduler keeps running; the monitor
	// logs the outage once, instead of a failed tick a second.
	mon, err := redisconn.NewMonitor(redisconn.Config{Client: client, Where: target.Where(), Logger: log, WatchCommands: true})
	if err != nil {
		return err
	}
	log = slog.New(mon.Handler(log.Handler()))
	_ = mon.Start(ctx)
	defer mon.Stop(context.Background())
	op, err := ops.New(ops.Config{Redis: client, Logger: log})
	if err != nil {
		return err
	}
	var m *metrics.Metrics
	if o.metricsAddr != "" {
		m = metrics.NewScheduler()
		ms, err := m.Listen(o.metricsAddr, log)
		if err != nil {
			return err
		}
		_ = ms.Start(ctx)
		defer ms.Stop(context.Background())
		log.Info("serving metrics", "addr", ms.Addr())
	}
	s, err := scheduler.New(scheduler.Config{Ops: op, ID: o.id, Tick: o.tick, ReapEvery: o.reapEvery, Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together: give both or neither")}
	}
	p, err := pacer.New(pacer.Config{Redis: client, Logger: log})
	if err != nil {
		return err
	}
	svc, err := control.New(control.Config{Ops: op, Pacer: p, Token: o.token, Logger: log})
	if err != nil {
		return err
	}
	lis, err := control.Listen(o.controlAddr, o.token != "", log)
	if err != nil {
		return err
	}
	var gopts []grpc.ServerOption
	if o.tlsCert != "" {
		creds, err := credentials.NewServerTLSFromFile(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("control API TLS: %w", err)
		}
		gopts = append(gopts, grpc.Creds(creds))
	}
	gs := svc.NewGRPCServer(gopts...)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	if err := s.Start(ctx); err != nil {
		gs.Stop()
		return err
	}
	if o.consoleAddr != "" && o.consoleAddr != "off" {
		con, err := console.New(console.Config{Ops: op, Token: o.token, SchedulerID: s.ID(), Logger: log})
		if err != nil {
			return err
		}
		clis, err := control.ListenAs("console", console.DefaultAddr, o.consoleAddr, o.token != "", log)
		if err != nil {
			gs.Stop()
			_ = s.Stop(context.Background())
			return err
		}
		go func() {
			if err := con.Serve(ctx, clis, o.tlsCert, o.tlsKey); err != nil {
				log.Error("console stopped serving", "err", err)
			}
		}()
		scheme := "http"
		if o.tlsCert != "" {
			scheme = "https"
		}
		log.Info("serving the console", "url", scheme+"://"+clis.Addr().String()+"/")
	}
	log.Info("scheduler started", "redis", target.String(), "control_addr", lis.Addr().String(), "tls", o.tlsCert != "", "auth", o.token != "")
	select {
	case <-ctx.Done():
	case err := <-served:
		_ = s.Stop(context.Background())
		return fmt.Errorf("control API: %w", err)
	}
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

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
