// Command executor is synq's bundled executor: it runs the demo's syncs
// (package examples/helpdesk) against the helpdesk API at
// HELPDESK_API_URL. Scale it horizontally: every executor pulls page
// tasks from the same Redis.
//
// Your own executor is the same dozen lines with your syncs registered:
// see docs/writing-syncs.md.
//
// Configuration is the environment (REDIS_URL, NOTION_API_TOKEN,
// NOTION_API_BASE_URL, NOTION_PARENT_PAGE_ID, SYNQ_NOTION_RATE_LIMIT,
// SYNQ_CONCURRENCY, SYNQ_WRITE_CONCURRENCY, SYNQ_POLL_INTERVAL, SYNQ_METRICS_ADDR, SYNQ_LOG_LEVEL, SYNQ_LOG_FORMAT,
// HELPDESK_API_URL); see docs/operations.md, "Configuration". It takes no flags;
// `executor healthcheck` asks a running executor's /healthz (on
// SYNQ_METRICS_ADDR), for container health checks.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/examples/helpdesk"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		if err := synq.Healthcheck(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "executor:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 {
		// No flags: everything is environment, as in a container.
		fmt.Fprintln(os.Stderr, "executor: takes no arguments (but healthcheck); configure it with environment variables (see docs/operations.md, Configuration)")
		os.Exit(2)
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "synq-demo"})
	url := os.Getenv("HELPDESK_API_URL")
	if url == "" {
		url = "http://127.0.0.1:7080"
	}
	if err := helpdesk.Register(w, helpdesk.Config{BaseURL: url}); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(2)
	}
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(1)
	}
}
