package pagecontent

import (
	"encoding/json"
	"testing"

	"github.com/synqhq/synq/internal/notion"
)

// A sub-page or inline database a person put in a row's page is never
// part of the refs a body update plans against, so it is never trashed.
func TestSubPagesAreNotBody(t *testing.T) {
	var blocks []notion.Block
	in := `[{"object":"block","id":"11111111-1111-4111-8111-111111111111","type":"paragraph","paragraph":{"rich_text":[]}},
	{"object":"block","id":"22222222-2222-4222-8222-222222222222","type":"child_page","has_children":true,"child_page":{"title":"Notes"}},
	{"object":"block","id":"33333333-3333-4333-8333-333333333333","type":"child_database","child_database":{"title":"DB"}}]`
	if err := json.Unmarshal([]byte(in), &blocks); err != nil {
		t.Fatal(err)
	}
	refs := refsOfRead(blocks)
	if len(refs) != 1 || refs[0].ID != blocks[0].ID {
		t.Fatalf("refs %+v", refs)
	}
	p := DiffHashes(refs, nil)
	if p.String() != "delete "+blocks[0].ID {
		t.Errorf("emptying the body plans %s", p)
	}
}
