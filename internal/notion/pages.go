package notion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// CreatePageRequest creates a row in a data source.
type CreatePageRequest struct {
	DataSourceID string
	Properties   map[string]PropertyValue
	Icon         *Icon
	// Children are the page's first blocks (at most 100, two levels
	// deep, 1000 in all); the rest are appended once the page exists.
	// Notion does not return their ids.
	Children []Block
	// Cover is the page's cover image (an external file; see ExternalCover).
	Cover *Icon
}

// UpdatePageRequest changes a page; absent properties are left as they
// are, and a nil Icon, Cover or InTrash leaves those unchanged.
// ClearIcon and ClearCover remove the icon or cover (Notion's null).
type UpdatePageRequest struct {
	Properties map[string]PropertyValue
	Icon       *Icon
	ClearIcon  bool
	Cover      *Icon
	ClearCover bool
	InTrash    *bool
}

// MarshalJSON writes the request as Notion reads it: a cleared icon or
// cover is an explicit null, an unchanged one is absent.
func (r UpdatePageRequest) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if len(r.Properties) > 0 {
		m["properties"] = r.Properties
	}
	switch {
	case r.Icon != nil:
		m["icon"] = r.Icon
	case r.ClearIcon:
		m["icon"] = nil
	}
	switch {
	case r.Cover != nil:
		m["cover"] = r.Cover
	case r.ClearCover:
		m["cover"] = nil
	}
	if r.InTrash != nil {
		m["in_trash"] = *r.InTrash
	}
	return json.Marshal(m)
}

// CreatePage creates a row (POST /v1/pages). It is never retried unless
// Notion says it was not applied; an error wrapping ErrAmbiguousWrite means
// the row may exist.
func (c *Client) CreatePage(ctx context.Context, req CreatePageRequest) (*Page, error) {
	if req.DataSourceID == "" {
		return nil, errors.New("notion: create page: empty data source id")
	}
	if len(req.Children) > MaxChildrenPerRequest {
		return nil, fmt.Errorf("notion: create page: %d children, Notion takes at most %d with the create (append the rest)", len(req.Children), MaxChildrenPerRequest)
	}
	body := struct {
		Parent     parentWire               `json:"parent"`
		Properties map[string]PropertyValue `json:"properties"`
		Icon       *Icon                    `json:"icon,omitempty"`
		Children   []Block                  `json:"children,omitempty"`
		Cover      *Icon                    `json:"cover,omitempty"`
	}{
		Parent:     parentWire{Type: "data_source_id", DSID: req.DataSourceID},
		Properties: nonNilMap(req.Properties),
		Icon:       req.Icon,
		Children:   req.Children,
		Cover:      req.Cover,
	}
	var p Page
	err := c.do(ctx, call{method: "POST", path: "/v1/pages", route: "POST /v1/pages",
		body: body, write: true, committed: "/v1/pages/%s"}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// GetPage reads a page (GET /v1/pages/{id}).
func (c *Client) GetPage(ctx context.Context, id string) (*Page, error) {
	if err := needID("page", id); err != nil {
		return nil, err
	}
	var p Page
	if err := c.do(ctx, call{method: "GET", path: "/v1/pages/" + escape(id), route: "GET /v1/pages/{id}"}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdatePage changes a page's properties, icon, cover or trash state
// (PATCH /v1/pages/{id}).
func (c *Client) UpdatePage(ctx context.Context, id string, req UpdatePageRequest) (*Page, error) {
	if err := needID("page", id); err != nil {
		return nil, err
	}
	var p Page
	err := c.do(ctx, call{method: "PATCH", path: "/v1/pages/" + escape(id), route: "PATCH /v1/pages/{id}",
		body: req, write: true, committed: "/v1/pages/%s"}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// TrashPage moves a page to the trash (Notion's delete).
func (c *Client) TrashPage(ctx context.Context, id string) (*Page, error) {
	yes := true
	return c.UpdatePage(ctx, id, UpdatePageRequest{InTrash: &yes})
}
