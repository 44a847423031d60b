package pagecontent_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/pagecontent"
)

// Blocks of the plan tests, by name: pN paragraphs, hN headings, qN
// quotes, lN list items with children (not updatable in place).
func blk(name string) notion.Block {
	t := notion.Text(name)
	switch name[0] {
	case 'h':
		return notion.Heading(2, t)
	case 'q':
		return notion.Quote(t)
	case 'l':
		b := notion.BulletedListItem(t)
		b.Children = []notion.Block{notion.BulletedListItem(notion.Text(name + ".child"))}
		return b
	}
	return notion.Paragraph(t)
}

func blks(names string) []notion.Block {
	var out []notion.Block
	for _, n := range strings.Fields(names) {
		out = append(out, blk(n))
	}
	return out
}

// oldRefs names old blocks A, B, C … in order.
func oldRefs(names string) []pagecontent.Ref {
	var out []pagecontent.Ref
	for i, b := range blks(names) {
		out = append(out, pagecontent.Ref{ID: string(rune('A' + i)), Hash: pagecontent.Hash(b)})
	}
	return out
}

func TestDiff(t *testing.T) {
	cases := []struct {
		name, old, new, ops string
		calls               int
	}{
		{"unchanged", "p1 p2 p3", "p1 p2 p3", "", 0},
		{"one paragraph changed", "p1 p2 p3", "p1 pX p3", `update B to 1`, 1},
		{"two changed", "p1 p2 p3 p4", "pX p2 p3 pY", `update A to 0; update D to 3`, 2},
		{"insert in the middle", "p1 p2 p3", "p1 pX pY p2 p3", `append 1-3 after "A"`, 1},
		{"insert at the end", "p1 p2", "p1 p2 h9", `append 2-3 after "B"`, 1},
		{"insert at the start, same type", "p1 p2", "pX p1 p2", `update A to 0; append 1-2 after "A"`, 2},
		{"insert at the start, other type", "p1 p2", "h0 p1 p2", `delete A; delete B; append 0-3 after ""`, 3},
		{"insert at the start keeps later blocks", "h1 p1 p2", "h0 h1 p1 p2", `update A to 0; append 1-2 after "A"`, 2},
		{"delete", "p1 p2 p3", "p1 p3", `delete B`, 1},
		{"delete the first", "p1 p2 p3", "p2 p3", `delete A`, 1},
		{"reorder: last to first", "p1 p2 p3", "p3 p1 p2", `delete C; update A to 0; append 1-2 after "A"`, 3},
		{"reorder: swap", "h1 p2 p3", "h1 p3 p2", `delete B; append 2-3 after "C"`, 2},
		{"type change", "p1 p2", "p1 q2", `delete B; append 1-2 after "A"`, 2},
		{"children change", "p1 l1", "p1 l2", `delete B; append 1-2 after "A"`, 2},
		{"paragraph becomes a list", "p1 p2", "p1 l2", `delete B; append 1-2 after "A"`, 2},
		{"empty to body", "", "h1 p1 l1", `append 0-3 after ""`, 1},
		{"body to empty", "h1 p1", "", `delete A; delete B`, 2},
		{"rewrite", "p1 p2", "h1 h2", `delete A; delete B; append 0-2 after ""`, 3},
		{"mixed", "h1 p1 p2 l1 p3 q1", "h1 pX p2 p3 p4 q1 p5", `delete D; update B to 1; append 4-5 after "E"; append 6-7 after "F"`, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := oldRefs(tc.old)
			p := pagecontent.Diff(old, blks(tc.new))
			if got := p.String(); got != tc.ops {
				t.Errorf("ops\n got %s\nwant %s", got, tc.ops)
			}
			if n := calls(p); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
			checkPlan(t, old, blks(tc.new), p)
		})
	}
}

func calls(p pagecontent.Plan) int { return len(p.Ops) }

// checkPlan applies p to a model of the page and checks it ends as want,
// with every kept block where the plan's refs say.
func checkPlan(t *testing.T, old []pagecontent.Ref, want []notion.Block, p pagecontent.Plan) {
	t.Helper()
	page := slices.Clone(old)
	seq := 0
	hashes := pagecontent.Hashes(want)
	appended := map[int]string{}
	for _, op := range p.Ops {
		switch op.Kind {
		case pagecontent.OpDelete:
			i := slices.IndexFunc(page, func(r pagecontent.Ref) bool { return r.ID == op.ID })
			if i < 0 {
				t.Fatalf("%s: no such block", op)
			}
			page = slices.Delete(page, i, i+1)
		case pagecontent.OpUpdate:
			i := slices.IndexFunc(page, func(r pagecontent.Ref) bool { return r.ID == op.ID })
			if i < 0 {
				t.Fatalf("%s: no such block", op)
			}
			if pagecontent.HashType(page[i].Hash) != want[op.From].Type || len(want[op.From].Children) > 0 {
				t.Fatalf("%s: a %s cannot become a %s with children %d", op, pagecontent.HashType(page[i].Hash), want[op.From].Type, len(want[op.From].Children))
			}
			page[i].Hash = hashes[op.From]
		case pagecontent.OpAppend:
			at := len(page)
			if op.After != "" {
				at = slices.IndexFunc(page, func(r pagecontent.Ref) bool { return r.ID == op.After }) + 1
				if at == 0 {
					t.Fatalf("%s: no such block", op)
				}
			}
			var ins []pagecontent.Ref
			for j := op.From; j < op.To; j++ {
				seq++
				id := fmt.Sprintf("new%d", seq)
				appended[j] = id
				ins = append(ins, pagecontent.Ref{ID: id, Hash: hashes[j]})
			}
			page = slices.Insert(page, at, ins...)
		}
	}
	if len(page) != len(want) {
		t.Fatalf("page has %d blocks, want %d", len(page), len(want))
	}
	for j := range page {
		if page[j].Hash != hashes[j] {
			t.Fatalf("block %d differs after the plan", j)
		}
		id := p.Refs[j].ID
		if id == "" {
			id = appended[j]
		}
		if page[j].ID != id || p.Refs[j].Hash != hashes[j] {
			t.Fatalf("ref %d is %+v, the page has %+v", j, p.Refs[j], page[j])
		}
	}
}

// TestDiffRandom checks that any plan turns any body into any other.
func TestDiffRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"p1", "p2", "p3", "h1", "h2", "q1", "l1", "l2"}
	gen := func() string {
		n := rng.IntN(9)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = names[rng.IntN(len(names))]
		}
		return strings.Join(parts, " ")
	}
	for range 1000 {
		old, new := gen(), gen()
		p := pagecontent.Diff(oldRefs(old), blks(new))
		t.Run(old+" → "+new, func(t *testing.T) { checkPlan(t, oldRefs(old), blks(new), p) })
		if len(new) > 0 && old == new && len(p.Ops) != 0 {
			t.Fatalf("%q unchanged costs %s", old, p)
		}
	}
}

func TestHashAndRefs(t *testing.T) {
	a := notion.Paragraph(notion.Text("ab"))
	// Cut differently, with default annotations and read-only fields, it
	// is the same block.
	b := notion.Paragraph(notion.Text("a"), notion.Text("b"))
	b.Paragraph.RichText[0].Annotations = &notion.Annotations{Color: "default"}
	b.Paragraph.Color = "default"
	b.ID, b.Object, b.HasChildren = "x", "block", false
	if pagecontent.Hash(a) != pagecontent.Hash(b) {
		t.Error("equal content hashes differently")
	}
	bold := notion.Paragraph(notion.Text("ab"))
	bold.Paragraph.RichText[0].Annotations = &notion.Annotations{Bold: true}
	for _, other := range []notion.Block{bold, notion.Quote(notion.Text("ab")), notion.Paragraph(notion.LinkText("ab", "https://x.io")), blk("lab")} {
		if pagecontent.Hash(a) == pagecontent.Hash(other) {
			t.Errorf("%s hashes like a paragraph", other.Type)
		}
	}
	if pagecontent.HashType(pagecontent.Hash(blk("l1"))) != notion.BlockBulletedListItem {
		t.Error("the hash does not carry the type")
	}
	refs := []pagecontent.Ref{{ID: "2a0c7f3e-1b2d-4c5e-8f90-a1b2c3d4e5f6", Hash: 1<<63 | 42}, {Hash: 7}}
	enc, err := pagecontent.EncodeRefs(refs)
	// count, bitmap, two hashes, one id
	if err != nil || len(enc) != 1+1+16+16 {
		t.Fatalf("encode: %d bytes, %v", len(enc), err)
	}
	dec, err := pagecontent.DecodeRefs(enc)
	if err != nil || !slices.Equal(dec, refs) {
		t.Errorf("decode: %+v, %v", dec, err)
	}
	if _, err := pagecontent.EncodeRefs([]pagecontent.Ref{{ID: "nope"}}); err == nil {
		t.Error("a non-UUID id encoded")
	}
	for cut := range len(enc) {
		if _, err := pagecontent.DecodeRefs(enc[:cut]); err == nil {
			t.Errorf("refs cut to %d bytes decoded", cut)
		}
	}
	if _, err := pagecontent.DecodeRefs(append(enc, 0)); err == nil {
		t.Error("refs with a trailing byte decoded")
	}
	// A body written with its create: no ids, 8 bytes a block.
	noIDs := make([]pagecontent.Ref, 40)
	for i := range noIDs {
		noIDs[i].Hash = uint64(i) << 40
	}
	enc, err = pagecontent.EncodeRefs(noIDs)
	if err != nil || len(enc) != 1+5+320 {
		t.Fatalf("40 refs without ids: %d bytes, %v", len(enc), err)
	}
	if dec, err := pagecontent.DecodeRefs(enc); err != nil || !slices.Equal(dec, noIDs) {
		t.Errorf("decode 40 refs without ids: %v", err)
	}
	if enc, err := pagecontent.EncodeRefs(nil); err != nil || len(enc) != 1 {
		t.Errorf("no refs: %v, %v", enc, err)
	} else if dec, err := pagecontent.DecodeRefs(enc); err != nil || len(dec) != 0 {
		t.Errorf("decode no refs: %v, %v", dec, err)
	}
	if pagecontent.BodyHash(blks("p1 p2")) == pagecontent.BodyHash(blks("p2 p1")) || pagecontent.BodyHash(nil) != pagecontent.BodyHash([]notion.Block{}) {
		t.Error("body hash")
	}
}

// FuzzRefs checks that stored refs round-trip and that damaged bytes (a
// corrupt or foreign body record) give an error, never a panic.
func FuzzRefs(f *testing.F) {
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 7}, uint8(3), uint64(42))
	f.Add([]byte{}, uint8(0), uint64(0))
	f.Fuzz(func(t *testing.T, junk []byte, n uint8, seed uint64) {
		if refs, err := pagecontent.DecodeRefs(junk); err == nil {
			// Whatever decodes encodes back to the same bytes.
			enc, err := pagecontent.EncodeRefs(refs)
			if err != nil || !slices.Equal(enc, junk) {
				t.Fatalf("decoded %x to %d refs that encode to %x, %v", junk, len(refs), enc, err)
			}
		}
		refs := make([]pagecontent.Ref, int(n)%64)
		for i := range refs {
			refs[i].Hash = seed * uint64(i+1)
			if (seed>>(i%64))&1 == 1 {
				refs[i].ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, seed&0xffffffffffff)
			}
		}
		enc, err := pagecontent.EncodeRefs(refs)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := pagecontent.DecodeRefs(enc)
		if err != nil || !slices.Equal(dec, refs) {
			t.Fatalf("round trip of %d refs: %v", len(refs), err)
		}
	})
}

func TestForgetIDsKeepsHashes(t *testing.T) {
	refs := []pagecontent.Ref{
		{ID: "1a2b3c4d-0000-4000-8000-000000000001", Hash: 11},
		{Hash: 22},
		{ID: "1a2b3c4d-0000-4000-8000-000000000003", Hash: 33},
	}
	enc, err := pagecontent.EncodeRefs(refs)
	if err != nil {
		t.Fatal(err)
	}
	out, changed, err := pagecontent.ForgetIDs(enc)
	if err != nil || !changed {
		t.Fatalf("ForgetIDs = %v, %v", changed, err)
	}
	got, err := pagecontent.DecodeRefs(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []pagecontent.Ref{{Hash: 11}, {Hash: 22}, {Hash: 33}}
	if !slices.Equal(got, want) {
		t.Fatalf("refs without ids = %+v, want %+v", got, want)
	}
	if again, changed, err := pagecontent.ForgetIDs(out); err != nil || changed || string(again) != string(out) {
		t.Fatalf("ForgetIDs of refs without ids = %v, %v: want them unchanged", changed, err)
	}
	if _, _, err := pagecontent.ForgetIDs(enc[:3]); err == nil {
		t.Fatal("cut refs: want an error")
	}
}
