package notion

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// Notion's limits on one request that writes blocks.
const (
	// MaxChildrenPerRequest is how many blocks one children array may
	// hold (an append's children, a page create's children, a block's
	// nested children).
	MaxChildrenPerRequest = 100
	// MaxNestingPerRequest is how many levels of blocks one request may
	// carry: top-level children and their children. Deeper blocks are
	// appended in follow-up requests under the ids Notion returned.
	MaxNestingPerRequest = 2
	// MaxBlocksPerRequest is how many blocks, nested ones included, one
	// request may carry.
	MaxBlocksPerRequest = 1000
	// MaxRequestBytes is the largest request body Notion accepts.
	MaxRequestBytes = 500 * 1000
)

// AppendBlockChildrenRequest appends blocks under a page or a block.
type AppendBlockChildrenRequest struct {
	// Children are the blocks to append (at most 100, two levels deep).
	Children []Block `json:"children"`
	// After is the id of an existing child to insert after; "" appends
	// at the end.
	After string `json:"after,omitempty"`
}

// GetBlock reads a block (GET /v1/blocks/{id}).
func (c *Client) GetBlock(ctx context.Context, id string) (*Block, error) {
	if err := needID("block", id); err != nil {
		return nil, err
	}
	var b Block
	if err := c.do(ctx, call{method: "GET", path: "/v1/blocks/" + escape(id), route: "GET /v1/blocks/{id}"}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ListBlockChildren returns one page of a page's or block's children
// (GET /v1/blocks/{id}/children), starting at cursor ("" for the first).
// pageSize is at most 100; 0 means 100. Trashed children are not listed.
func (c *Client) ListBlockChildren(ctx context.Context, id, cursor string, pageSize int) (*BlockList, error) {
	if err := needID("block", id); err != nil {
		return nil, err
	}
	if pageSize < 0 || pageSize > 100 {
		return nil, fmt.Errorf("notion: list children of %s: page size %d is not between 1 and 100", id, pageSize)
	}
	if pageSize == 0 {
		pageSize = 100
	}
	q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
	if cursor != "" {
		q.Set("start_cursor", cursor)
	}
	var list BlockList
	err := c.do(ctx, call{method: "GET", path: "/v1/blocks/" + escape(id) + "/children?" + q.Encode(),
		route: "GET /v1/blocks/{id}/children"}, &list)
	if err != nil {
		return nil, err
	}
	return &list, nil
}

// BlockChildren calls fn for every child of a page or block, 100 a
// request, following cursors. An error from fn stops the walk and is
// returned as is.
func (c *Client) BlockChildren(ctx context.Context, id string, fn func(*Block) error) error {
	cursor := ""
	for {
		list, err := c.ListBlockChildren(ctx, id, cursor, 100)
		if err != nil {
			return err
		}
		for i := range list.Results {
			if err := fn(&list.Results[i]); err != nil {
				return err
			}
		}
		if !list.HasMore || list.NextCursor == "" {
			return nil
		}
		if list.NextCursor == cursor {
			return fmt.Errorf("notion: list children of %s: cursor %q did not advance", id, cursor)
		}
		cursor = list.NextCursor
	}
}

// AllBlockChildren lists every child of a page or block (one level).
func (c *Client) AllBlockChildren(ctx context.Context, id string) ([]Block, error) {
	var all []Block
	err := c.BlockChildren(ctx, id, func(b *Block) error {
		all = append(all, *b)
		return nil
	})
	return all, err
}

// AppendBlockChildren appends blocks under a page or block
// (PATCH /v1/blocks/{id}/children) and returns the top-level blocks it
// created, in order. An append is not idempotent: it is never retried
// unless Notion says it was not applied, and an error wrapping
// ErrAmbiguousWrite means the blocks may exist: list the children before
// appending again.
func (c *Client) AppendBlockChildren(ctx context.Context, id string, req AppendBlockChildrenRequest) (*BlockList, error) {
	if err := needID("block", id); err != nil {
		return nil, err
	}
	if len(req.Children) == 0 {
		return nil, fmt.Errorf("notion: append to %s: no children", id)
	}
	if len(req.Children) > MaxChildrenPerRequest {
		return nil, fmt.Errorf("notion: append to %s: %d children, Notion takes at most %d a request", id, len(req.Children), MaxChildrenPerRequest)
	}
	var list BlockList
	// No committed route: a 503 naming a committed resource says the
	// append happened but not which blocks it made, so it stays ambiguous.
	err := c.do(ctx, call{method: "PATCH", path: "/v1/blocks/" + escape(id) + "/children",
		route: "PATCH /v1/blocks/{id}/children", body: req, write: true}, &list)
	if err != nil {
		return nil, err
	}
	if len(list.Results) != len(req.Children) {
		return nil, fmt.Errorf("notion: append to %s: sent %d blocks, the answer lists %d", id, len(req.Children), len(list.Results))
	}
	return &list, nil
}

// UpdateBlock replaces the content of a block with b's payload
// (PATCH /v1/blocks/{id}); b.Type must be the block's type and b's
// children are ignored (append them). Setting the same content twice
// leaves the same block, so a caller may resend an update whose outcome
// was ambiguous.
func (c *Client) UpdateBlock(ctx context.Context, id string, b Block) (*Block, error) {
	if err := needID("block", id); err != nil {
		return nil, err
	}
	payload, err := b.PayloadJSON()
	if err != nil {
		return nil, fmt.Errorf("notion: update block %s: %w", id, err)
	}
	body := map[string]json.RawMessage{b.Type: payload}
	var out Block
	err = c.do(ctx, call{method: "PATCH", path: "/v1/blocks/" + escape(id), route: "PATCH /v1/blocks/{id}",
		body: body, write: true, committed: "/v1/blocks/%s"}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteBlock moves a block (and its children) to the trash
// (DELETE /v1/blocks/{id}). Deleting a block that is already in the trash
// fails with an error IsArchived recognises.
func (c *Client) DeleteBlock(ctx context.Context, id string) (*Block, error) {
	if err := needID("block", id); err != nil {
		return nil, err
	}
	var out Block
	err := c.do(ctx, call{method: "DELETE", path: "/v1/blocks/" + escape(id), route: "DELETE /v1/blocks/{id}",
		write: true, committed: "/v1/blocks/%s"}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
