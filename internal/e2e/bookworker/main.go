// Command bookworker is a second user executor for the end-to-end tests: a
// worker named "books" with its own database and syncs, to run beside the
// test worker on one Redis.
//
// Env: the executor's own, plus E2E_CLASH (declare one more sync under
// this key, to test that a key two workers declare is refused).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

type cursor struct {
	Page int `json:"page"`
}

func main() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "books"})
	books := w.Database("books", synq.DatabaseConfig{
		InitialTitle: "Books",
		PrimaryKey:   "ISBN",
		Schema:       schema.Properties{"ISBN": schema.Title(), "Shelf": schema.Number()},
	})
	exec := func(pages int) func(context.Context, *cursor) (synq.Result[cursor], error) {
		return func(ctx context.Context, c *cursor) (synq.Result[cursor], error) {
			res := synq.Result[cursor]{HasMore: c.Page+1 < pages, NextState: &cursor{Page: c.Page + 1}}
			for i := range 3 {
				res.Changes = append(res.Changes, synq.Upsert(fmt.Sprintf("978-%d-%d", c.Page, i), builder.Properties{"Shelf": builder.Int(int64(c.Page))}))
			}
			return res, nil
		}
	}
	synq.AddSync(w, "booksSync", synq.SyncConfig[cursor]{Database: books, Schedule: "manual", Execute: exec(2)})
	synq.AddSync(w, "booksDelta", synq.SyncConfig[cursor]{Database: books, Mode: synq.Incremental, Schedule: "manual", Execute: exec(1)})
	if k := os.Getenv("E2E_CLASH"); k != "" {
		synq.AddSync(w, k, synq.SyncConfig[cursor]{Database: books, Schedule: "manual", Execute: exec(1)})
	}
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		log.Fatal(err)
	}
}
