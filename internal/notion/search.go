package notion

import (
	"context"
	"fmt"
)

// Search object filters.
const (
	ObjectPage       = "page"
	ObjectDataSource = "data_source"
)

// SearchRequest searches the pages and data sources shared with the
// integration by title. Filter is ObjectPage, ObjectDataSource or "" (both).
type SearchRequest struct {
	Query       string
	Filter      string
	StartCursor string
	PageSize    int
}

// Search returns one page of results (POST /v1/search). It is a read.
func (c *Client) Search(ctx context.Context, req SearchRequest) (*SearchResults, error) {
	type filter struct {
		Property string `json:"property"`
		Value    string `json:"value"`
	}
	body := struct {
		Query       string  `json:"query,omitempty"`
		Filter      *filter `json:"filter,omitempty"`
		StartCursor string  `json:"start_cursor,omitempty"`
		PageSize    int     `json:"page_size,omitempty"`
	}{Query: req.Query, StartCursor: req.StartCursor, PageSize: req.PageSize}
	switch req.Filter {
	case "":
	case ObjectPage, ObjectDataSource:
		body.Filter = &filter{Property: "object", Value: req.Filter}
	default:
		return nil, fmt.Errorf("notion: search filter %q is neither %q nor %q", req.Filter, ObjectPage, ObjectDataSource)
	}
	if req.PageSize < 0 || req.PageSize > 100 {
		return nil, fmt.Errorf("notion: search: page size %d is not between 1 and 100", req.PageSize)
	}
	var res SearchResults
	if err := c.do(ctx, call{method: "POST", path: "/v1/search", route: "POST /v1/search", body: body}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// SearchDataSources calls fn for every data source whose title matches
// query, following cursors.
func (c *Client) SearchDataSources(ctx context.Context, query string, fn func(*DataSource) error) error {
	req := SearchRequest{Query: query, Filter: ObjectDataSource, PageSize: 100}
	for {
		res, err := c.Search(ctx, req)
		if err != nil {
			return err
		}
		for _, r := range res.Results {
			if r.DataSource != nil {
				if err := fn(r.DataSource); err != nil {
					return err
				}
			}
		}
		if !res.HasMore || res.NextCursor == "" {
			return nil
		}
		if res.NextCursor == req.StartCursor {
			return fmt.Errorf("notion: search: cursor %q did not advance", req.StartCursor)
		}
		req.StartCursor = res.NextCursor
	}
}
