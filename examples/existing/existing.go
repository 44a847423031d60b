// Package accounts is an example of syncing into a Notion database people
// already have: the sales team's "Accounts" database, where each row is a
// customer with the columns the team fills in (an owner, notes, a renewal
// date, a health score), gets the customer's plan, country and website
// from the demo helpdesk API, while everything the team wrote stays as it
// is.
//
// # Running it
//
//	export ACCOUNTS_DATABASE_URL=https://www.notion.so/acme/Accounts-…   # shared with the integration
//	export HELPDESK_API_URL=http://127.0.0.1:7080                       # make dev serves the demo API
//	export REDIS_URL=redis://127.0.0.1:6379/0 NOTION_API_TOKEN=ntn_…
//	go run ./examples/existing/cmd/accounts-executor
//
// `ctl schema "$ACCOUNTS_DATABASE_URL"` prints the database's columns as a
// schema.Properties declaration to start from.
//
// # What it does
//
// Register declares the database "accounts" with Existing set: synq finds
// it (never creates it), adds the columns it owns if they are missing
// (Plan, Country, Website) and refuses to start if one of them exists
// with another type. At first start it reads the database whole and adopts
// every row whose Name has a value: the replace sync "accountsSync" then
// updates those rows in place, adds rows for new customers, and trashes
// only rows it created or wrote whose customer is gone. Rows without a
// name and the team's columns are never touched.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/schema"
)

// Config says which database and which API.
type Config struct {
	// DatabaseURL is the Accounts database's URL or id (env
	// ACCOUNTS_DATABASE_URL).
	DatabaseURL string
	// HelpdeskURL is the demo helpdesk API (env HELPDESK_API_URL).
	HelpdeskURL string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Schema is what the sync owns in the Accounts database; every other column
// stays the team's.
func Schema() schema.Properties {
	return schema.Properties{
		// The database's title column holds the key: rows the team already
		// has are adopted by customer name.
		"Name": schema.Title(),
		"Plan": schema.Select(schema.Option{Name: "free", Color: schema.Gray}, schema.Option{Name: "pro", Color: schema.Blue},
			schema.Option{Name: "enterprise", Color: schema.Purple}),
		"Country": schema.RichText(),
		"Website": schema.URL(),
	}
}

// Register declares the Accounts database and its sync on w.
func Register(w *synq.Worker, cfg Config) error {
	if cfg.DatabaseURL == "" {
		return errors.New("accounts: DatabaseURL is empty: set ACCOUNTS_DATABASE_URL to the Accounts database's URL (Share → Copy link)")
	}
	if _, err := url.Parse(cfg.HelpdeskURL); err != nil || cfg.HelpdeskURL == "" {
		return fmt.Errorf("accounts: HelpdeskURL %q: set HELPDESK_API_URL, e.g. http://127.0.0.1:7080", cfg.HelpdeskURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	db := w.Database("accounts", synq.DatabaseConfig{
		Existing:   cfg.DatabaseURL,
		PrimaryKey: "Name",
		Schema:     Schema(),
	})
	synq.AddSync(w, "accountsSync", synq.SyncConfig[Cursor]{
		Database: db,
		Schedule: "1h",
		Execute: func(ctx context.Context, c *Cursor) (synq.Result[Cursor], error) {
			return page(ctx, cfg, c)
		},
	})
	return nil
}

// Cursor is the sync's state within a replace cycle.
type Cursor struct {
	Next string `json:"next,omitempty"`
}

// page lists one page of customers.
func page(ctx context.Context, cfg Config, c *Cursor) (synq.Result[Cursor], error) {
	q := url.Values{"limit": {strconv.Itoa(100)}}
	if c.Next != "" {
		q.Set("cursor", c.Next)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.HelpdeskURL+"/v1/customers?"+q.Encode(), nil)
	if err != nil {
		return synq.Result[Cursor]{}, err
	}
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return synq.Result[Cursor]{}, fmt.Errorf("accounts: GET /v1/customers: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return synq.Result[Cursor]{}, &synq.RateLimitError{RetryAfter: time.Duration(max(secs, 1)) * time.Second}
	}
	if resp.StatusCode != http.StatusOK {
		return synq.Result[Cursor]{}, fmt.Errorf("accounts: GET /v1/customers: %s", resp.Status)
	}
	var body struct {
		Data       []api.Customer `json:"data"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return synq.Result[Cursor]{}, fmt.Errorf("accounts: GET /v1/customers: %w", err)
	}
	res := synq.Result[Cursor]{HasMore: body.NextCursor != "", NextState: &Cursor{Next: body.NextCursor}}
	for _, cu := range body.Data {
		if cu.Name == "" {
			continue // no key: such a row would be the team's, never synq's
		}
		res.Changes = append(res.Changes, synq.Upsert(cu.Name, builder.Properties{
			"Plan":    builder.Select(cu.Plan),
			"Country": builder.RichText(cu.Country),
			"Website": builder.URL(cu.Website),
		}).UpdatedAt(cu.UpdatedAt))
	}
	return res, nil
}
