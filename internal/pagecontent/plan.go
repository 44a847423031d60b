package pagecontent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/synqhq/synq/internal/notion"
)

// OpKind is what an Op does.
type OpKind uint8

// The operations of a plan, in the order Apply runs them.
const (
	// OpDelete trashes the old block ID (with its children).
	OpDelete OpKind = iota + 1
	// OpUpdate replaces the content of the old block ID with new block
	// From.
	OpUpdate
	// OpAppend inserts new blocks [From, To) after the block After ("" at
	// the end of the page: only when no old block stays).
	OpAppend
)

func (k OpKind) String() string {
	switch k {
	case OpDelete:
		return "delete"
	case OpUpdate:
		return "update"
	case OpAppend:
		return "append"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one step of a plan.
type Op struct {
	Kind     OpKind
	ID       string // delete, update: the old block
	After    string // append: the block the new ones follow
	From, To int    // update: From is the new block; append: new blocks [From, To)
}

func (o Op) String() string {
	switch o.Kind {
	case OpDelete:
		return "delete " + o.ID
	case OpUpdate:
		return fmt.Sprintf("update %s to %d", o.ID, o.From)
	}
	return fmt.Sprintf("append %d-%d after %q", o.From, o.To, o.After)
}

// Plan turns an old body into a new one.
type Plan struct {
	// Ops are the operations, deletes first, then updates, then appends.
	Ops []Op
	// Refs is the body once the plan is applied: per new block, the old
	// block it keeps or updates (ID "" for appended blocks, whose ids the
	// appends return) and its hash.
	Refs []Ref
	// idsNeeded is set when an op names an old block whose id is not
	// known.
	idsNeeded bool
}

func (p Plan) String() string {
	s := make([]string, len(p.Ops))
	for i, o := range p.Ops {
		s[i] = o.String()
	}
	return strings.Join(s, "; ")
}

// Diff plans the fewest operations from the old body (its refs) to the
// new blocks; it is DiffHashes on the blocks' hashes.
func Diff(old []Ref, blocks []notion.Block) Plan { return DiffHashes(old, Hashes(blocks)) }

// DiffHashes plans the fewest operations from the old body to a new body
// given by its blocks' hashes. It is a pure function:
//
//   - Old blocks equal to new ones (their longest common subsequence)
//     stay, at no cost.
//   - Between two blocks that stay, old and new blocks are paired in
//     order where one update can turn one into the other (same type, no
//     children on either side); the rest of the old ones are deleted and
//     the rest of the new ones appended after their predecessor, one
//     append for each run.
//   - Notion appends after a block or at the end, never at the start, so
//     the first new block must be an old block that stays (kept or
//     updated) unless nothing stays: when no old block can be first, the
//     first kept block is given up (deleted and appended again) until one
//     can, or the whole body is rewritten.
//
// A reordered block is deleted and appended at its new place.
func DiffHashes(old []Ref, hashes []uint64) Plan {
	oh := make([]uint64, len(old))
	for i, r := range old {
		oh[i] = r.Hash
	}
	anchors := lcs(oh, hashes, func(a, b uint64) bool { return a == b }, 0, len(oh), 0, len(hashes))
	var pairs [][2]int
	for {
		oa, na := len(oh), len(hashes)
		if len(anchors) > 0 {
			oa, na = anchors[0][0], anchors[0][1]
		}
		if na == 0 {
			// The first new block is kept: pair up the gaps.
			pairs = withGaps(oh, hashes, anchors, nil)
			break
		}
		// The first new block is in the head gap: it must be an old
		// block updated in place.
		k := -1
		for i := range oa {
			if updatable(oh[i], hashes[0]) {
				k = i
				break
			}
		}
		if k >= 0 {
			pairs = withGaps(oh, hashes, anchors, &[2]int{k, 0})
			break
		}
		if len(anchors) == 0 {
			pairs = nil // nothing can stay: rewrite the body
			break
		}
		anchors = anchors[1:]
	}
	return build(old, hashes, pairs)
}

// withGaps adds to anchors the update pairs in the gaps between them;
// head, when set, is a pair forced at the start of the head gap.
func withGaps(oh, nh []uint64, anchors [][2]int, head *[2]int) [][2]int {
	var out [][2]int
	po, pn := 0, 0
	if head != nil {
		out = append(out, *head)
		po, pn = head[0]+1, head[1]+1
	}
	for _, a := range anchors {
		out = append(out, lcs(oh, nh, updatable, po, a[0], pn, a[1])...)
		out = append(out, a)
		po, pn = a[0]+1, a[1]+1
	}
	return append(out, lcs(oh, nh, updatable, po, len(oh), pn, len(nh))...)
}

// build turns pairs (old index, new index; increasing in both) into the
// plan.
func build(old []Ref, hashes []uint64, pairs [][2]int) Plan {
	p := Plan{Refs: make([]Ref, len(hashes))}
	kept := make([]bool, len(old))
	paired := make([]int, len(hashes))
	for j := range paired {
		paired[j] = -1
	}
	for _, pr := range pairs {
		kept[pr[0]] = true
		paired[pr[1]] = pr[0]
	}
	for i, k := range kept {
		if !k {
			p.Ops = append(p.Ops, Op{Kind: OpDelete, ID: old[i].ID})
			p.idsNeeded = p.idsNeeded || old[i].ID == ""
		}
	}
	for j, i := range paired {
		p.Refs[j] = Ref{Hash: hashes[j]}
		if i < 0 {
			continue
		}
		p.Refs[j].ID = old[i].ID
		if old[i].Hash != hashes[j] {
			p.Ops = append(p.Ops, Op{Kind: OpUpdate, ID: old[i].ID, From: j})
			p.idsNeeded = p.idsNeeded || old[i].ID == ""
		}
	}
	for j := 0; j < len(hashes); {
		if paired[j] >= 0 {
			j++
			continue
		}
		from := j
		for j < len(hashes) && paired[j] < 0 {
			j++
		}
		after := ""
		if from > 0 {
			after = old[paired[from-1]].ID
			p.idsNeeded = p.idsNeeded || after == ""
		}
		p.Ops = append(p.Ops, Op{Kind: OpAppend, After: after, From: from, To: j})
	}
	return p
}

// lcs returns the pairs of a longest common subsequence of a[ai:aj] and
// b[bi:bj] under eq, in increasing order. Bodies are small (MaxBlocks),
// so the quadratic table is cheap; common prefixes and suffixes, the
// usual case of an edit, are matched first without it.
func lcs(a, b []uint64, eq func(x, y uint64) bool, ai, aj, bi, bj int) [][2]int {
	var head, tail [][2]int
	for ai < aj && bi < bj && eq(a[ai], b[bi]) {
		head = append(head, [2]int{ai, bi})
		ai, bi = ai+1, bi+1
	}
	for ai < aj && bi < bj && eq(a[aj-1], b[bj-1]) {
		tail = append(tail, [2]int{aj - 1, bj - 1})
		aj, bj = aj-1, bj-1
	}
	n, m := aj-ai, bj-bi
	var mid [][2]int
	if n > 0 && m > 0 {
		// t[i][j] is the LCS length of a[ai+i:aj] and b[bi+j:bj].
		t := make([][]int32, n+1)
		for i := range t {
			t[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if eq(a[ai+i], b[bi+j]) {
					t[i][j] = t[i+1][j+1] + 1
				} else {
					t[i][j] = max(t[i+1][j], t[i][j+1])
				}
			}
		}
		for i, j := 0, 0; i < n && j < m; {
			switch {
			case eq(a[ai+i], b[bi+j]) && t[i][j] == t[i+1][j+1]+1:
				mid = append(mid, [2]int{ai + i, bi + j})
				i, j = i+1, j+1
			case t[i+1][j] >= t[i][j+1]:
				i++
			default:
				j++
			}
		}
	}
	slices.Reverse(tail)
	return append(append(head, mid...), tail...)
}
