// Package ghissues is an example sync against a real public API: it copies
// the issues of one GitHub repository into a Notion database, incrementally,
// through the go-github client library.
//
// # Running it
//
// The executor in cmd/github-executor declares the sync and runs it:
//
//	export GITHUB_REPOSITORY=owner/repo     # the repository whose issues to copy
//	export GITHUB_TOKEN=github_pat_…        # optional, but see the rate limits below
//	export REDIS_URL=redis://127.0.0.1:6379/0
//	export NOTION_API_TOKEN=ntn_…  NOTION_PARENT_PAGE_ID=…
//	go run ./examples/github/cmd/github-executor
//
// GITHUB_TOKEN may be a fine-grained token with read access to the
// repository's issues (none is needed for a public repository, but without
// one GitHub allows 60 requests an hour per IP address instead of 5,000 an
// hour per token). GITHUB_API_URL, when set (GitHub Actions sets it), points
// the client at GitHub Enterprise Server.
//
// # What it does
//
// Register declares a database "githubIssues" (one row per issue, keyed by
// issue number), a pacer "githubApi" sized to GitHub's limits and an
// Incremental sync "githubIssuesSync" run every 15 minutes. Each run lists
// the issues updated since the previous run, oldest change first, 100 a page,
// and remembers the newest updated_at it saw for the next run. An issue's
// body (GitHub Markdown) becomes its row's page body, updated block by block
// when the issue is edited.
//
// Two limits of GitHub's issues listing shape the sync: it cannot report
// issues that were deleted or transferred to another repository (they simply
// stop being listed, so their rows stay in Notion until removed by hand), and
// it lists pull requests as issues (they are skipped).
package ghissues

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// The keys Register declares, for ctl commands and for tests.
const (
	DatabaseKey = "githubIssues"
	PacerKey    = "githubApi"
	SyncKey     = "githubIssuesSync"
	// WebhookKey is the webhook a repository's "Issues" events go to
	// (Settings → Webhooks, content type application/json, the secret in
	// WebhookSecretEnv): an edited issue is in Notion within a second.
	WebhookKey = "githubIssuesEvents"
	// WebhookSecretEnv names the environment variable with the webhook's
	// secret, which GitHub signs each delivery with (X-Hub-Signature-256).
	WebhookSecretEnv = "GITHUB_WEBHOOK_SECRET"
)

// Config says which repository to copy and how to reach GitHub.
type Config struct {
	// Owner and Repo name the repository, as in github.com/Owner/Repo.
	Owner, Repo string
	// Token is a GitHub token (optional). Public repositories need none, but
	// an unauthenticated client gets 60 requests an hour instead of 5,000.
	Token string
	// BaseURL is the REST API root (optional): https://HOST/api/v3/ for
	// GitHub Enterprise Server, a test server's URL in tests. Default
	// https://api.github.com/.
	BaseURL string
	// HTTPClient makes the requests (optional; default a client with a
	// one-minute timeout).
	HTTPClient *http.Client
}

// State is the sync's state between pages and runs.
type State struct {
	// Since is the newest updated_at seen by the last completed run: the next
	// run lists issues updated at or after it. Zero lists every issue.
	Since time.Time `json:"since"`
	// Page is the page of the current run to fetch next (0 = the first). It
	// is 0 between runs.
	Page int `json:"page,omitempty"`
}

// perPage is GitHub's maximum page size: fewer requests for the same issues.
const perPage = 100

// Pacer budgets. GitHub allows 5,000 requests an hour per token and 60 an
// hour per IP address without one; the pacers stay below so that other tools
// sharing the token or the address, and the requests of executors that were
// replaced mid-hour, do not push the sync into GitHub's rate limit. Pacing
// one request at a time also keeps clear of GitHub's secondary limits, which
// punish concurrent bursts.
var (
	authenticatedBudget   = synq.PacerConfig{AllowedRequests: 4000, Interval: time.Hour}
	unauthenticatedBudget = synq.PacerConfig{AllowedRequests: 50, Interval: time.Hour}
)

// nameRE is the characters GitHub allows in owner and repository names; it
// catches "owner/repo" passed as Repo or a stray space before GitHub answers
// with a puzzling 404.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Register declares the githubIssues database, the githubApi pacer and the
// githubIssuesSync sync on w. A worker holds one repository's sync: the keys
// are fixed, so a second Register on the same worker is reported by
// w.Validate as a duplicate.
func Register(w *synq.Worker, cfg Config) error {
	if w == nil {
		return errors.New("github issues: worker is nil: pass the worker from synq.NewWorker")
	}
	if !nameRE.MatchString(cfg.Owner) || !nameRE.MatchString(cfg.Repo) {
		return fmt.Errorf("github issues: repository %q/%q: set Owner and Repo to the parts of github.com/OWNER/REPO (letters, digits, '-', '_' or '.')", cfg.Owner, cfg.Repo)
	}
	client, err := newClient(cfg)
	if err != nil {
		return err
	}

	db := w.Database(DatabaseKey, synq.DatabaseConfig{
		InitialTitle: fmt.Sprintf("GitHub issues of %s/%s", cfg.Owner, cfg.Repo),
		// The key is the issue number, which is stable and unique within the
		// repository. It is a rich-text property rather than the title so
		// that Notion names each row by the issue's title.
		PrimaryKey: "Number",
		Schema: schema.Properties{
			"Title":  schema.Title(),
			"Number": schema.RichText(),
			"State": schema.Select(
				schema.Option{Name: "open", Color: schema.Green},
				schema.Option{Name: "closed", Color: schema.Purple},
			),
			// Labels are not declared as options: Notion adds a label the
			// first time an issue carries it.
			"Labels": schema.MultiSelect(),
			"Author": schema.RichText(),
			// People properties are written by email, which GitHub does not
			// expose for most users, so assignees are their logins as text.
			"Assignees": schema.RichText(),
			"Comments":  schema.Number(),
			"Created":   schema.Date(),
			"Updated":   schema.Date(),
			"Closed":    schema.Date(),
			"URL":       schema.URL(),
		},
	})

	budget := unauthenticatedBudget
	if cfg.Token != "" {
		budget = authenticatedBudget
	}
	pacer := w.Pacer(PacerKey, budget)

	s := &issuesSync{client: client, pacer: pacer, owner: cfg.Owner, repo: cfg.Repo}
	synq.AddSync(w, SyncKey, synq.SyncConfig[State]{
		Database: db,
		Mode:     synq.Incremental,
		Schedule: "15m",
		Pacers:   []*synq.Pacer{pacer},
		Execute:  s.execute,
	})
	synq.AddWebhook(w, WebhookKey, synq.WebhookConfig{
		Verify:   synq.VerifyGitHub(WebhookSecretEnv),
		Database: db,
		Handle:   handleEvent,
	})
	return nil
}

// handleEvent turns an "issues" delivery into its issue's row; other
// events (GitHub's "ping" when the webhook is created, say) write nothing.
func handleEvent(_ context.Context, d *synq.WebhookDelivery) (synq.WebhookResult, error) {
	if d.Header.Get("X-GitHub-Event") != "issues" {
		return synq.WebhookResult{}, nil
	}
	var ev github.IssuesEvent
	if err := d.JSON(&ev); err != nil {
		return synq.WebhookResult{}, err
	}
	is := ev.GetIssue()
	if is == nil || is.IsPullRequest() {
		return synq.WebhookResult{}, nil
	}
	key := strconv.Itoa(is.GetNumber())
	updated := is.GetUpdatedAt().UTC()
	if ev.GetAction() == "deleted" || ev.GetAction() == "transferred" {
		// Gone from the repository: the sync cannot see that, the
		// webhook can.
		return synq.WebhookResult{Changes: []synq.Change{synq.Delete(key).UpdatedAt(updated)}}, nil
	}
	return synq.WebhookResult{Changes: []synq.Change{synq.Upsert(key, properties(is)).Content(body(is)).UpdatedAt(updated)}}, nil
}

func newClient(cfg Config) (*github.Client, error) {
	hc := cfg.HTTPClient
	if hc == nil {
		// The Execute context bounds a page too, but a client timeout keeps
		// one stalled connection from using up the page's whole budget.
		hc = &http.Client{Timeout: time.Minute}
	}
	client := github.NewClient(hc)
	client.UserAgent = "synq-examples-github (" + client.UserAgent + ")"
	if cfg.Token != "" {
		client = client.WithAuthToken(cfg.Token)
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("github issues: BaseURL %q is not an http(s) URL: use the REST API root, e.g. https://github.example.com/api/v3/", cfg.BaseURL)
		}
		// go-github resolves request paths against BaseURL, which must
		// therefore end in a slash.
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		client.BaseURL = u
	}
	return client, nil
}

// issuesSync is the githubIssuesSync sync: one client, shared by its pages so
// that go-github's memory of the rate limit carries from page to page.
type issuesSync struct {
	client      *github.Client
	pacer       *synq.Pacer
	owner, repo string
}

// execute fetches one page of the issues updated since state.Since.
//
// The listing is sorted by updated_at, oldest first, and Since stays fixed
// for the whole run while Page walks the pages GitHub's Link header names;
// only when the last page is done does Since move to the newest updated_at
// seen. With ascending order that is the newest updated_at of the last page,
// so the state needs no running maximum. A run that fails part-way resumes at
// its page with the same Since.
//
// GitHub's since is inclusive, so the next run lists the newest issue(s) of
// this run again. That costs nothing: the engine compares each row's content
// hash with what it last wrote and skips unchanged rows without a Notion call.
//
// What the listing cannot tell: an issue deleted or transferred to another
// repository is no longer listed, and nothing reports it, so the sync cannot
// return a synq.Delete for it; its row stays until removed by hand. Issues
// updated while a run pages through (they move to the end of the listing)
// may shift one not-yet-fetched issue onto a page already fetched; that issue
// is picked up the next time it changes.
func (s *issuesSync) execute(ctx context.Context, st *State) (synq.Result[State], error) {
	if err := s.pacer.Wait(ctx); err != nil {
		return synq.Result[State]{}, err
	}
	opts := &github.IssueListByRepoOptions{
		State:       "all",
		Sort:        "updated",
		Direction:   "asc",
		Since:       st.Since,
		ListOptions: github.ListOptions{Page: st.Page, PerPage: perPage},
	}
	issues, resp, err := s.client.Issues.ListByRepo(ctx, s.owner, s.repo, opts)
	if err != nil {
		return synq.Result[State]{}, s.explain(err, st.Page)
	}

	res := synq.Result[State]{Changes: make([]synq.Change, 0, len(issues))}
	newest := st.Since
	for _, is := range issues {
		if is == nil {
			continue
		}
		updated := is.GetUpdatedAt().UTC()
		// Pull requests count towards Since too: they are part of the
		// listing the next run continues from.
		if updated.After(newest) {
			newest = updated
		}
		// The issues endpoint lists pull requests as issues; they belong in
		// a sync of their own.
		if is.IsPullRequest() {
			continue
		}
		res.Changes = append(res.Changes,
			synq.Upsert(strconv.Itoa(is.GetNumber()), properties(is)).Content(body(is)).UpdatedAt(updated))
	}

	if resp.NextPage != 0 {
		page := max(st.Page, 1)
		if resp.NextPage <= page {
			// A Link header pointing backwards would loop forever.
			return synq.Result[State]{}, fmt.Errorf("github issues of %s/%s: page %d links to page %d as the next one: check BaseURL points at the GitHub REST API", s.owner, s.repo, page, resp.NextPage)
		}
		res.HasMore = true
		res.NextState = &State{Since: st.Since, Page: resp.NextPage}
		return res, nil
	}
	res.NextState = &State{Since: newest}
	return res, nil
}

// properties maps an issue to the database's properties. Every property is
// written on every upsert, cleared ones included (a reopened issue loses its
// Closed date, an unassigned one its assignees).
func properties(is *github.Issue) builder.Properties {
	closed := builder.Value{Type: schema.TypeDate} // the zero value clears the date
	if is.ClosedAt != nil {
		closed = builder.DateTime(is.GetClosedAt().UTC())
	}
	assignees := make([]string, 0, len(is.Assignees))
	for _, a := range is.Assignees {
		if a != nil && a.GetLogin() != "" {
			assignees = append(assignees, a.GetLogin())
		}
	}
	return builder.Properties{
		"Title":     builder.Title(is.GetTitle()),
		"State":     builder.Select(is.GetState()),
		"Labels":    builder.MultiSelect(labelNames(is.Labels)...),
		"Author":    builder.RichText(is.GetUser().GetLogin()),
		"Assignees": builder.RichText(strings.Join(assignees, ", ")),
		"Comments":  builder.Int(int64(is.GetComments())),
		"Created":   builder.DateTime(is.GetCreatedAt().UTC()),
		"Updated":   builder.DateTime(is.GetUpdatedAt().UTC()),
		"Closed":    closed,
		"URL":       builder.URL(is.GetHTMLURL()),
	}
}

// maxBodyLines bounds the part of an issue's body written to its page. A
// page body holds at most 1,000 blocks and a Markdown line makes at most a
// few (a line with an image in it makes three), so a long body (GitHub
// allows 65,536 characters: a checklist of thousands of items) is cut and
// ends with a link to the issue, rather than failing the sync's page.
const maxBodyLines = 300

// body is the issue's body as the row's page content: GitHub's Markdown,
// cut after maxBodyLines lines. An issue without a body has an empty page.
func body(is *github.Issue) string {
	b := strings.ReplaceAll(is.GetBody(), "\r\n", "\n")
	lines := strings.Split(b, "\n")
	if len(lines) <= maxBodyLines {
		return b
	}
	kept := strings.Join(lines[:maxBodyLines], "\n")
	fences := 0
	for _, l := range lines[:maxBodyLines] {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fences++
		}
	}
	if fences%2 == 1 {
		kept += "\n```" // close the code block the cut is in
	}
	return kept + "\n\n---\n\n*The rest of this issue is on [GitHub](" + is.GetHTMLURL() + ").*\n"
}

// labelNames returns the issue's label names as Notion options. GitHub allows
// commas in label names and Notion does not allow them in option names, so a
// comma becomes a semicolon; labels that then collide are listed once.
func labelNames(labels []*github.Label) []string {
	names := make([]string, 0, len(labels))
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		n := strings.TrimSpace(strings.ReplaceAll(l.GetName(), ",", ";"))
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		names = append(names, n)
	}
	return names
}
