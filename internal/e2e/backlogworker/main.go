// Command backlogworker is the executor of the end-to-end tests of syncing
// into a database people already have: a worker "backlog" whose sync
// "backlogSync" (replace) writes to the Backlog of
// notiontest.SeedBacklog.
//
// Env: the executor's own, plus E2E_BACKLOG (the database's URL),
// E2E_BACKLOG_CONFLICT=1 (declare "Estimate" as a number, which the
// Backlog has as rich text: refused at start-up) and E2E_BACKLOG_UPSTREAM
// (a JSON file read by every Execute: {"lost": [i…], "changed": [i…],
// "extra": ["key"…]}: the Backlog's rows T-001… minus lost, with Points+100
// for changed, plus extra keys).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"slices"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

type upstream struct {
	Lost    []int    `json:"lost"`
	Changed []int    `json:"changed"`
	Extra   []string `json:"extra"`
}

func main() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "backlog"})
	props := schema.Properties{
		"Name":          schema.Title(),
		"Status":        schema.Select(schema.Option{Name: "Open"}, schema.Option{Name: "Done"}),
		"Points":        schema.Number(),
		"Estimate days": schema.Number(),
	}
	if os.Getenv("E2E_BACKLOG_CONFLICT") == "1" {
		delete(props, "Estimate days")
		props["Estimate"] = schema.Number()
	}
	db := w.Database("backlog", synq.DatabaseConfig{Existing: os.Getenv("E2E_BACKLOG"), PrimaryKey: "Name", Schema: props})
	synq.AddSync(w, "backlogSync", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual",
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			var up upstream
			if f := os.Getenv("E2E_BACKLOG_UPSTREAM"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return synq.Result[struct{}]{}, err
				}
				if err := json.Unmarshal(b, &up); err != nil {
					return synq.Result[struct{}]{}, fmt.Errorf("%s: %w", f, err)
				}
			}
			var res synq.Result[struct{}]
			for i := 1; i <= notiontest.BacklogKeyed; i++ {
				if slices.Contains(up.Lost, i) {
					continue
				}
				p := notiontest.BacklogPoints(i)
				if slices.Contains(up.Changed, i) {
					p += 100
				}
				res.Changes = append(res.Changes, synq.Upsert(notiontest.BacklogKey(i), builder.Properties{
					"Status": builder.Select(notiontest.BacklogStatus(i)), "Points": builder.Number(p)}))
			}
			for _, k := range up.Extra {
				res.Changes = append(res.Changes, synq.Upsert(k, builder.Properties{"Status": builder.Select("Open"), "Points": builder.Number(1), "Estimate days": builder.Number(2)}))
			}
			return res, nil
		}})
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		log.Fatal(err)
	}
}
