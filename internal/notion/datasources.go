package notion

import (
	"context"
	"fmt"
	"time"
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

// QueryAll calls fn once for every row matching q.Filter, however many
// there are: it is the one way synq reads a whole data source (index
// rebuilds and checks, adopting a database, listings).
//
// Notion returns at most 10,000 results per query; past that the query
// ends with has_more false and request_status "incomplete". QueryAll reads
// in created_time order (q.Sorts must be empty) and, whenever a query
// comes back incomplete, continues with a new query for the rows created
// on or after the last one it saw, skipping rows it already passed to fn,
// until a query ends complete. It never assumes the cap's size: it reacts
// to request_status only. Rows are read 100 a request; an error from fn
// stops the walk and is returned as is.
func (c *Client) QueryAll(ctx context.Context, id string, q QueryRequest, fn func(*Page) error) error {
	_, err := c.QueryAllStats(ctx, id, q, fn)
	return err
}

// QueryStats says what a QueryAll cost.
type QueryStats struct {
	// Requests is the number of query requests sent.
	Requests int
	// Windows is the number of queries: 1, plus one for every time Notion
	// cut a query at its result limit.
	Windows int
	// Rows is the number of rows passed to fn.
	Rows int
}

// QueryAllStats is QueryAll, also returning what the walk cost.
func (c *Client) QueryAllStats(ctx context.Context, id string, q QueryRequest, fn func(*Page) error) (QueryStats, error) {
	var st QueryStats
	if len(q.Sorts) > 0 {
		return st, fmt.Errorf("notion: query all of data source %s: QueryAll reads in created_time order to get past Notion's result limit; drop the sorts", id)
	}
	if q.StartCursor != "" {
		return st, fmt.Errorf("notion: query all of data source %s: QueryAll starts at the first row; drop the start cursor", id)
	}
	base := q.Filter
	q.PageSize = 100
	q.Sorts = []Sort{{Timestamp: "created_time", Direction: Ascending}}
	// passed holds the rows fn saw that a later window can return again:
	// those created at or after the window's start.
	passed := map[string]time.Time{}
	var from time.Time
	for {
		st.Windows++
		incomplete := false
		last := from
		for {
			list, err := c.QueryDataSource(ctx, id, q)
			st.Requests++
			if err != nil {
				return st, err
			}
			// Any page of a capped query may say so, not only its last.
			incomplete = incomplete || list.Incomplete()
			for i := range list.Results {
				p := &list.Results[i]
				if _, dup := passed[p.ID]; dup {
					continue
				}
				passed[p.ID] = p.CreatedTime
				st.Rows++
				if p.CreatedTime.After(last) {
					last = p.CreatedTime
				}
				if err := fn(p); err != nil {
					return st, err
				}
			}
			if !list.HasMore || list.NextCursor == "" {
				break
			}
			if list.NextCursor == q.StartCursor {
				return st, fmt.Errorf("notion: query data source %s: cursor %q did not advance", id, q.StartCursor)
			}
			q.StartCursor = list.NextCursor
		}
		if !incomplete {
			return st, nil
		}
		if !last.After(from) {
			// Every row of the cut window was created at its start: a
			// window starting there returns the same rows again.
			return st, fmt.Errorf("notion: query all of data source %s: Notion cut the query at its result limit and more rows than that limit were created at %s; they cannot be told apart by created_time: narrow the filter",
				id, last.UTC().Format(time.RFC3339Nano))
		}
		// The next window: rows created on or after the last one seen.
		from = last
		for pid, created := range passed {
			if created.Before(from) {
				delete(passed, pid)
			}
		}
		window := TimestampFilter("created_time", Condition{OnOrAfter: from.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
		if base != nil {
			window = And(base, window)
		}
		q.Filter, q.StartCursor = window, ""
	}
}
