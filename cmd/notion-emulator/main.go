// Command notion-emulator serves a Notion API emulator (API version
// 2025-09-03) for tests and the local stack, with a read-only web page at
// / that shows what syncs wrote.
//
//	notion-emulator --addr=127.0.0.1:7070 --data-dir=./notion-data
//	notion-emulator healthcheck --url=http://127.0.0.1:7070/healthz
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/cli"
	"github.com/synqhq/synq/internal/emulator"
)

func main() { cli.Main(newRoot()) }

func newRoot() *cobra.Command {
	var (
		addr, dataDir, faults, logLevel, webURL, latency string
		tokens                                           []string
		rateLimit, workspaceRateLimit, queryLimit        int
	)
	envRate, envQueryLimit := emulator.RateLimitDefault, emulator.QueryResultLimitDefault
	root := &cobra.Command{
		Use:   "notion-emulator",
		Short: "Serve a Notion API emulator for tests and the local stack",
		Args:  cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if v := os.Getenv("NOTION_EMULATOR_RATE_LIMIT"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return cli.Usagef("NOTION_EMULATOR_RATE_LIMIT=%q: want requests per 60 s, or 0 for none", v)
				}
				envRate = n
			}
			if v := os.Getenv("NOTION_EMULATOR_QUERY_RESULT_LIMIT"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return cli.Usagef("NOTION_EMULATOR_QUERY_RESULT_LIMIT=%q: want the most results one query returns (Notion's is %d)", v, emulator.QueryResultLimitDefault)
				}
				envQueryLimit = n
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("rate-limit") {
				rateLimit = envRate
			}
			if !cmd.Flags().Changed("query-result-limit") {
				queryLimit = envQueryLimit
			}
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			f, err := emulator.ParseFaults(faults)
			if err != nil {
				return cli.Usagef("--faults: %w", err)
			}
			if rateLimit < 0 {
				return cli.Usagef("--rate-limit %d: want requests per 60 s, or 0 for none", rateLimit)
			}
			if workspaceRateLimit < 0 {
				return cli.Usagef("--workspace-rate-limit %d: want requests per 60 s, or 0 for none", workspaceRateLimit)
			}
			lat, err := emulator.ParseLatency(latency)
			if err != nil {
				return cli.Usagef("--latency: %w", err)
			}
			if queryLimit < 1 {
				return cli.Usagef("--query-result-limit %d: want the most results one query returns (Notion's is %d)", queryLimit, emulator.QueryResultLimitDefault)
			}
			return serve(cmd.Context(), emulator.Config{Addr: addr, Tokens: tokens, DataDir: dataDir, RateLimit: rateLimit, WorkspaceRateLimit: workspaceRateLimit,
				Faults: f, Latency: lat, QueryResultLimit: queryLimit, Logger: log, WebURL: webURL}, log)
		},
	}
	fl := root.Flags()
	fl.StringVar(&addr, "addr", cli.EnvOr("NOTION_EMULATOR_ADDR", emulator.AddrDefault), "listen address (env NOTION_EMULATOR_ADDR)")
	fl.StringSliceVar(&tokens, "token", splitList(os.Getenv("NOTION_EMULATOR_TOKEN")), "accepted integration token, repeatable; none accepts any token (env NOTION_EMULATOR_TOKEN, comma-separated)")
	fl.StringVar(&dataDir, "data-dir", os.Getenv("NOTION_EMULATOR_DATA_DIR"), "keep data here across restarts; empty keeps it in memory (env NOTION_EMULATOR_DATA_DIR)")
	fl.IntVar(&rateLimit, "rate-limit", emulator.RateLimitDefault, "requests per 60 s per token, like Notion; 0 turns it off (env NOTION_EMULATOR_RATE_LIMIT)")
	fl.IntVar(&workspaceRateLimit, "workspace-rate-limit", 0, "requests per 60 s for every token together (the workspace's budget); 0 turns it off")
	fl.StringVar(&faults, "faults", os.Getenv("NOTION_EMULATOR_FAULTS"), `inject faults, e.g. "500=0.05,503=0.02,stall=0.01,stall_for=20s,applied503=0.05,applied500=0.02,429=0.02,429_reason=workspace_rate_limit,429_retry_after=90s,seed=1" (env NOTION_EMULATOR_FAULTS)`)
	fl.StringVar(&latency, "latency", os.Getenv("NOTION_EMULATOR_LATENCY"), `how long every request takes, like api.notion.com: a duration ("300ms") or a range drawn uniformly per request ("200ms-400ms"); empty answers at once (env NOTION_EMULATOR_LATENCY)`)
	fl.IntVar(&queryLimit, "query-result-limit", emulator.QueryResultLimitDefault, "the most results one data source query returns, like Notion's 10,000; past it has_more is false and request_status says incomplete (env NOTION_EMULATOR_QUERY_RESULT_LIMIT)")
	fl.StringVar(&webURL, "web-url", os.Getenv("NOTION_EMULATOR_WEB_URL"), "where people reach this emulator's web view (the url of databases and pages points there); default http://<listen address> (env NOTION_EMULATOR_WEB_URL)")
	fl.StringVar(&logLevel, "log-level", cli.EnvOr("NOTION_EMULATOR_LOG_LEVEL", "info"), "debug logs every request (env NOTION_EMULATOR_LOG_LEVEL)")
	root.AddCommand(cli.Healthcheck("emulator", "http://"+emulator.AddrDefault+"/healthz"))
	return root
}

func serve(ctx context.Context, cfg emulator.Config, log *slog.Logger) error {
	s, err := emulator.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	limit := "off"
	if cfg.RateLimit > 0 {
		limit = fmt.Sprintf("%d requests/60s per token", cfg.RateLimit)
	}
	tokens := "any"
	if len(cfg.Tokens) > 0 {
		tokens = strconv.Itoa(len(cfg.Tokens))
	}
	log.Info("notion emulator listening", "url", s.URL(), "api_version", emulator.Version, "data_dir", cfg.DataDir, "rate_limit", limit, "tokens", tokens,
		"latency", cfg.Latency.String(), "query_result_limit", cfg.QueryResultLimit)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("notion emulator stopped")
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
