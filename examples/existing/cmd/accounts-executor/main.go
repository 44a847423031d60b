// Command accounts-executor runs the example sync into an existing Notion
// database (package accounts): set ACCOUNTS_DATABASE_URL, HELPDESK_API_URL
// and the executor's own variables (REDIS_URL, NOTION_API_TOKEN).
package main

import (
	"context"
	"log"
	"os"

	"github.com/synqhq/synq"
	accounts "github.com/synqhq/synq/examples/existing"
)

func main() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "accounts"})
	if err := accounts.Register(w, accounts.Config{DatabaseURL: os.Getenv("ACCOUNTS_DATABASE_URL"), HelpdeskURL: os.Getenv("HELPDESK_API_URL")}); err != nil {
		log.Fatal(err)
	}
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		log.Fatal(err)
	}
}
