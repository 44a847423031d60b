package synq_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// ticket is what a helpdesk API returns.
type ticket struct {
	ID, Title, Status string
	Updated           time.Time
	Deleted           bool
}

// fetchTickets stands in for a paginated helpdesk API call.
func fetchTickets(ctx context.Context, cursor string, since time.Time) (tickets []ticket, next string, err error) {
	return []ticket{{ID: "T-1", Title: "Printer on fire", Status: "open", Updated: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}}, "", nil
}

func ticketProperties(t ticket) builder.Properties {
	return builder.Properties{
		"Title":  builder.RichText(t.Title),
		"Status": builder.Select(t.Status),
	}
}

// DeltaState is ticketsDelta's state: where the last run stopped.
type DeltaState struct {
	Since  time.Time `json:"since"`
	Cursor string    `json:"cursor,omitempty"`
}

// BackfillState is ticketsBackfill's state: the next page's cursor.
type BackfillState struct {
	Cursor string `json:"cursor,omitempty"`
}

// The seed's pair: an incremental delta every five minutes and a manual
// replace backfill, writing one database and sharing one pacer, so together
// they never call the helpdesk faster than it allows.
func Example() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk"})

	tickets := w.Database("tickets", synq.DatabaseConfig{
		InitialTitle: "Tickets",
		PrimaryKey:   "Ticket ID",
		Schema: schema.Properties{
			"Ticket ID": schema.Title(),
			"Title":     schema.RichText(),
			"Status":    schema.Select(schema.Options("open", "pending", "closed")...),
		},
	})
	helpdesk := w.Pacer("helpdeskApi", synq.PacerConfig{AllowedRequests: 10, Interval: time.Second})

	synq.AddSync(w, "ticketsDelta", synq.SyncConfig[DeltaState]{
		Database: tickets,
		Mode:     synq.Incremental,
		Schedule: "5m",
		Pacers:   []*synq.Pacer{helpdesk},
		Execute: func(ctx context.Context, s *DeltaState) (synq.Result[DeltaState], error) {
			if err := helpdesk.Wait(ctx); err != nil {
				return synq.Result[DeltaState]{}, err
			}
			page, next, err := fetchTickets(ctx, s.Cursor, s.Since)
			if err != nil {
				return synq.Result[DeltaState]{}, err
			}
			res := synq.Result[DeltaState]{HasMore: next != "", NextState: &DeltaState{Since: s.Since, Cursor: next}}
			for _, t := range page {
				if t.Deleted {
					res.Changes = append(res.Changes, synq.Delete(t.ID))
					continue
				}
				res.Changes = append(res.Changes, synq.Upsert(t.ID, ticketProperties(t)).UpdatedAt(t.Updated))
				if t.Updated.After(res.NextState.Since) {
					res.NextState.Since = t.Updated
				}
			}
			return res, nil
		},
	})

	synq.AddSync(w, "ticketsBackfill", synq.SyncConfig[BackfillState]{
		Database: tickets,
		Schedule: "manual",
		Pacers:   []*synq.Pacer{helpdesk},
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			if err := helpdesk.Wait(ctx); err != nil {
				return synq.Result[BackfillState]{}, err
			}
			page, next, err := fetchTickets(ctx, s.Cursor, time.Time{})
			if err != nil {
				return synq.Result[BackfillState]{}, err
			}
			res := synq.Result[BackfillState]{HasMore: next != "", NextState: &BackfillState{Cursor: next}}
			for _, t := range page {
				res.Changes = append(res.Changes, synq.Upsert(t.ID, ticketProperties(t)).UpdatedAt(t.Updated))
			}
			return res, nil
		},
	})

	if err := w.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("declarations are valid")
	// Output: declarations are valid
}

// Every declaration mistake is reported at start-up with the key and the fix.
func ExampleWorker_Validate() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "demo"})
	customers := w.Database("customers", synq.DatabaseConfig{
		InitialTitle: "Customers",
		PrimaryKey:   "ID",
		Schema:       schema.Properties{"Name": schema.Title()},
	})
	synq.AddSync(w, "customersSync", synq.SyncConfig[struct{}]{
		Database: customers,
		Schedule: "1m",
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{}, nil
		},
	})
	fmt.Println(w.Validate())
	// Output:
	// worker "demo": invalid declarations:
	// database "customers": PrimaryKey "ID" is not in the schema: add it (e.g. "ID": schema.Title()) or name one of "Name"
	// sync "customersSync": schedule "1m" is outside 5m–7d: use an interval between "5m" and "7d" (or "continuous")
}

// A change names the row by primary key; UpdatedAt lets a stale write be
// skipped and In targets another database of the worker.
func ExampleUpsert() {
	c := synq.Upsert("T-1", builder.Properties{
		"Title":  builder.RichText("Printer on fire"),
		"Status": builder.Select("open"),
	}).UpdatedAt(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)).WithIcon("🔥")
	fmt.Println(c.Key(), c.Properties()["Status"])
	// Output: T-1 open
}

// An upsert can carry the row's page body as Markdown: written with the
// row, then updated block by block (an unchanged body costs no call, a
// changed paragraph one). An upsert without Content leaves the body in
// Notion alone; Content("") empties it.
func ExampleChange_Content() {
	description := "The label printer prints **blank labels** since Monday.\n\n" +
		"1. Open the *Shipping* app\n" +
		"2. Print any label\n\n" +
		"```console\n$ lpstat -t\nprinter zebra01 disabled\n```\n"
	withBody := synq.Upsert("T-1", builder.Properties{"Status": builder.Select("open")}).Content(description)
	propertiesOnly := synq.Upsert("T-1", builder.Properties{"Status": builder.Select("closed")})
	emptied := synq.Upsert("T-2", nil).Content("")
	for _, c := range []synq.Change{withBody, propertiesOnly, emptied} {
		md, set := c.PageContent()
		first, _, _ := strings.Cut(md, "\n")
		fmt.Printf("%s: body set %v: %q\n", c.Key(), set, first)
	}
	// Output:
	// T-1: body set true: "The label printer prints **blank labels** since Monday."
	// T-1: body set false: ""
	// T-2: body set true: ""
}
