package api

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
)

// A ticket's description is Markdown, as helpdesks store it: a summary,
// numbered steps with a nested list, a checklist that follows the
// ticket's status, a code block and a quote. It is drawn from its own
// random source (seeded by the data set's seed and the ticket's id), so
// adding it changed none of the other demo data.

var (
	areas     = []string{"Billing", "Reports", "Settings", "Team members", "Exports", "Integrations"}
	platforms = []string{"Firefox 128 on Windows 11", "Safari 17 on macOS", "Chrome 126 on Linux", "the iOS app 4.2", "the Android app 4.1"}
	variants  = []string{"compact view", "dark mode", "EU region", "single sign-on", "legacy editor"}
	actions   = []string{"Click **Save** and wait", "Export the last 90 days as CSV", "Reload the page twice", "Invite a second user", "Run the nightly sync by hand"}
	quotes    = []string{"This blocks our month-end close.", "Happens every morning since the update.", "Half of our team sees it, the other half not.", "We can work around it, but it is annoying.", "Our auditors need this fixed by Friday."}
)

// describe writes t's description (its checklist follows t.Status).
func (s *Server) describe(t *Ticket) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", s.cfg.Seed, t.ID)
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	customer := "A customer"
	if c := s.customers[t.CustomerID]; c != nil {
		customer = "**" + c.Name + "**"
	}
	slug := "example"
	if c := s.customers[t.CustomerID]; c != nil {
		slug = strings.ToLower(strings.ReplaceAll(c.Name, " ", ""))
	}
	check := func(done bool) string {
		if done {
			return "x"
		}
		return " "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s reports: “%s”. See the [account page](https://helpdesk.example/accounts/%s).\n\n", customer, t.Title, slug)
	b.WriteString("### Steps to reproduce\n\n")
	fmt.Fprintf(&b, "1. Sign in as `agent@%s.example`\n", slug)
	fmt.Fprintf(&b, "2. Open **%s**\n   - on %s\n   - with the *%s* setting\n", pick(rng, areas), pick(rng, platforms), pick(rng, variants))
	fmt.Fprintf(&b, "3. %s\n\n", pick(rng, actions))
	b.WriteString("### Status\n\n")
	fmt.Fprintf(&b, "- [x] Reproduced by support\n- [%s] Fix deployed\n- [%s] Customer confirmed\n\n", check(t.Status == "closed"), check(t.Status == "closed" && rng.IntN(2) == 0))
	switch rng.IntN(3) {
	case 0:
		fmt.Fprintf(&b, "```bash\ncurl -s -H 'Authorization: Bearer $TOKEN' \\\n  https://api.%s.example/v1/export?days=90\n```\n\n", slug)
	case 1:
		fmt.Fprintf(&b, "```json\n{\"error\": \"internal\", \"request_id\": \"%08x\", \"status\": 500}\n```\n\n", rng.Uint32())
	default:
		fmt.Fprintf(&b, "```log\n%s ERROR worker: job %d failed: context deadline exceeded\n%s WARN  retrying in 30s\n```\n\n",
			t.CreatedAt.Format("15:04:05"), rng.IntN(10000), t.CreatedAt.Add(time.Second).Format("15:04:05"))
	}
	fmt.Fprintf(&b, "> %s\n", pick(rng, quotes))
	t.Description = b.String()
}
