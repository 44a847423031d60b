package notion

import (
	"context"
	"fmt"
	"net/url"
)

// ListUsers returns one page of the workspace's users (GET /v1/users),
// starting at cursor ("" for the first).
func (c *Client) ListUsers(ctx context.Context, cursor string) (*UserList, error) {
	q := url.Values{"page_size": {"100"}}
	if cursor != "" {
		q.Set("start_cursor", cursor)
	}
	var list UserList
	if err := c.do(ctx, call{method: "GET", path: "/v1/users?" + q.Encode(), route: "GET /v1/users"}, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// AllUsers lists every user, following cursors.
func (c *Client) AllUsers(ctx context.Context) ([]User, error) {
	var all []User
	cursor := ""
	for {
		list, err := c.ListUsers(ctx, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, list.Results...)
		if !list.HasMore || list.NextCursor == "" {
			return all, nil
		}
		if list.NextCursor == cursor {
			return nil, fmt.Errorf("notion: list users: cursor %q did not advance", cursor)
		}
		cursor = list.NextCursor
	}
}
