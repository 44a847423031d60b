// Package synq declares syncs: functions that pull records page by page from
// an external API and upsert them into Notion databases.
//
// A worker declares managed databases (a schema and a primary key), pacers
// (rate budgets shared by syncs and by every executor process) and syncs
// (a database, a mode, a schedule and an Execute function with a typed
// state). An executor binary — yours, a main that declares a worker and calls
// RunExecutor — runs the syncs' pages as the scheduler enqueues them:
//
//	w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk"})
//	tickets := w.Database("tickets", synq.DatabaseConfig{
//		InitialTitle: "Tickets",
//		PrimaryKey:   "Ticket ID",
//		Schema: schema.Properties{
//			"Ticket ID": schema.Title(),
//			"Status":    schema.Select(schema.Options("open", "closed")...),
//		},
//	})
//	synq.AddSync(w, "ticketsBackfill", synq.SyncConfig[Cursor]{
//		Database: tickets,
//		Schedule: "manual",
//		Execute: func(ctx context.Context, c *Cursor) (synq.Result[Cursor], error) { … },
//	})
//
// Execute is called once per page. It returns the page's changes, whether
// more pages follow and the state for the next page. The platform writes
// the changes to Notion (upserts by key, which are idempotent), then commits
// the state in Redis in one step with the run's next step (next page, park
// or end; see docs/state_machine.md). A page that crashes before its commit
// is retried from the last committed state: its writes are sent again and,
// being upserts by key, leave one row per key; a committed page is never
// run again.
//
// In Replace mode (the default) each cycle returns the whole dataset and rows
// not seen in a completed cycle are trashed. In Incremental mode each run
// returns changes and explicit deletes, and the state persists across runs.
//
// Mistakes in declarations are reported by Worker.Validate (and at executor
// start-up), naming the key and the fix. Package synqtest tests syncs: one
// Execute offline with the checks an executor applies, or whole runs
// against a throwaway Redis and a Notion emulator.
package synq
