package pagecontent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/synqhq/synq/internal/notion"
)

// requestBudget is what the blocks of one request may weigh: Notion's
// 500 KB less room for the request's own keys.
const requestBudget = notion.MaxRequestBytes - 10*1000

// Append writes blocks, with all their children, under parent (a page or
// a block) after the child after ("" appends at the end), and returns the
// ids of the top-level blocks it created, in order. It takes as few
// requests as Notion's limits allow: 100 blocks, two levels, 1000 blocks
// and 500 KB a request. A block whose children have children of their
// own is sent without them, and its children are appended under the id
// Notion returns (so deep lists take one request per level past the
// second).
//
// On error, the ids of the blocks written so far are returned with it; an
// error wrapping notion.ErrAmbiguousWrite means more may have been
// written. Read the parent's children before writing again.
func Append(ctx context.Context, c *notion.Client, parent, after string, blocks []notion.Block) ([]string, error) {
	var ids []string
	for len(blocks) > 0 {
		sent, deferred := pack(blocks, requestBudget)
		list, err := c.AppendBlockChildren(ctx, parent, notion.AppendBlockChildrenRequest{Children: sent, After: after})
		if err != nil {
			return ids, fmt.Errorf("pagecontent: append %d blocks under %s: %w", len(sent), parent, err)
		}
		for k, res := range list.Results {
			ids = append(ids, res.ID)
			if len(deferred[k]) > 0 {
				if _, err := Append(ctx, c, res.ID, "", deferred[k]); err != nil {
					return ids, err
				}
			}
		}
		after = list.Results[len(list.Results)-1].ID
		blocks = blocks[len(sent):]
	}
	return ids, nil
}

// pack takes from blocks what one request may carry (at least one block)
// and returns it, with per block sent the children left to append under
// it afterwards.
func pack(blocks []notion.Block, budget int) (sent []notion.Block, deferred [][]notion.Block) {
	count, size := 0, 0
	for _, b := range blocks {
		if len(sent) == notion.MaxChildrenPerRequest {
			break
		}
		self := b
		self.Children = nil
		selfSize := jsonSize(self)
		var inline, rest []notion.Block
		total, n := selfSize, 1
		if leafChildren(b.Children) {
			// Leaf children go along (100 at most: a table's further rows
			// are appended under it).
			inline = b.Children[:min(len(b.Children), notion.MaxChildrenPerRequest)]
			rest = b.Children[len(inline):]
			for _, k := range inline {
				total += jsonSize(k) + 1
			}
			n += len(inline)
		} else {
			rest = b.Children
		}
		if count+n > notion.MaxBlocksPerRequest || size+total > budget {
			if len(sent) > 0 {
				break // it goes first in the next request
			}
			// Alone it does not fit with all its children: as many as fit,
			// the rest appended under it.
			inline, rest, total, n = nil, b.Children, selfSize, 1
			if leafChildren(b.Children) {
				for i, k := range b.Children {
					ks := jsonSize(k) + 1
					if i == notion.MaxChildrenPerRequest || n+1 > notion.MaxBlocksPerRequest || (total+ks > budget && (i > 0 || b.Type != notion.BlockTable)) {
						break
					}
					inline, total, n = b.Children[:i+1], total+ks, n+1
				}
				rest = b.Children[len(inline):]
			}
		}
		self.Children = inline
		sent = append(sent, self)
		deferred = append(deferred, rest)
		count, size = count+n, size+total+1
	}
	return sent, deferred
}

// leafChildren says whether blocks can go one level down in a request:
// none has children of its own. A table can: its rows are leaves.
func leafChildren(blocks []notion.Block) bool {
	for _, b := range blocks {
		if len(b.Children) > 0 {
			return false
		}
	}
	return true
}

func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return requestBudget // cannot be sent anyway; Notion will say why
	}
	return len(b)
}

// SplitForCreate cuts a body into the blocks that go with the page create
// (the longest prefix that one request can carry whole, within 100
// blocks, two levels, 1000 blocks and 500 KB less reserved bytes for the
// page's properties) and the rest, to append at the end of the page once
// it exists. A body of up to 100 blocks nested at most two deep goes
// whole with the create.
func SplitForCreate(blocks []notion.Block, reserved int) (withCreate, rest []notion.Block) {
	count, size := 0, 0
	for i, b := range blocks {
		if i == notion.MaxChildrenPerRequest || !leafChildren(b.Children) || len(b.Children) > notion.MaxChildrenPerRequest {
			return blocks[:i], blocks[i:]
		}
		n, s := 1+len(b.Children), jsonSize(b)
		if count+n > notion.MaxBlocksPerRequest || size+s+reserved > requestBudget {
			return blocks[:i], blocks[i:]
		}
		count, size = count+n, size+s+1
	}
	return blocks, nil
}

// CreatePage creates a row with its body: the blocks SplitForCreate
// allows go with the create (one request for most bodies), the rest is
// appended. The refs of blocks sent with the create have no id (Notion
// does not return them); Apply finds them when the body first changes.
//
// An error after the page was created returns the page: its body is
// partly written, so the next Apply for it must Verify.
func CreatePage(ctx context.Context, c *notion.Client, req notion.CreatePageRequest, blocks []notion.Block) (*notion.Page, []Ref, error) {
	reserved := jsonSize(req.Properties) + jsonSize(req.Icon)
	withCreate, rest := SplitForCreate(blocks, reserved)
	req.Children = withCreate
	pg, err := c.CreatePage(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	refs := RefsOf(withCreate)
	if len(rest) > 0 {
		ids, err := Append(ctx, c, pg.ID, "", rest)
		if err != nil {
			return pg, nil, fmt.Errorf("pagecontent: page %s created, its body is partly written: %w", pg.ID, err)
		}
		for k, id := range ids {
			refs = append(refs, Ref{ID: id, Hash: Hash(rest[k])})
		}
	}
	return pg, refs, nil
}

// Read returns the blocks under parent (a page or a block) with their
// children, all levels: one request per 100 children of each block that
// has children. The content of sub-pages and inline databases (child_page,
// child_database blocks) is not theirs and is not read.
func Read(ctx context.Context, c *notion.Client, parent string) ([]notion.Block, error) {
	blocks, err := c.AllBlockChildren(ctx, parent)
	if err != nil {
		return nil, err
	}
	for i := range blocks {
		if blocks[i].HasChildren && !foreign(blocks[i].Type) {
			if blocks[i].Children, err = Read(ctx, c, blocks[i].ID); err != nil {
				return nil, err
			}
		}
	}
	return blocks, nil
}

// ReadRefs returns the refs of a page's body as it is in Notion.
func ReadRefs(ctx context.Context, c *notion.Client, pageID string) ([]Ref, error) {
	blocks, err := Read(ctx, c, pageID)
	if err != nil {
		return nil, fmt.Errorf("pagecontent: read the body of %s: %w", pageID, err)
	}
	return refsOfRead(blocks), nil
}

// refsOfRead are the refs of the blocks of a body read back, leaving out
// sub-pages and inline databases: a body update never trashes them.
func refsOfRead(blocks []notion.Block) []Ref {
	refs := make([]Ref, 0, len(blocks))
	for _, b := range blocks {
		if !foreign(b.Type) {
			refs = append(refs, Ref{ID: b.ID, Hash: Hash(b)})
		}
	}
	return refs
}

// foreign says whether blocks of type typ stand for other objects (a
// sub-page, an inline database): deleting one would trash that object.
func foreign(typ string) bool { return typ == "child_page" || typ == "child_database" }

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Verify reads the page's body from Notion and plans against it
	// instead of trusting old. Set it whenever old may not describe the
	// page: a previous write of this row's body was interrupted (the
	// executor died mid-way; the refs stored are from before), or the refs
	// were lost while the page kept its body. Blocks in the page that the
	// new body does not have (ones a person added) are deleted.
	Verify bool
}

// errStale marks an operation that failed because the body is not what
// the plan assumed.
var errStale = errors.New("the page body is not what was stored")

const maxRounds = 3

// Apply turns the body of page pageID from old (the refs stored when it
// was last written) into blocks, with the operations Diff plans, and
// returns the new refs to store. An unchanged body costs no request; a
// changed paragraph one update.
//
// Convergence: deletes run first, then updates, then appends (a crash
// before the appends leaves nothing the next attempt could duplicate).
// Deleting a block already in the trash counts as done; an update or a
// delete whose outcome is unknown is sent again (both are idempotent);
// an append whose outcome is unknown, or an operation on a block that is
// gone, makes Apply read the body back and plan again from what is there
// (at most three rounds). After a crash the stored refs are stale and
// the blocks the crashed attempt appended are unknown to them: the next
// attempt must set Verify, and then converges to blocks with no block
// duplicated. Likewise after Apply returned an error: the body may be
// partly written.
func Apply(ctx context.Context, c *notion.Client, pageID string, old []Ref, blocks []notion.Block, opt ApplyOptions) ([]Ref, error) {
	hashes := Hashes(blocks)
	refs := old
	var err error
	if opt.Verify {
		if refs, err = ReadRefs(ctx, c, pageID); err != nil {
			return nil, err
		}
	}
	for round := 1; ; round++ {
		p := DiffHashes(refs, hashes)
		if p.idsNeeded {
			if refs, err = resolveIDs(ctx, c, pageID, refs); err != nil {
				return nil, err
			}
			p = DiffHashes(refs, hashes)
		}
		out, err := run(ctx, c, pageID, p, blocks)
		if err == nil {
			return out, nil
		}
		if round == maxRounds || !errors.Is(err, errStale) || ctx.Err() != nil {
			return nil, err
		}
		if refs, err = ReadRefs(ctx, c, pageID); err != nil {
			return nil, err
		}
	}
}

// resolveIDs fills in the ids of refs written with a page create: the
// page's blocks, in order, are those refs when their types match (and,
// for blocks without children, their content); otherwise the body is
// not what was stored and the refs of what is there are returned.
func resolveIDs(ctx context.Context, c *notion.Client, pageID string, refs []Ref) ([]Ref, error) {
	all, err := c.AllBlockChildren(ctx, pageID)
	if err != nil {
		return nil, fmt.Errorf("pagecontent: read the body of %s: %w", pageID, err)
	}
	top := slices.DeleteFunc(all, func(b notion.Block) bool { return foreign(b.Type) })
	if len(top) == len(refs) {
		out := slices.Clone(refs)
		match := true
		for i, b := range top {
			h := Hash(b)
			if h>>hashBits != refs[i].Hash>>hashBits || !b.HasChildren && h != refs[i].Hash {
				match = false
				break
			}
			out[i].ID = b.ID
		}
		if match {
			return out, nil
		}
	}
	return ReadRefs(ctx, c, pageID)
}

// run applies a plan whose ids are known.
func run(ctx context.Context, c *notion.Client, pageID string, p Plan, blocks []notion.Block) ([]Ref, error) {
	refs := slices.Clone(p.Refs)
	for _, op := range p.Ops {
		switch op.Kind {
		case OpDelete:
			err := idempotent(func() error { _, err := c.DeleteBlock(ctx, op.ID); return err })
			if err != nil && !notion.IsArchived(err) && !notion.IsNotFound(err) {
				return nil, fmt.Errorf("pagecontent: delete block %s of page %s: %w", op.ID, pageID, err)
			}
		case OpUpdate:
			err := idempotent(func() error { _, err := c.UpdateBlock(ctx, op.ID, blocks[op.From]); return err })
			if err != nil {
				if notion.IsNotFound(err) || notion.IsArchived(err) || errors.Is(err, notion.ErrAmbiguousWrite) {
					err = fmt.Errorf("%w: %w", errStale, err)
				}
				return nil, fmt.Errorf("pagecontent: update block %s of page %s: %w", op.ID, pageID, err)
			}
		case OpAppend:
			ids, err := Append(ctx, c, pageID, op.After, blocks[op.From:op.To])
			if err != nil {
				if errors.Is(err, notion.ErrAmbiguousWrite) || notion.IsNotFound(err) || notion.IsArchived(err) ||
					len(ids) == 0 && op.After != "" && notion.IsValidation(err) {
					err = fmt.Errorf("%w: %w", errStale, err)
				}
				return nil, err
			}
			for k, id := range ids {
				refs[op.From+k].ID = id
			}
		}
	}
	return refs, nil
}

// idempotent runs a write that may be sent twice, once more when its
// outcome is unknown.
func idempotent(write func() error) error {
	err := write()
	for i := 0; i < 2 && errors.Is(err, notion.ErrAmbiguousWrite); i++ {
		err = write()
	}
	return err
}
