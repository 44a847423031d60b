// Package api is a demo helpdesk HTTP API — tickets, customers, teams,
// projects and tasks — for synq's examples and local stack.
//
// It behaves like the APIs syncs meet in the wild: cursor pagination, an
// updated_since filter that also returns tombstones of deleted records, a
// rate limit answered with 429 and Retry-After, and data that keeps
// changing at a configurable rate.
//
//	GET /v1/tickets?limit=50&cursor=…&updated_since=2026-11-24T10:00:00Z
//	→ {"data": [...], "next_cursor": "…"}   ("" on the last page)
//
// The same holds for /v1/customers, /v1/teams, /v1/projects, /v1/tasks
// and /v1/articles (knowledge-base articles with a Markdown body: what
// `ctl new` scaffolds a worker for). PATCH and DELETE /v1/tickets/{id} and
// POST /v1/tickets change data by hand. GET / is a page that lists it all.
package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record fields shared by every kind.
type Meta struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Deleted marks a tombstone: only the id and updated_at are set.
	Deleted bool `json:"deleted,omitempty"`
}

// Record returns the fields every kind shares.
func (m Meta) Record() Meta { return m }

// Ticket is a support ticket.
type Ticket struct {
	Meta
	Title      string   `json:"title,omitempty"`
	Status     string   `json:"status,omitempty"`   // open, pending, closed
	Priority   string   `json:"priority,omitempty"` // low, normal, high, urgent
	CustomerID string   `json:"customer_id,omitempty"`
	TeamID     string   `json:"team_id,omitempty"`
	Assignee   string   `json:"assignee,omitempty"` // an email
	Tags       []string `json:"tags,omitempty"`
	// Description is Markdown (lists, code, a checklist that follows the
	// status); the demo sync writes it as the row's page body.
	Description string `json:"description,omitempty"`
}

// Customer is a company the helpdesk serves.
type Customer struct {
	Meta
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	Plan    string `json:"plan,omitempty"` // free, pro, enterprise
	Country string `json:"country,omitempty"`
	Website string `json:"website,omitempty"`
}

// Team is a group of agents.
type Team struct {
	Meta
	Name string `json:"name,omitempty"`
	Lead string `json:"lead,omitempty"` // an email
}

// Project groups tasks.
type Project struct {
	Meta
	Name   string `json:"name,omitempty"`
	Status string `json:"status,omitempty"` // planned, active, done
	Owner  string `json:"owner,omitempty"`
}

// Task belongs to a project.
type Task struct {
	Meta
	Title     string `json:"title,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	Done      bool   `json:"done"`
	Due       string `json:"due,omitempty"` // YYYY-MM-DD
}

// Article is a knowledge-base article.
type Article struct {
	Meta
	Title   string   `json:"title,omitempty"`
	Section string   `json:"section,omitempty"`
	Author  string   `json:"author,omitempty"` // an email
	Tags    []string `json:"tags,omitempty"`
	Views   int      `json:"views"`
	// BodyMarkdown is the article's text.
	BodyMarkdown string `json:"body_markdown,omitempty"`
}

// AddrDefault is where the helpdesk command serves the API by default.
const AddrDefault = "127.0.0.1:7080"

// Config sizes the demo data.
type Config struct {
	Addr      string // listen address of Start; "" means 127.0.0.1:0
	Tickets   int    // default 200
	Customers int    // default 50
	Teams     int    // default 4
	Projects  int    // default 5
	// TasksPerProject defaults to 6.
	TasksPerProject int
	Articles        int // default 24
	// ChangeRate is how many changes a second happen on their own
	// (ticket updates, new tickets, deletions, customer edits); 0 = none.
	ChangeRate float64
	// RateLimit is requests per second per client address; 0 means 20,
	// negative turns it off.
	RateLimit float64
	// Seed makes the data repeatable; 0 means 1.
	Seed uint64
	// People are the emails used as assignees and owners; they match the
	// Notion emulator's demo users so people properties resolve.
	People []string
	Logger *slog.Logger
	// WebhookURL, when set, receives a signed event (Event) for every
	// ticket change; WebhookSecret signs it (HMAC-SHA256, SignatureHeader).
	WebhookURL    string
	WebhookSecret string
}

// Server is the demo API.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	rng       *rand.Rand
	clock     time.Time // last updated_at handed out: strictly increasing
	tickets   map[string]*Ticket
	customers map[string]*Customer
	teams     map[string]*Team
	projects  map[string]*Project
	tasks     map[string]*Task
	articles  map[string]*Article
	nextTick  int
	limiter   map[string]*bucket
	requests  int
	limited   int

	srv  *http.Server
	ln   net.Listener
	stop chan struct{}
	done sync.WaitGroup

	// events queue the webhook's events (nil without a WebhookURL).
	events   chan Event
	eventSeq int64
	started  time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

var (
	titles = []string{"Printer on fire", "Cannot log in", "Invoice is wrong", "Export times out", "Feature request: dark mode",
		"Password reset mail never arrives", "API returns 500", "Slow dashboard", "Data missing after import", "Billing address change",
		"SSO with Okta fails", "Webhook retries too often", "Mobile app crashes on start", "CSV has wrong encoding", "Need more seats"}
	statuses   = []string{"open", "pending", "closed"}
	priorities = []string{"low", "normal", "high", "urgent"}
	tags       = []string{"billing", "bug", "auth", "performance", "mobile", "api", "question"}
	companies  = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Aperture"}
	countries  = []string{"DE", "FR", "US", "GB", "JP", "BR", "IN", "NL", "SE", "CA"}
	plans      = []string{"free", "pro", "enterprise"}
	teamNames  = []string{"Support", "Billing", "Platform", "Mobile", "Success", "Security"}
)

var articleTopics = []struct {
	title, section, intro string
	steps                 []string
}{
	{"Reset your password", "Account", "Forgot your password? You can set a new one in a minute.", []string{"Open the sign-in page and choose *Forgot password*.", "Enter your email address.", "Follow the link in the mail we send you."}},
	{"Change your billing address", "Billing", "Invoices show the address on file when they are issued.", []string{"Open *Settings → Billing*.", "Edit the address and save.", "The next invoice uses the new address."}},
	{"Export your data as CSV", "Data", "Every list can be exported, filters included.", []string{"Open the list you want.", "Choose *Export → CSV*.", "Large exports arrive by mail."}},
	{"Set up single sign-on", "Security", "SSO works with any SAML 2.0 identity provider.", []string{"Open *Settings → Security → SSO*.", "Paste your provider's metadata URL.", "Test with one account before enforcing it."}},
	{"Invite your team", "Account", "Seats are billed per active member.", []string{"Open *Settings → Members*.", "Enter their emails, one per line.", "They join with the link in their invitation."}},
	{"Use the API", "Developers", "The REST API pages with cursors and is rate limited per client.", []string{"Create a token under *Settings → API*.", "Send it as `Authorization: Bearer <token>`.", "Follow `next_cursor` until it is empty."}},
}

// DefaultPeople match the Notion emulator's demo users.
var DefaultPeople = []string{"ada@example.com", "grace@example.com"}

// New builds the data set.
func New(cfg Config) (*Server, error) {
	def := func(v *int, d int, name string) error {
		if *v < 0 {
			return fmt.Errorf("helpdesk: %s = %d: want ≥ 0", name, *v)
		}
		if *v == 0 {
			*v = d
		}
		return nil
	}
	if err := errors.Join(def(&cfg.Tickets, 200, "tickets"), def(&cfg.Customers, 50, "customers"), def(&cfg.Teams, 4, "teams"),
		def(&cfg.Projects, 5, "projects"), def(&cfg.TasksPerProject, 6, "tasks per project"), def(&cfg.Articles, 24, "articles")); err != nil {
		return nil, err
	}
	if cfg.WebhookURL != "" && cfg.WebhookSecret == "" {
		return nil, errors.New("helpdesk: a webhook URL needs a secret to sign events with (--webhook-secret, env HELPDESK_WEBHOOK_SECRET)")
	}
	if cfg.ChangeRate < 0 || math.IsNaN(cfg.ChangeRate) {
		return nil, fmt.Errorf("helpdesk: change rate %v: want changes per second ≥ 0", cfg.ChangeRate)
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 20
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if len(cfg.People) == 0 {
		cfg.People = DefaultPeople
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed*7919)),
		tickets: map[string]*Ticket{}, customers: map[string]*Customer{}, teams: map[string]*Team{},
		projects: map[string]*Project{}, tasks: map[string]*Task{}, articles: map[string]*Article{}, limiter: map[string]*bucket{},
	}
	// History spans the 30 days before historyEnd (so updated_since has
	// something to cut), on fixed dates: the same seed gives the same data
	// on every start, so a restarted `make dev` finds every row unchanged.
	end := historyEnd
	if now := time.Now().UTC(); end.After(now) {
		end = now.Truncate(time.Second)
	}
	s.clock = end.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(cfg.Tickets+cfg.Customers+cfg.Teams+cfg.Projects*(1+cfg.TasksPerProject)+cfg.Articles+1)
	at := func() Meta {
		s.clock = s.clock.Add(step)
		return Meta{CreatedAt: s.clock, UpdatedAt: s.clock}
	}
	for i := range cfg.Teams {
		m := at()
		m.ID = fmt.Sprintf("TEAM-%d", i+1)
		s.teams[m.ID] = &Team{Meta: m, Name: teamNames[i%len(teamNames)] + suffix(i, len(teamNames)), Lead: s.person()}
	}
	for i := range cfg.Customers {
		m := at()
		m.ID = fmt.Sprintf("C-%04d", i+1)
		name := companies[i%len(companies)] + suffix(i, len(companies))
		slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
		s.customers[m.ID] = &Customer{Meta: m, Name: name, Email: "support@" + slug + ".example", Plan: pick(s.rng, plans),
			Country: pick(s.rng, countries), Website: "https://" + slug + ".example"}
	}
	for i := range cfg.Projects {
		m := at()
		m.ID = fmt.Sprintf("P-%d", i+1)
		s.projects[m.ID] = &Project{Meta: m, Name: fmt.Sprintf("Project %c", 'A'+i%26) + suffix(i, 26), Status: pick(s.rng, []string{"planned", "active", "done"}), Owner: s.person()}
		for j := range cfg.TasksPerProject {
			tm := at()
			tm.ID = fmt.Sprintf("P-%d-T-%d", i+1, j+1)
			s.tasks[tm.ID] = &Task{Meta: tm, Title: fmt.Sprintf("Task %d of %s", j+1, s.projects[m.ID].Name), ProjectID: m.ID,
				Done: s.rng.IntN(3) == 0, Due: tm.CreatedAt.Add(time.Duration(s.rng.IntN(60)) * 24 * time.Hour).Format("2006-01-02")}
		}
	}
	for range cfg.Tickets {
		s.newTicket(at())
	}
	for i := range cfg.Articles {
		m := at()
		m.ID = fmt.Sprintf("KB-%04d", i+1)
		topic := articleTopics[i%len(articleTopics)]
		title := topic.title + suffix(i, len(articleTopics))
		a := &Article{Meta: m, Title: title, Section: topic.section, Author: s.person(), Views: s.rng.IntN(5000)}
		for _, tg := range tags {
			if s.rng.IntN(4) == 0 {
				a.Tags = append(a.Tags, tg)
			}
		}
		a.BodyMarkdown = "# " + title + "\n\n" + topic.intro + "\n\n## Steps\n\n1. " + strings.Join(topic.steps, "\n1. ") +
			"\n\n> Still stuck? Open a ticket and mention **" + m.ID + "**.\n"
		s.articles[m.ID] = a
	}
	// Later changes get real timestamps.
	s.clock = time.Now().UTC()
	return s, nil
}

// historyEnd is when the generated history ends (later changes get real
// timestamps).
var historyEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func suffix(i, n int) string {
	if i < n {
		return ""
	}
	return " " + strconv.Itoa(i/n+1)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (s *Server) person() string { return pick(s.rng, s.cfg.People) }

// now returns a strictly increasing time, so (updated_at, id) cursors
// never skip a change made in the same instant as the last one read.
func (s *Server) now() time.Time {
	t := time.Now().UTC()
	if !t.After(s.clock) {
		t = s.clock.Add(time.Microsecond)
	}
	s.clock = t
	return t
}

func (s *Server) newTicket(m Meta) *Ticket {
	s.nextTick++
	m.ID = fmt.Sprintf("T-%05d", s.nextTick)
	t := &Ticket{Meta: m, Title: pick(s.rng, titles), Status: pick(s.rng, statuses), Priority: pick(s.rng, priorities),
		Assignee: s.person()}
	if len(s.customers) > 0 {
		t.CustomerID = fmt.Sprintf("C-%04d", 1+s.rng.IntN(s.cfg.Customers))
	}
	if len(s.teams) > 0 {
		t.TeamID = fmt.Sprintf("TEAM-%d", 1+s.rng.IntN(s.cfg.Teams))
	}
	for _, tg := range tags {
		if s.rng.IntN(4) == 0 {
			t.Tags = append(t.Tags, tg)
		}
	}
	s.describe(t)
	s.tickets[m.ID] = t
	return t
}

// --- changes ---

// TicketPatch changes a ticket; nil fields are left alone.
type TicketPatch struct {
	Title    *string  `json:"title"`
	Status   *string  `json:"status"`
	Priority *string  `json:"priority"`
	Assignee *string  `json:"assignee"`
	Tags     []string `json:"tags"`
	// Description replaces the generated description (Markdown).
	Description *string `json:"description"`
}

// ErrNotFound is returned for an unknown or deleted record.
var ErrNotFound = errors.New("helpdesk: no such record")

// UpdateTicket applies p and bumps updated_at.
func (s *Server) UpdateTicket(id string, p TicketPatch) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[id]
	if t == nil || t.Deleted {
		return Ticket{}, fmt.Errorf("ticket %s: %w", id, ErrNotFound)
	}
	if p.Status != nil && !slices.Contains(statuses, *p.Status) {
		return Ticket{}, fmt.Errorf("ticket %s: status %q: want one of %v", id, *p.Status, statuses)
	}
	if p.Priority != nil && !slices.Contains(priorities, *p.Priority) {
		return Ticket{}, fmt.Errorf("ticket %s: priority %q: want one of %v", id, *p.Priority, priorities)
	}
	if (p.Title != nil && *p.Title != t.Title) || (p.Status != nil && *p.Status != t.Status) {
		if p.Title != nil {
			t.Title = *p.Title
		}
		if p.Status != nil {
			t.Status = *p.Status
		}
		s.describe(t) // it names the title; its checklist follows the status
	}
	if p.Priority != nil {
		t.Priority = *p.Priority
	}
	if p.Assignee != nil {
		t.Assignee = *p.Assignee
	}
	if p.Tags != nil {
		t.Tags = p.Tags
	}
	if p.Description != nil {
		t.Description = *p.Description
	}
	t.UpdatedAt = s.now()
	s.notify("ticket.updated", *t)
	return *t, nil
}

// DeleteTicket turns a ticket into a tombstone.
func (s *Server) DeleteTicket(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[id]
	if t == nil || t.Deleted {
		return fmt.Errorf("ticket %s: %w", id, ErrNotFound)
	}
	*t = Ticket{Meta: Meta{ID: id, CreatedAt: t.CreatedAt, UpdatedAt: s.now(), Deleted: true}}
	s.notify("ticket.deleted", *t)
	return nil
}

// CreateTicket adds a ticket with a random body and the given title.
func (s *Server) CreateTicket(title string) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t := s.newTicket(Meta{CreatedAt: now, UpdatedAt: now})
	if title != "" {
		t.Title = title
		s.describe(t)
	}
	s.notify("ticket.created", *t)
	return *t
}

// Tickets returns the live tickets by id.
func (s *Server) Tickets() map[string]Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Ticket{}
	for id, t := range s.tickets {
		if !t.Deleted {
			out[id] = *t
		}
	}
	return out
}

// Stats counts requests served and refused by the rate limit.
func (s *Server) Stats() (requests, limited int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.limited
}

// churn makes one random change, as users of a real helpdesk would.
func (s *Server) churn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make([]*Ticket, 0, len(s.tickets))
	for _, t := range s.tickets {
		if !t.Deleted {
			live = append(live, t)
		}
	}
	slices.SortFunc(live, func(a, b *Ticket) int { return strings.Compare(a.ID, b.ID) })
	x := s.rng.IntN(100)
	switch {
	case x < 70 && len(live) > 0:
		t := pick(s.rng, live)
		t.Status, t.Priority = pick(s.rng, statuses), pick(s.rng, priorities)
		s.describe(t)
		t.UpdatedAt = s.now()
		s.notify("ticket.updated", *t)
	case x < 85:
		now := s.now()
		s.notify("ticket.created", *s.newTicket(Meta{CreatedAt: now, UpdatedAt: now}))
	case x < 92 && len(live) > 0:
		t := pick(s.rng, live)
		*t = Ticket{Meta: Meta{ID: t.ID, CreatedAt: t.CreatedAt, UpdatedAt: s.now(), Deleted: true}}
		s.notify("ticket.deleted", *t)
	default:
		if len(s.customers) > 0 {
			c := s.customers[fmt.Sprintf("C-%04d", 1+s.rng.IntN(s.cfg.Customers))]
			c.Plan = pick(s.rng, plans)
			c.UpdatedAt = s.now()
		}
	}
}

// --- HTTP ---

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	list := func(kind string, items func() []item) {
		mux.Handle("GET /v1/"+kind, s.paced(func(w http.ResponseWriter, r *http.Request) { s.list(w, r, items) }))
	}
	list("tickets", func() []item { return items(s.tickets) })
	list("customers", func() []item { return items(s.customers) })
	list("teams", func() []item { return items(s.teams) })
	list("projects", func() []item { return items(s.projects) })
	list("tasks", func() []item { return items(s.tasks) })
	list("articles", func() []item { return items(s.articles) })
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("POST /v1/tickets", s.paced(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Title string `json:"title"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		writeJSON(w, http.StatusCreated, s.CreateTicket(body.Title))
	}))
	mux.Handle("PATCH /v1/tickets/{id}", s.paced(func(w http.ResponseWriter, r *http.Request) {
		var p TicketPatch
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			writeError(w, http.StatusBadRequest, "body is not a ticket patch: "+err.Error())
			return
		}
		t, err := s.UpdateTicket(r.PathValue("id"), p)
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, t)
	}))
	mux.Handle("DELETE /v1/tickets/{id}", s.paced(func(w http.ResponseWriter, r *http.Request) {
		if err := s.DeleteTicket(r.PathValue("id")); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return mux
}

// index is the API's front page: what it serves, for a person who opened
// its address in a browser.
func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	counts := map[string]int{"tickets": live(s.tickets), "customers": live(s.customers), "teams": live(s.teams),
		"projects": live(s.projects), "tasks": live(s.tasks), "articles": live(s.articles)}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexTmpl.Execute(w, map[string]any{"Counts": counts, "RateLimit": s.cfg.RateLimit, "ChangeRate": s.cfg.ChangeRate})
}

func live[T record](m map[string]T) int {
	n := 0
	for _, v := range m {
		if !v.Record().Deleted {
			n++
		}
	}
	return n
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Demo helpdesk API</title>
<style>body{font:14px/1.5 system-ui,sans-serif;margin:2em;max-width:52em;color:#37352f}code{background:#f1f1ef;padding:0 3px}td,th{padding:2px 12px 2px 0;text-align:left}</style>
</head><body>
<h1>Demo helpdesk API</h1>
<p>The JSON API synq's demo syncs read (and the worker <code>ctl new</code> scaffolds). It pages with cursors, filters
by <code>updated_since</code> (tombstones of deleted records included), answers 429 with <code>Retry-After</code> above
{{.RateLimit}} requests a second per client, and changes {{.ChangeRate}} times a second on its own.</p>
<table><tr><th>endpoint</th><th>records</th></tr>
{{range $k, $n := .Counts}}<tr><td><a href="/v1/{{$k}}?limit=5"><code>GET /v1/{{$k}}</code></a></td><td>{{$n}}</td></tr>
{{end}}</table>
<h2>Parameters</h2>
<ul>
<li><code>limit</code>: 1–100, default 50</li>
<li><code>cursor</code>: the previous answer's <code>next_cursor</code> (empty on the last page)</li>
<li><code>updated_since</code>: RFC 3339 time; the answer is then ordered by <code>updated_at</code> and includes <code>{"id": …, "deleted": true}</code> tombstones</li>
</ul>
<pre>GET /v1/articles?limit=2
→ {"data": [{"id": "KB-0001", "title": "Reset your password", "body_markdown": "# …", "updated_at": "…"}, …], "next_cursor": "…"}</pre>
<p>By hand: <code>POST /v1/tickets {"title": …}</code>, <code>PATCH /v1/tickets/{id} {"status": "closed"}</code>,
<code>DELETE /v1/tickets/{id}</code>. Health: <a href="/healthz"><code>/healthz</code></a>.</p>
</body></html>`))

type item struct {
	meta Meta
	v    any
}

type record interface{ Record() Meta }

func items[T record](m map[string]T) []item {
	out := make([]item, 0, len(m))
	for _, v := range m {
		// Copy: the response is encoded after the lock is released.
		b, _ := json.Marshal(v)
		out = append(out, item{meta: v.Record(), v: json.RawMessage(b)})
	}
	return out
}

// cursor is the position after the last record returned: its sort key.
type cursor struct {
	At time.Time `json:"t,omitzero"`
	ID string    `json:"id"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, all func() []item) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "limit must be an integer between 1 and 100")
			return
		}
		limit = n
	}
	var since time.Time
	incremental := q.Get("updated_since") != ""
	if incremental {
		t, err := time.Parse(time.RFC3339Nano, q.Get("updated_since"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "updated_since must be an RFC 3339 time, e.g. 2026-11-24T10:00:00Z")
			return
		}
		since = t
	}
	var after cursor
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &after) != nil {
			writeError(w, http.StatusBadRequest, "cursor is not one this API returned")
			return
		}
	}
	s.mu.Lock()
	list := all()
	s.mu.Unlock()
	// A full listing is by id and leaves tombstones out; an incremental
	// one is by (updated_at, id), from updated_since, tombstones included,
	// so a client that follows it sees every change once.
	var sel []item
	for _, it := range list {
		if incremental {
			if it.meta.UpdatedAt.Before(since) {
				continue
			}
			if !after.At.IsZero() && cmp.Or(it.meta.UpdatedAt.Compare(after.At), strings.Compare(it.meta.ID, after.ID)) <= 0 {
				continue
			}
		} else {
			if it.meta.Deleted || (after.ID != "" && it.meta.ID <= after.ID) {
				continue
			}
		}
		sel = append(sel, it)
	}
	slices.SortFunc(sel, func(a, b item) int {
		if incremental {
			if c := a.meta.UpdatedAt.Compare(b.meta.UpdatedAt); c != 0 {
				return c
			}
		}
		return strings.Compare(a.meta.ID, b.meta.ID)
	})
	next := ""
	if len(sel) > limit {
		last := sel[limit-1].meta
		c := cursor{ID: last.ID}
		if incremental {
			c.At = last.UpdatedAt
		}
		b, _ := json.Marshal(c)
		next = base64.RawURLEncoding.EncodeToString(b)
		sel = sel[:limit]
	}
	data := make([]any, len(sel))
	for i, it := range sel {
		data[i] = it.v
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": next})
}

// paced applies the per-client rate limit: a token bucket of RateLimit
// a second with a one-second burst.
func (s *Server) paced(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		ok, wait := true, time.Duration(0)
		if s.cfg.RateLimit > 0 {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			b := s.limiter[host]
			now := time.Now()
			if b == nil {
				b = &bucket{tokens: s.cfg.RateLimit, at: now}
				s.limiter[host] = b
			}
			b.tokens = math.Min(s.cfg.RateLimit, b.tokens+now.Sub(b.at).Seconds()*s.cfg.RateLimit)
			b.at = now
			if b.tokens >= 1 {
				b.tokens--
			} else {
				ok = false
				wait = time.Duration((1 - b.tokens) / s.cfg.RateLimit * float64(time.Second))
				s.limited++
			}
		}
		s.mu.Unlock()
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "rate limited: slow down to "+strconv.FormatFloat(s.cfg.RateLimit, 'f', -1, 64)+" requests a second")
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// Start listens on Config.Addr and starts the churn.
func (s *Server) Start(ctx context.Context) error {
	addr := cmp.Or(s.cfg.Addr, "127.0.0.1:0")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("helpdesk: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.stop = make(chan struct{})
	if s.cfg.WebhookURL != "" {
		s.mu.Lock()
		s.events, s.started = make(chan Event, webhookQueue), time.Now()
		s.mu.Unlock()
		client := &http.Client{Timeout: 10 * time.Second}
		s.done.Go(func() { s.sendEvents(client) })
	}
	s.done.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("helpdesk stopped serving", "err", err)
		}
	})
	if s.cfg.ChangeRate > 0 {
		every := time.Duration(float64(time.Second) / s.cfg.ChangeRate)
		s.done.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
					s.churn()
				}
			}
		})
	}
	return nil
}

// Stop shuts the server down.
func (s *Server) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	close(s.stop)
	err := s.srv.Shutdown(ctx)
	s.done.Wait()
	return err
}

// URL is the base URL once started.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }
