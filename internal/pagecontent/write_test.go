package pagecontent_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
)

const ticketBody = `## Summary

The **label printer** in the warehouse prints blank labels since the
firmware update of _Monday_. See the [vendor note](https://vendor.example/kb/123).

### Steps to reproduce

1. Open the *Shipping* app
2. Print any label
   - with the default template
   - or with ` + "`template=compact`" + `
3. Watch the printer feed a blank label

### What we tried

- [x] Power cycle
- [x] Reinstall the driver
- [ ] Roll the firmware back

> Customer: "We ship 400 parcels a day, this blocks us."

Logs from the print server:

` + "```console" + `
$ lpstat -t
printer zebra01 disabled since Mon 09:12
	reason: filter failed
` + "```" + `

| Printer | Firmware | Status |
|---------|----------|--------|
| zebra01 | 4.2.1    | ~~ok~~ broken |
| zebra02 | 4.1.9    | ok |

![photo of the label](https://cdn.example/tickets/4711/label.jpg)

---

Escalated to **L2** by @ada.
`

const issueBody = `### Describe the bug
Running ` + "`synq ctl status`" + ` panics when a sync has never run.

**To Reproduce**
Steps to reproduce the behavior:
1. Declare a sync with ` + "`Schedule: \"manual\"`" + `
2. Run ` + "`ctl status`" + `

**Expected behavior**
A table with INITIALIZING.

` + "```go" + `
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x4a1b2c]

goroutine 1 [running]:
main.status(...)
` + "```" + `

<details><summary>Environment</summary>

- OS: Debian 12
- Go: 1.26

</details>
`

// sameBody fails unless got (read back) is want (converted), block by
// block, children included.
func sameBody(t testing.TB, want, got []notion.Block) {
	t.Helper()
	if dw, dg := dump(want), dump(got); dw != dg {
		t.Fatalf("body differs\nwant:\n%s\ngot:\n%s", dw, dg)
	}
	if !slices.Equal(pagecontent.Hashes(want), pagecontent.Hashes(got)) {
		t.Fatalf("same text but different hashes:\n%s", dump(got))
	}
}

func read(t testing.TB, e *env, page string) []notion.Block {
	t.Helper()
	bs, err := pagecontent.Read(ctxT(t), e.c, page)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// TestRoundTrip writes each construct with a page create and with an
// append, reads it back through the client and compares.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	bodies := map[string]string{
		"headings":    "# One\n## Two\n### Three\n#### Four\n",
		"paragraphs":  "first\nsecond line\n\nnext  \nhard\n",
		"inline":      "a *i* **b** ***bi*** ~~s~~ `code` [link](https://x.io/a?b=c) **[bold link](https://x.io)** <https://auto.io> www.b.io c@d.io",
		"lists":       "- a\n  - a1\n    - a11\n      - a111\n- b\n\n1. one\n2. two\n   1. two.one\n",
		"to-dos":      "- [ ] open\n- [x] done\n  - [ ] nested\n",
		"quote":       "> quoted *text*\n> more\n>\n> - item in quote\n",
		"code":        "```python\nprint('hi')\n```\n\n```\nplain\n```\n\n    indented\n",
		"divider":     "a\n\n---\n\nb\n",
		"image":       "![chart](https://img.io/c.png)\n\ntext ![i](https://img.io/i.png) more\n",
		"table":       "| k | v |\n|---|---|\n| a | **b** |\n| c |\n",
		"unsupported": "<div>\n<b>html</b>\n</div>\n\nnote[^1]\n\n[^1]: the source\n",
		"long text":   strings.Repeat("word ", 1000) + "\n\n" + strings.Repeat("😀", 1500),
		"blocks in a list": "- item\n\n  | a | b |\n  |---|---|\n  | 1 | 2 |\n\n  ```go\n  x := 1\n  ```\n\n  ![i](https://img.io/i.png)\n" +
			"- [ ] task\n  > quoted\n  > - with\n  >   - deep\n",
		"ticket": ticketBody,
		"issue":  issueBody,
	}
	for name, md := range bodies {
		t.Run(name, func(t *testing.T) {
			want := mustConvert(t, md)
			pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row(name), want)
			if err != nil {
				t.Fatal(err)
			}
			sameBody(t, want, read(t, e, pg.ID))
			if len(refs) != len(want) {
				t.Errorf("%d refs for %d blocks", len(refs), len(want))
			}
			// The same body appended to an empty page.
			empty, err := e.c.CreatePage(ctxT(t), e.row(name+" appended"))
			if err != nil {
				t.Fatal(err)
			}
			refs, err = pagecontent.Apply(ctxT(t), e.c, empty.ID, nil, want, pagecontent.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := read(t, e, empty.ID)
			sameBody(t, want, got)
			for i, r := range refs {
				if r.ID != got[i].ID || r.Hash != pagecontent.Hash(want[i]) {
					t.Fatalf("ref %d = %+v, the page has %s", i, r, got[i].ID)
				}
			}
		})
	}
}

// TestWriteBeyondOneRequest writes bodies no single request can carry:
// 250 blocks, lists nested seven deep, a table of 150 rows, 1000 blocks.
func TestWriteBeyondOneRequest(t *testing.T) {
	e := newEnv(t)
	var md strings.Builder
	for i := range 240 {
		fmt.Fprintf(&md, "paragraph %d\n\n", i)
	}
	for i := range 7 {
		md.WriteString(strings.Repeat("  ", i) + "- level " + fmt.Sprint(i+1) + "\n")
	}
	md.WriteString("\n| n | sq |\n|---|---|\n")
	for i := range 150 {
		fmt.Fprintf(&md, "| %d | %d |\n", i, i*i)
	}
	want := mustConvert(t, md.String())
	e.calls()
	pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row("big"), want)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.calls()
	sameBody(t, want, read(t, e, pg.ID))
	// 100 with the create, 100 + 42 top-level in two appends, then one
	// append per list level past the second and one for table rows past 100.
	if calls > 10 {
		t.Errorf("%d requests to write 250 top-level blocks", calls)
	}
	for i, r := range refs {
		if (i < 100) != (r.ID == "") {
			t.Fatalf("ref %d id %q: the first 100 go with the create, without ids", i, r.ID)
		}
	}

	// 1000 blocks in one body: ten lists of 99 nested items.
	md.Reset()
	for i := range 10 {
		fmt.Fprintf(&md, "- list %d\n", i)
		for j := range 99 {
			fmt.Fprintf(&md, "  - item %d.%d\n", i, j)
		}
	}
	want = mustConvert(t, md.String())
	e.calls()
	pg, _, err = pagecontent.CreatePage(ctxT(t), e.c, e.row("thousand"), want)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d blocks written in %d requests", countBlocks(want), e.calls())
	sameBody(t, want, read(t, e, pg.ID))
}

func countBlocks(bs []notion.Block) int {
	n := len(bs)
	for _, b := range bs {
		n += countBlocks(b.Children)
	}
	return n
}

// TestApplyEdits turns a body into another through the emulator, for the
// edit cases, and counts the requests.
func TestApplyEdits(t *testing.T) {
	e := newEnv(t)
	base := "# Title\n\nIntro paragraph.\n\n- item one\n  - nested\n- item two\n\n```go\nx := 1\n```\n\nClosing words.\n"
	cases := []struct {
		name, from, to string
		calls          int64 // once ids are known
	}{
		{"change a paragraph", base, strings.Replace(base, "Intro paragraph.", "Intro, edited.", 1), 1},
		{"insert", base, strings.Replace(base, "Closing words.", "A new paragraph.\n\nClosing words.", 1), 1},
		{"delete", base, strings.Replace(base, "Intro paragraph.\n\n", "", 1), 1},
		{"reorder", base, "# Title\n\nClosing words.\n\nIntro paragraph.\n\n- item one\n  - nested\n- item two\n\n```go\nx := 1\n```\n", 2},
		{"type change", base, strings.Replace(base, "Intro paragraph.", "> Intro paragraph.", 1), 2},
		{"nested change", base, strings.Replace(base, "  - nested", "  - nested, edited", 1), 2},
		{"code change", base, strings.Replace(base, "x := 1", "x := 2", 1), 1},
		{"empty to body", "", base, 1},
		{"body to empty", base, "", 6},
		{"new first block", base, "Preface.\n\n" + base, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from, to := mustConvert(t, tc.from), mustConvert(t, tc.to)
			pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row(tc.name), from)
			if err != nil {
				t.Fatal(err)
			}
			e.calls()
			// First change after a create: the ids are looked up once.
			refs, err = pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, to, pagecontent.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			first := e.calls()
			sameBody(t, to, read(t, e, pg.ID))
			e.calls()
			// Back and forth with known ids: exactly the plan's requests.
			refs, err = pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, from, pagecontent.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			back := e.calls()
			sameBody(t, from, read(t, e, pg.ID))
			e.calls()
			if _, err = pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, to, pagecontent.ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			if n := e.calls(); n != tc.calls {
				t.Errorf("%d requests, want %d", n, tc.calls)
			}
			sameBody(t, to, read(t, e, pg.ID))
			t.Logf("first change %d requests (ids looked up), back %d", first, back)
		})
	}
}

// TestApplyUnchangedCostsNothing: equal refs and blocks make no request.
func TestApplyUnchangedCostsNothing(t *testing.T) {
	e := newEnv(t)
	body := mustConvert(t, ticketBody)
	pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row("same"), body)
	if err != nil {
		t.Fatal(err)
	}
	e.calls()
	if _, err := pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, mustConvert(t, ticketBody), pagecontent.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := e.calls(); n != 0 {
		t.Errorf("an unchanged body cost %d requests", n)
	}
}

// TestApplyAfterCrash kills the writer after k writes of a body update,
// for every k, then runs the update again from the stale stored refs, as
// the next attempt would: the page must end with the new body and no
// block twice.
func TestApplyAfterCrash(t *testing.T) {
	e := newEnv(t)
	from := mustConvert(t, ticketBody)
	toMD := strings.NewReplacer(
		"### What we tried", "### What we tried so far",
		"- [ ] Roll the firmware back", "- [x] Roll the firmware back\n  - [x] to 4.1.9\n    - worked on zebra02\n      - not on zebra01",
		"Logs from the print server:", "",
		"---", "More text.\n\n- new list\n  - with\n    - deep\n      - items\n\n---",
	).Replace(ticketBody)
	to := mustConvert(t, toMD)
	for _, afterSending := range []bool{false, true} {
		for k := 0; ; k++ {
			pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row(fmt.Sprintf("crash %d %v", k, afterSending)), from)
			if err != nil {
				t.Fatal(err)
			}
			if refs, err = pagecontent.Apply(ctxT(t), e.c, pg.ID, nil, from, pagecontent.ApplyOptions{Verify: true}); err != nil {
				t.Fatal(err) // the ids, known
			}
			dead := newClient(t, e.emu, &dying{writes: k, afterSending: afterSending})
			_, err = pagecontent.Apply(ctxT(t), dead, pg.ID, refs, to, pagecontent.ApplyOptions{})
			if err == nil {
				if k == 0 {
					t.Fatal("no write was made")
				}
				break // k is past the last write: nothing left to kill
			}
			if !errors.Is(err, errKilled) {
				t.Fatalf("k=%d: %v", k, err)
			}
			// The next attempt: stale refs, and Verify since the last write
			// of this body did not finish.
			got, err := pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, to, pagecontent.ApplyOptions{Verify: true})
			if err != nil {
				t.Fatalf("k=%d: retry: %v", k, err)
			}
			body := read(t, e, pg.ID)
			sameBody(t, to, body)
			for i := range got {
				if got[i].ID != body[i].ID {
					t.Fatalf("k=%d: refs do not name the page's blocks", k)
				}
			}
		}
	}
}

// TestApplyStaleWithoutVerify: blocks deleted behind synq's back (a person
// removed them, or a crashed attempt trashed them before its appends)
// are found out from Notion's answers, and the body converges.
func TestApplyStaleWithoutVerify(t *testing.T) {
	e := newEnv(t)
	from := mustConvert(t, "# T\n\np1\n\np2\n\np3\n\np4\n")
	to := mustConvert(t, "# T\n\np1 edited\n\np3\n\np4 edited\n\np5\n")
	pg, refs, err := pagecontent.CreatePage(ctxT(t), e.c, e.row("stale"), from)
	if err != nil {
		t.Fatal(err)
	}
	if refs, err = pagecontent.Apply(ctxT(t), e.c, pg.ID, nil, from, pagecontent.ApplyOptions{Verify: true}); err != nil {
		t.Fatal(err)
	}
	// Someone deletes p1 (to be updated), p2 (to be deleted) and p4 (the
	// anchor of the append).
	for _, i := range []int{1, 2, 4} {
		if _, err := e.c.DeleteBlock(ctxT(t), refs[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, to, pagecontent.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	sameBody(t, to, read(t, e, pg.ID))
}

// TestApplyUnderFaults writes bodies while the emulator fails a third of
// the writes (500 before applying, 503 after applying): ambiguous appends
// are settled by reading the body back, never by appending twice.
func TestApplyUnderFaults(t *testing.T) {
	e := newEnv(t)
	bodies := []string{ticketBody, issueBody, strings.Replace(ticketBody, "blank labels", "nothing", 1), "", ticketBody}
	pg, err := e.c.CreatePage(ctxT(t), e.row("faulty"))
	if err != nil {
		t.Fatal(err)
	}
	e.emu.SetFaults(emulator.Faults{Rate500: 0.15, RateAppliedThen503: 0.2, Seed: 7})
	var refs []pagecontent.Ref
	verify := false
	for i := 0; i < len(bodies); {
		blocks := mustConvert(t, bodies[i])
		got, err := pagecontent.Apply(ctxT(t), e.c, pg.ID, refs, blocks, pagecontent.ApplyOptions{Verify: verify})
		if err != nil {
			// As the engine would: the page is retried, verifying.
			verify = true
			continue
		}
		refs, verify = got, false
		e.emu.SetFaults(emulator.Faults{})
		sameBody(t, blocks, read(t, e, pg.ID))
		e.emu.SetFaults(emulator.Faults{Rate500: 0.15, RateAppliedThen503: 0.2, Seed: uint64(8 + i)})
		i++
	}
	if st := e.emu.Stats(); st.ByStatus[500]+st.ByStatus[503] == 0 {
		t.Error("no fault was injected")
	}
}
