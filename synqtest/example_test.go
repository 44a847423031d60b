package synqtest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
	"github.com/synqhq/synq/synqtest"
)

// Ticket is a record of the upstream API the example syncs read; the
// tests below keep the API in memory (an httptest.Server serving recorded
// answers works the same).
type Ticket struct {
	ID, Title, Status string
	Tags              []string
	Body              string
	Updated           time.Time
	Deleted           bool
}

// Cursor is the syncs' state: the index of the next ticket to read.
type Cursor struct {
	Next int `json:"next"`
}

// helpdesk declares a worker with a tickets database, a replace sync and
// an incremental sync of api, two tickets a page.
func helpdesk(api *[]Ticket) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk"})
	tickets := w.Database("tickets", synq.DatabaseConfig{
		InitialTitle: "Tickets",
		PrimaryKey:   "Ticket ID",
		Schema: schema.Properties{
			"Ticket ID": schema.Title(),
			"Title":     schema.RichText(),
			"Status":    schema.Select(schema.Options("open", "closed")...),
			"Tags":      schema.MultiSelect(),
			"Updated":   schema.Date(),
		},
	})
	page := func(c *Cursor, change func(Ticket) synq.Change) (synq.Result[Cursor], error) {
		end := min(c.Next+2, len(*api))
		res := synq.Result[Cursor]{HasMore: end < len(*api), NextState: &Cursor{Next: end}}
		for _, t := range (*api)[c.Next:end] {
			res.Changes = append(res.Changes, change(t))
		}
		return res, nil
	}
	upsert := func(t Ticket) synq.Change {
		return synq.Upsert(t.ID, builder.Properties{
			"Title":   builder.RichText(t.Title),
			"Status":  builder.Select(t.Status),
			"Tags":    builder.MultiSelect(t.Tags...),
			"Updated": builder.DateTime(t.Updated),
		}).Content(t.Body).UpdatedAt(t.Updated)
	}
	synq.AddSync(w, "ticketsBackfill", synq.SyncConfig[Cursor]{
		Database: tickets,
		Schedule: "manual",
		Execute: func(ctx context.Context, c *Cursor) (synq.Result[Cursor], error) {
			return page(c, upsert)
		},
	})
	synq.AddSync(w, "ticketsDelta", synq.SyncConfig[Cursor]{
		Database: tickets,
		Mode:     synq.Incremental,
		Schedule: "5m",
		Execute: func(ctx context.Context, c *Cursor) (synq.Result[Cursor], error) {
			return page(c, func(t Ticket) synq.Change {
				if t.Deleted {
					return synq.Delete(t.ID)
				}
				return upsert(t)
			})
		},
	})
	return w
}

var day = time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)

func upstream() *[]Ticket {
	return &[]Ticket{
		{ID: "T-1", Title: "Printer on fire", Status: "open", Tags: []string{"hardware"}, Body: "It **smokes**.\n\n- unplug it\n- call facilities", Updated: day},
		{ID: "T-2", Title: "Cannot log in", Status: "closed", Updated: day.Add(time.Hour)},
		{ID: "T-3", Title: "Invoice is wrong", Status: "open", Tags: []string{"billing", "urgent"}, Updated: day.Add(2 * time.Hour)},
	}
}

// One Execute, offline: the changes as an executor would write them,
// checked against the schema and Notion's limits.
func ExampleExecute() {
	t := newT() // in a test: the test's *testing.T
	defer t.done()

	w := helpdesk(upstream())
	page := synqtest.Execute(t, w, "ticketsBackfill", &Cursor{})

	fmt.Println(page.Keys(), "more:", page.HasMore, "next:", page.NextState.Next)
	c, _ := page.Change("T-1")
	fmt.Println(c.Properties["Ticket ID"], c.Properties["Status"], c.Properties["Tags"])
	fmt.Println(c.Properties["Updated"] == synqtest.Plain(builder.DateTime(day)))
	// Output:
	// [T-1 T-2] more: true next: 2
	// T-1 open [hardware]
	// true
}

// An invalid change fails the page before anything is written, with an
// error that names the sync, the key, the property and what to change.
func ExampleTryExecute() {
	t := newT()
	defer t.done()

	api := upstream()
	(*api)[1].Status = "pending, really" // Notion allows no comma in an option
	_, err := synqtest.TryExecute(t, helpdesk(api), "ticketsBackfill", &Cursor{})
	fmt.Println(err)
	// Output:
	// sync "ticketsBackfill": database "tickets": key "T-2": property "Status": option "pending, really" contains a comma, which Notion does not allow
}

// A whole run against Redis and the Notion emulator: every page, then the
// rows as Notion holds them, page bodies as Markdown.
func ExampleRun() {
	t := newT()
	defer t.done()

	res := synqtest.Run(t, helpdesk(upstream()), "ticketsBackfill")

	fmt.Println(res.Pages, "pages,", res.Counts.Created, "rows created")
	for _, key := range res.Rows.Keys() {
		row := res.Rows[key]
		fmt.Println(key, row.Properties["Title"], row.Properties["Status"], row.Properties["Tags"])
	}
	fmt.Println(res.Rows["T-1"].Content)
	// Output:
	// 2 pages, 3 rows created
	// T-1 Printer on fire open [hardware]
	// T-2 Cannot log in closed []
	// T-3 Invoice is wrong open [billing urgent]
	// It **smokes**.
	//
	// - unplug it
	// - call facilities
}

// Several runs on one Redis and emulator: an incremental sync run again
// after the upstream changed writes only what changed, and deletes what
// the upstream deleted.
func ExampleNewEnv() {
	t := newT()
	defer t.done()

	api := upstream()
	env := synqtest.NewEnv(t, helpdesk(api))
	first := env.Run("ticketsDelta")
	fmt.Println("first run:", first.Rows.Keys())

	// The upstream changes: T-1 is closed, T-2 deleted, T-4 opened. This
	// upstream lists only what changed since the cursor.
	*api = append(*api,
		Ticket{ID: "T-1", Title: "Printer on fire", Status: "closed", Tags: []string{"hardware"}, Updated: day.Add(24 * time.Hour)},
		Ticket{ID: "T-2", Deleted: true},
		Ticket{ID: "T-4", Title: "Need more seats", Status: "open", Updated: day.Add(25 * time.Hour)},
	)
	second := env.Run("ticketsDelta")
	fmt.Println("second run:", second.Rows.Keys(), "T-1 is", second.Rows["T-1"].Properties["Status"])
	fmt.Printf("created %d, updated %d, trashed %d\n", second.Counts.Created, second.Counts.Updated, second.Counts.Trashed)

	var c Cursor
	env.State("ticketsDelta", &c)
	fmt.Println("cursor:", c.Next)
	// Output:
	// first run: [T-1 T-2 T-3]
	// second run: [T-1 T-3 T-4] T-1 is closed
	// created 1, updated 1, trashed 1
	// cursor: 6
}

// Notion failing one call in four (500s, and writes applied but answered
// 503): the rows come out the same, each written once.
func ExampleNotionFaults() {
	t := newT()
	defer t.done()

	res := synqtest.Run(t, helpdesk(upstream()), "ticketsBackfill", synqtest.NotionFaults("500=0.15,applied503=0.1,seed=3"))
	fmt.Println(res.Rows.Keys())
	// Output:
	// [T-1 T-2 T-3]
}

// exampleT stands in for the *testing.T of a test, which an Example
// function does not have: Fatalf panics, Cleanup runs at done.
type exampleT struct {
	cleanups []func()
	logs     []string
}

func newT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                      {}
func (t *exampleT) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Logf(format string, a ...any) { t.logs = append(t.logs, fmt.Sprintf(format, a...)) }
func (t *exampleT) Fatalf(format string, a ...any) {
	panic(fmt.Sprintf(format, a...) + "\nlog:\n" + strings.Join(t.logs, "\n"))
}

func (t *exampleT) done() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
