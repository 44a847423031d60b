package notion

import (
	"context"
	"fmt"
)

// UpdateDataSourceRequest changes a data source. In Properties, a schema
// adds or changes the property (its Name renames it) and nil removes it.
type UpdateDataSourceRequest struct {
	Title      string
	Properties map[string]*PropertySchema
}

// QueryRequest filters, sorts and pages a data source's rows. PageSize is
// at most 100 (0 means Notion's default, 100).
type QueryRequest struct {
	Filter      *Filter `json:"filter,omitempty"`
	Sorts       []Sort  `json:"sorts,omitempty"`
	StartCursor string  `json:"start_cursor,omitempty"`
	PageSize    int     `json:"page_size,omitempty"`
}

// GetDataSource reads a data source and its schema (GET /v1/data_sources/{id}).
func (c *Client) GetDataSource(ctx context.Context, id string) (*DataSource, error) {
	if err := needID("data source", id); err != nil {
		return nil, err
	}
	var ds DataSource
	if err := c.do(ctx, call{method: "GET", path: "/v1/data_sources/" + escape(id), route: "GET /v1/data_sources/{id}"}, &ds); err != nil {
		return nil, err
	}
	return &ds, nil
}

// UpdateDataSource changes a data source's title or schema
// (PATCH /v1/data_sources/{id}).
func (c *Client) UpdateDataSource(ctx context.Context, id string, req UpdateDataSourceRequest) (*DataSource, error) {
	if err := needID("data source", id); err != nil {
		return nil, err
	}
	body := struct {
		Title      []RichText                 `json:"title,omitempty"`
		Properties map[string]*PropertySchema `json:"properties,omitempty"`
	}{Properties: req.Properties}
	if req.Title != "" {
		body.Title = titleOf(req.Title)
	}
	var ds DataSource
	err := c.do(ctx, call{method: "PATCH", path: "/v1/data_sources/" + escape(id), route: "PATCH /v1/data_sources/{id}",
		body: body, write: true, committed: "/v1/data_sources/%s"}, &ds)
	if err != nil {
		return nil, err
	}
	return &ds, nil
}

// QueryDataSource returns one page of rows (POST /v1/data_sources/{id}/query).
// A query is a read: it is retried on 5xx and timeouts.
func (c *Client) QueryDataSource(ctx context.Context, id string, q QueryRequest) (*PageList, error) {
	if err := needID("data source", id); err != nil {
		return nil, err
	}
	if q.PageSize < 0 || q.PageSize > 100 {
		return nil, fmt.Errorf("notion: query data source %s: page size %d is not between 1 and 100", id, q.PageSize)
	}
	var list PageList
	err := c.do(ctx, call{method: "POST", path: "/v1/data_sources/" + escape(id) + "/query",
		route: "POST /v1/data_sources/{id}/query", body: q}, &list)
	if err != nil {
		return nil, err
	}
	return &list, nil
}

// QueryAll calls fn for every row matching q, 100 rows a request, following
// cursors. An error from fn stops the walk and is returned as is.
func (c *Client) QueryAll(ctx context.Context, id string, q QueryRequest, fn func(*Page) error) error {
	q.PageSize = 100
	for {
		list, err := c.QueryDataSource(ctx, id, q)
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
		if list.NextCursor == q.StartCursor {
			return fmt.Errorf("notion: query data source %s: cursor %q did not advance", id, q.StartCursor)
		}
		q.StartCursor = list.NextCursor
	}
}
