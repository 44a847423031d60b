package helpdesk_test

import (
	"maps"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/examples/helpdesk"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/synqtest"
)

// demo serves a small demo API and declares the demo's syncs against it,
// with pages of 100 records: 110 tickets take two.
func demo(t *testing.T) (*api.Server, *synq.Worker) {
	t.Helper()
	srv, err := api.New(api.Config{Tickets: 110, Customers: 6, Teams: 2, Projects: 2, TasksPerProject: 3, Articles: 1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	w := synq.NewWorker(synq.WorkerConfig{Name: "helpdesk-test"})
	if err := helpdesk.Register(w, helpdesk.Config{BaseURL: hs.URL, HTTPClient: hs.Client(), RequestsPerSecond: 1000}); err != nil {
		t.Fatal(err)
	}
	return srv, w
}

// ticketRow is what the tickets database should hold for t.
func ticketRow(t *testing.T, tk api.Ticket) synqtest.Row {
	t.Helper()
	body, err := synqtest.Content(tk.Description)
	if err != nil {
		t.Fatalf("ticket %s: description: %v", tk.ID, err)
	}
	people := []string{}
	if tk.Assignee != "" {
		people = []string{tk.Assignee}
	}
	rel := func(id string) []string {
		if id == "" {
			return []string{}
		}
		return []string{id}
	}
	return synqtest.Row{Key: tk.ID, Content: body, Properties: map[string]any{
		"Ticket ID": tk.ID,
		"Title":     tk.Title,
		"Status":    tk.Status,
		"Priority":  tk.Priority,
		"Assignee":  people,
		"Tags":      append([]string{}, tk.Tags...),
		"Created":   synqtest.Plain(builder.DateTime(tk.CreatedAt)),
		"Updated":   synqtest.Plain(builder.DateTime(tk.UpdatedAt)),
		"Customer":  rel(tk.CustomerID),
		"Team":      rel(tk.TeamID),
	}}
}

func checkTickets(t *testing.T, got synqtest.Rows, srv *api.Server) {
	t.Helper()
	want := srv.Tickets()
	if len(got) != len(want) {
		t.Errorf("%d ticket rows, the API has %d tickets", len(got), len(want))
	}
	for id, tk := range want {
		if w := ticketRow(t, tk); !reflect.DeepEqual(got[id], w) {
			t.Errorf("ticket %s:\n got %#v\nwant %#v", id, got[id], w)
		}
	}
}

// The backfill writes every ticket as the API has it, relations to the
// customers and teams resolved, the description as the page body.
func TestBackfill(t *testing.T) {
	srv, w := demo(t)
	env := synqtest.NewEnv(t, w)
	env.Run("teamsSync")
	customers := env.Run("customersSync")
	if len(customers.Rows) != 6 || customers.Rows["C-0001"].Properties["Website"] != "https://acme.example" {
		t.Fatalf("customers: %v, C-0001 %#v", customers.Rows.Keys(), customers.Rows["C-0001"].Properties)
	}
	res := env.Run("ticketsBackfill")
	if res.Pages != 2 || res.Counts.Created != 110 || res.Counts.Unresolved != 0 {
		t.Fatalf("backfill: %d pages, counts %+v", res.Pages, res.Counts)
	}
	checkTickets(t, res.Rows, srv)
	// A second run finds nothing to write.
	if again := env.Run("ticketsBackfill"); again.Counts.Unchanged != 110 || again.Counts.Created+again.Counts.Updated != 0 {
		t.Errorf("second backfill: counts %+v", again.Counts)
	}
}

// The delta writes what changed since its last run: an update, a new
// ticket, a deletion; the backfill afterwards agrees with it.
func TestDelta(t *testing.T) {
	srv, w := demo(t)
	env := synqtest.NewEnv(t, w)
	env.Run("teamsSync")
	env.Run("customersSync")
	first := env.Run("ticketsDelta")
	checkTickets(t, first.Rows, srv)
	var st helpdesk.DeltaState
	if !env.State("ticketsDelta", &st) || st.Since.IsZero() || st.Cursor != "" {
		t.Fatalf("state after the first pass: %+v", st)
	}

	ids := slices.Sorted(maps.Keys(srv.Tickets()))
	closed, desc := "closed", "Fixed in **4.3**.\n\n- [x] verified"
	if _, err := srv.UpdateTicket(ids[0], api.TicketPatch{Status: &closed, Description: &desc, Tags: []string{"mobile"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteTicket(ids[1]); err != nil {
		t.Fatal(err)
	}
	created := srv.CreateTicket("Dark mode please")
	second := env.Run("ticketsDelta")
	// The boundary record comes again (updated_since is inclusive) and
	// costs nothing.
	if c := second.Counts; c.Updated != 1 || c.Created != 1 || c.Trashed != 1 {
		t.Fatalf("second pass: counts %+v", c)
	}
	checkTickets(t, second.Rows, srv)
	if row := second.Rows[ids[0]]; row.Content != "Fixed in **4.3**.\n\n- [x] verified" || row.Properties["Status"] != "closed" {
		t.Errorf("updated ticket %s: %#v", ids[0], row)
	}
	if _, ok := second.Rows[created.ID]; !ok {
		t.Errorf("new ticket %s missing", created.ID)
	}
	if again := env.Run("ticketsBackfill"); again.Counts.Unchanged != len(srv.Tickets()) || again.Counts.Trashed != 0 {
		t.Errorf("backfill after the delta: counts %+v", again.Counts)
	}
}

// Tasks written before their projects get their Project filled in when
// the projects are written.
func TestProjectsAndTasks(t *testing.T) {
	_, w := demo(t)
	env := synqtest.NewEnv(t, w)
	tasks := env.Run("tasksSync")
	if len(tasks.Rows) != 6 || tasks.Counts.Unresolved != 6 {
		t.Fatalf("tasks: %v, counts %+v", tasks.Rows.Keys(), tasks.Counts)
	}
	projects := env.Run("projectsSync")
	if projects.Counts.RelationsCompleted != 6 {
		t.Fatalf("projects: counts %+v", projects.Counts)
	}
	for key, row := range projects.Databases["tasks"] {
		if want := []string{key[:len("P-1")]}; !reflect.DeepEqual(row.Properties["Project"], want) {
			t.Errorf("task %s: Project %#v, want %v", key, row.Properties["Project"], want)
		}
		if _, ok := row.Properties["Due"].(builder.DateValue); !ok {
			t.Errorf("task %s: Due %#v", key, row.Properties["Due"])
		}
	}
	if st := projects.Rows["P-1"].Properties["Status"]; !slices.Contains([]any{"planned", "active", "done"}, st) {
		t.Errorf("P-1's status %#v", st)
	}
}
