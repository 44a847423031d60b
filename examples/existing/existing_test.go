package accounts_test

import (
	"net/http/httptest"
	"testing"

	"github.com/synqhq/synq"
	accounts "github.com/synqhq/synq/examples/existing"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/synqtest"
)

// The sync's pages are valid changes of the Accounts database (the schema
// it owns), keyed by customer name, with the team's columns left out.
func TestAccountsSync(t *testing.T) {
	srv, err := api.New(api.Config{Customers: 7, Teams: 1, Projects: 1, TasksPerProject: 1, Articles: 1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	w := synq.NewWorker(synq.WorkerConfig{Name: "accounts-test"})
	if err := accounts.Register(w, accounts.Config{DatabaseURL: "https://www.notion.so/acme/Accounts-0123456789abcdef0123456789abcdef", HelpdeskURL: hs.URL, HTTPClient: hs.Client()}); err != nil {
		t.Fatal(err)
	}
	page := synqtest.Execute(t, w, "accountsSync", &accounts.Cursor{})
	if len(page.Keys()) != 7 || page.HasMore {
		t.Fatalf("page keys = %v (has more %v), want the 7 customers", page.Keys(), page.HasMore)
	}
	for _, k := range page.Keys() {
		c, _ := page.Change(k)
		for name := range c.Properties {
			if _, ok := accounts.Schema()[name]; !ok {
				t.Errorf("change %q writes %q, which the sync does not own", k, name)
			}
		}
	}
}

func TestRegisterRefusesNoDatabase(t *testing.T) {
	w := synq.NewWorker(synq.WorkerConfig{Name: "accounts-test"})
	if err := accounts.Register(w, accounts.Config{HelpdeskURL: "http://127.0.0.1:7080"}); err == nil {
		t.Fatal("Register without a database URL succeeded")
	}
}
