// Package helpdesk holds the syncs of synq's demo: they copy the demo
// helpdesk API (package api, command helpdesk) into five Notion
// databases.
//
//   - ticketsDelta (incremental, every 5 minutes) and ticketsBackfill
//     (replace, manual) write one database and share one pacer, so
//     together they never call the API faster than it allows; each
//     ticket's Markdown description becomes its row's page body (Content);
//   - customersSync and teamsSync (replace) fill the databases tickets
//     relate to;
//   - projectsSync and tasksSync (replace) fill two databases related
//     two-way (a task's Project, a project's Tasks).
//
// Register declares them all on a worker; cmd/executor runs them.
package helpdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/schema"
)

// Config says where the helpdesk API is.
type Config struct {
	// BaseURL of the API, e.g. http://127.0.0.1:7080 (env HELPDESK_API_URL).
	BaseURL string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// RequestsPerSecond is the pacer's budget for the API, shared by every
	// sync and executor; default 10 (the demo API allows 20 per client).
	RequestsPerSecond int
}

// WebhookSecretEnv names the environment variable with the secret the
// helpdesk API signs its webhook events with (its --webhook-secret).
const WebhookSecretEnv = "HELPDESK_WEBHOOK_SECRET"

// Register declares the demo's databases, pacer and syncs on w.
func Register(w *synq.Worker, cfg Config) error {
	if cfg.BaseURL == "" {
		return errors.New("helpdesk: BaseURL is empty: set HELPDESK_API_URL to the demo API, e.g. http://127.0.0.1:7080")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("helpdesk: BaseURL %q is not an http(s) URL: set HELPDESK_API_URL like http://127.0.0.1:7080", cfg.BaseURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = 10
	}
	c := &client{base: strings.TrimRight(cfg.BaseURL, "/"), http: cfg.HTTPClient}

	people := func(email string) builder.Value {
		if email == "" {
			return builder.People()
		}
		return builder.People(email)
	}

	teams := w.Database("teams", synq.DatabaseConfig{
		InitialTitle: "Teams",
		PrimaryKey:   "Team ID",
		Schema: schema.Properties{
			"Name":    schema.Title(),
			"Team ID": schema.RichText(),
			"Lead":    schema.People(),
		},
	})
	customers := w.Database("customers", synq.DatabaseConfig{
		InitialTitle: "Customers",
		PrimaryKey:   "Customer ID",
		Schema: schema.Properties{
			"Name":        schema.Title(),
			"Customer ID": schema.RichText(),
			"Email":       schema.Email(),
			"Plan":        schema.Select(schema.Option{Name: "free", Color: schema.Gray}, schema.Option{Name: "pro", Color: schema.Blue}, schema.Option{Name: "enterprise", Color: schema.Purple}),
			"Country":     schema.Select(),
			"Website":     schema.URL(),
			"Updated":     schema.Date(),
		},
	})
	tickets := w.Database("tickets", synq.DatabaseConfig{
		InitialTitle: "Tickets",
		PrimaryKey:   "Ticket ID",
		Schema: schema.Properties{
			"Title":     schema.Title(),
			"Ticket ID": schema.RichText(),
			"Status":    schema.Select(schema.Option{Name: "open", Color: schema.Red}, schema.Option{Name: "pending", Color: schema.Yellow}, schema.Option{Name: "closed", Color: schema.Green}),
			"Priority":  schema.Select(schema.Options("low", "normal", "high", "urgent")...),
			"Customer":  schema.Relation("customers"),
			"Team":      schema.Relation("teams"),
			"Assignee":  schema.People(),
			"Tags":      schema.MultiSelect(),
			"Created":   schema.Date(),
			"Updated":   schema.Date(),
		},
	})
	projects := w.Database("projects", synq.DatabaseConfig{
		InitialTitle: "Projects",
		PrimaryKey:   "Project ID",
		Schema: schema.Properties{
			"Name":       schema.Title(),
			"Project ID": schema.RichText(),
			"Status": schema.Status(schema.Options("planned", "active", "done"),
				schema.StatusGroup{Name: "To-do", Options: []string{"planned"}},
				schema.StatusGroup{Name: "In progress", Options: []string{"active"}},
				schema.StatusGroup{Name: "Complete", Options: []string{"done"}}),
			"Owner": schema.People(),
		},
	})
	tasks := w.Database("tasks", synq.DatabaseConfig{
		InitialTitle: "Tasks",
		PrimaryKey:   "Task ID",
		Schema: schema.Properties{
			"Title":   schema.Title(),
			"Task ID": schema.RichText(),
			"Project": schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"}),
			"Done":    schema.Checkbox(),
			"Due":     schema.Date(),
		},
	})

	// One pacer for the API, shared by every sync that calls it: the
	// delta and the backfill running together split it instead of each
	// assuming it has the API to itself.
	helpdeskAPI := w.Pacer("helpdeskApi", synq.PacerConfig{AllowedRequests: cfg.RequestsPerSecond, Interval: time.Second})
	pacers := []*synq.Pacer{helpdeskAPI}

	ticketProps := func(t api.Ticket) builder.Properties {
		p := builder.Properties{
			"Title":    builder.Title(t.Title),
			"Status":   builder.Select(t.Status),
			"Priority": builder.Select(t.Priority),
			"Assignee": people(t.Assignee),
			"Tags":     builder.MultiSelect(t.Tags...),
			"Created":  builder.DateTime(t.CreatedAt),
			"Updated":  builder.DateTime(t.UpdatedAt),
			"Customer": builder.Relation(),
			"Team":     builder.Relation(),
		}
		if t.CustomerID != "" {
			p["Customer"] = builder.Relation(t.CustomerID)
		}
		if t.TeamID != "" {
			p["Team"] = builder.Relation(t.TeamID)
		}
		return p
	}

	synq.AddSync(w, "ticketsDelta", synq.SyncConfig[DeltaState]{
		Database: tickets,
		Mode:     synq.Incremental,
		Schedule: "5m",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *DeltaState) (synq.Result[DeltaState], error) {
			return delta(ctx, c, helpdeskAPI, "tickets", s, func(t api.Ticket) synq.Change {
				if t.Deleted {
					return synq.Delete(t.ID)
				}
				return synq.Upsert(t.ID, ticketProps(t)).Content(t.Description).UpdatedAt(t.UpdatedAt)
			})
		},
	})
	// helpdeskEvents: the API sends a signed event for every ticket change
	// (helpdesk --webhook-url); the changed ticket is in Notion within a
	// second instead of at the next delta run.
	synq.AddWebhook(w, "helpdeskEvents", synq.WebhookConfig{
		Verify:   synq.VerifyHMACSHA256(api.SignatureHeader, "sha256=", WebhookSecretEnv),
		Database: tickets,
		Handle: func(ctx context.Context, d *synq.WebhookDelivery) (synq.WebhookResult, error) {
			var ev api.Event
			if err := d.JSON(&ev); err != nil {
				return synq.WebhookResult{}, err
			}
			t := ev.Ticket
			if t.ID == "" {
				return synq.WebhookResult{}, nil // not a ticket event: nothing to write
			}
			c := synq.Upsert(t.ID, ticketProps(t)).Content(t.Description).UpdatedAt(t.UpdatedAt)
			if t.Deleted {
				c = synq.Delete(t.ID).UpdatedAt(t.UpdatedAt)
			}
			return synq.WebhookResult{Changes: []synq.Change{c}}, nil
		},
	})
	synq.AddSync(w, "ticketsBackfill", synq.SyncConfig[BackfillState]{
		Database: tickets,
		Schedule: "manual",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			return backfill(ctx, c, helpdeskAPI, "tickets", s, func(t api.Ticket) synq.Change {
				return synq.Upsert(t.ID, ticketProps(t)).Content(t.Description).UpdatedAt(t.UpdatedAt)
			})
		},
	})
	synq.AddSync(w, "customersSync", synq.SyncConfig[BackfillState]{
		Database: customers,
		Schedule: "30m",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			return backfill(ctx, c, helpdeskAPI, "customers", s, func(cu api.Customer) synq.Change {
				return synq.Upsert(cu.ID, builder.Properties{
					"Name": builder.Title(cu.Name), "Email": builder.Email(cu.Email), "Plan": builder.Select(cu.Plan),
					"Country": builder.Select(cu.Country), "Website": builder.URL(cu.Website), "Updated": builder.DateTime(cu.UpdatedAt),
				}).UpdatedAt(cu.UpdatedAt)
			})
		},
	})
	synq.AddSync(w, "teamsSync", synq.SyncConfig[BackfillState]{
		Database: teams,
		Schedule: "1h",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			return backfill(ctx, c, helpdeskAPI, "teams", s, func(t api.Team) synq.Change {
				return synq.Upsert(t.ID, builder.Properties{"Name": builder.Title(t.Name), "Lead": people(t.Lead)}).UpdatedAt(t.UpdatedAt)
			})
		},
	})
	synq.AddSync(w, "projectsSync", synq.SyncConfig[BackfillState]{
		Database: projects,
		Schedule: "30m",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			return backfill(ctx, c, helpdeskAPI, "projects", s, func(p api.Project) synq.Change {
				return synq.Upsert(p.ID, builder.Properties{"Name": builder.Title(p.Name), "Status": builder.Status(p.Status), "Owner": people(p.Owner)}).
					UpdatedAt(p.UpdatedAt)
			})
		},
	})
	synq.AddSync(w, "tasksSync", synq.SyncConfig[BackfillState]{
		Database: tasks,
		Schedule: "30m",
		Pacers:   pacers,
		Execute: func(ctx context.Context, s *BackfillState) (synq.Result[BackfillState], error) {
			return backfill(ctx, c, helpdeskAPI, "tasks", s, func(t api.Task) synq.Change {
				p := builder.Properties{"Title": builder.Title(t.Title), "Project": builder.Relation(t.ProjectID), "Done": builder.Checkbox(t.Done)}
				if due, err := time.Parse("2006-01-02", t.Due); err == nil {
					p["Due"] = builder.Date(due)
				}
				return synq.Upsert(t.ID, p).UpdatedAt(t.UpdatedAt)
			})
		},
	})
	return nil
}

// DeltaState is an incremental sync's state: changes since Since, and
// the cursor within the current pass. Seen is the newest updated_at read
// in the pass; it becomes Since when the pass ends.
type DeltaState struct {
	Since  time.Time `json:"since,omitzero"`
	Cursor string    `json:"cursor,omitempty"`
	Seen   time.Time `json:"seen,omitzero"`
}

// BackfillState is a replace sync's state: the next page's cursor.
type BackfillState struct {
	Cursor string `json:"cursor,omitempty"`
}

const pageSize = 100

func backfill[T any](ctx context.Context, c *client, p *synq.Pacer, kind string, s *BackfillState, change func(T) synq.Change) (synq.Result[BackfillState], error) {
	if err := p.Wait(ctx); err != nil {
		return synq.Result[BackfillState]{}, err
	}
	var page []T
	next, err := c.list(ctx, kind, s.Cursor, time.Time{}, &page)
	if err != nil {
		return synq.Result[BackfillState]{}, err
	}
	res := synq.Result[BackfillState]{HasMore: next != "", NextState: &BackfillState{Cursor: next}}
	for _, r := range page {
		res.Changes = append(res.Changes, change(r))
	}
	return res, nil
}

// delta reads the changes since the last pass. updated_since is
// inclusive, so the record at the boundary comes again next time: the
// engine sees its content unchanged and spends no Notion call on it.
func delta[T interface{ Record() api.Meta }](ctx context.Context, c *client, p *synq.Pacer, kind string, s *DeltaState, change func(T) synq.Change) (synq.Result[DeltaState], error) {
	if err := p.Wait(ctx); err != nil {
		return synq.Result[DeltaState]{}, err
	}
	var page []T
	since := s.Since
	if since.IsZero() {
		// The first pass reads everything, tombstones included.
		since = time.Unix(0, 0).UTC()
	}
	next, err := c.list(ctx, kind, s.Cursor, since, &page)
	if err != nil {
		return synq.Result[DeltaState]{}, err
	}
	st := &DeltaState{Since: s.Since, Cursor: next, Seen: s.Seen}
	res := synq.Result[DeltaState]{HasMore: next != "", NextState: st}
	for _, r := range page {
		res.Changes = append(res.Changes, change(r))
		if u := r.Record().UpdatedAt; u.After(st.Seen) {
			st.Seen = u
		}
	}
	if next == "" && !st.Seen.IsZero() {
		st.Since, st.Seen = st.Seen, time.Time{}
	}
	return res, nil
}

// client reads the helpdesk API.
type client struct {
	base string
	http *http.Client
}

func (c *client) list(ctx context.Context, kind, cursor string, since time.Time, out any) (string, error) {
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if !since.IsZero() {
		q.Set("updated_since", since.Format(time.RFC3339Nano))
	}
	u := c.base + "/v1/" + kind + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("helpdesk: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("helpdesk: GET /v1/%s: %w", kind, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("helpdesk: GET /v1/%s: reading the answer: %w", kind, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return "", &synq.RateLimitError{RetryAfter: time.Duration(max(secs, 1)) * time.Second}
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return "", fmt.Errorf("helpdesk: GET /v1/%s: %s: %s", kind, resp.Status, e.Error)
	}
	var page struct {
		Data       json.RawMessage `json:"data"`
		NextCursor string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return "", fmt.Errorf("helpdesk: GET /v1/%s: the answer is not a page of records: %w", kind, err)
	}
	if err := json.Unmarshal(page.Data, out); err != nil {
		return "", fmt.Errorf("helpdesk: GET /v1/%s: records: %w", kind, err)
	}
	return page.NextCursor, nil
}
