package notion

import (
	"context"
	"errors"
	"fmt"
)

// CreateDatabaseRequest creates a database with one data source under a
// page.
type CreateDatabaseRequest struct {
	ParentPageID string
	Title        string
	Icon         *Icon
	IsInline     bool
	// Properties is the initial data source's schema; it must hold exactly
	// one title property.
	Properties map[string]PropertySchema
}

// UpdateDatabaseRequest changes a database; zero fields are left as they are.
type UpdateDatabaseRequest struct {
	Title   string
	Icon    *Icon
	InTrash *bool
}

type parentWire struct {
	Type   string `json:"type"`
	PageID string `json:"page_id,omitempty"`
	DSID   string `json:"data_source_id,omitempty"`
}

// CreateDatabase creates a database (POST /v1/databases).
func (c *Client) CreateDatabase(ctx context.Context, req CreateDatabaseRequest) (*Database, error) {
	if req.ParentPageID == "" {
		return nil, errors.New("notion: create database: no parent page id (set NOTION_PARENT_PAGE_ID)")
	}
	type initial struct {
		Properties map[string]PropertySchema `json:"properties"`
	}
	body := struct {
		Parent    parentWire `json:"parent"`
		Title     []RichText `json:"title"`
		Icon      *Icon      `json:"icon,omitempty"`
		IsInline  bool       `json:"is_inline,omitempty"`
		InitialDS initial    `json:"initial_data_source"`
	}{
		Parent:    parentWire{Type: "page_id", PageID: req.ParentPageID},
		Title:     titleOf(req.Title),
		Icon:      req.Icon,
		IsInline:  req.IsInline,
		InitialDS: initial{Properties: nonNilMap(req.Properties)},
	}
	var db Database
	err := c.do(ctx, call{method: "POST", path: "/v1/databases", route: "POST /v1/databases",
		body: body, write: true, committed: "/v1/databases/%s"}, &db)
	if err != nil {
		return nil, err
	}
	return &db, nil
}

// GetDatabase reads a database (GET /v1/databases/{id}).
func (c *Client) GetDatabase(ctx context.Context, id string) (*Database, error) {
	if err := needID("database", id); err != nil {
		return nil, err
	}
	var db Database
	if err := c.do(ctx, call{method: "GET", path: "/v1/databases/" + escape(id), route: "GET /v1/databases/{id}"}, &db); err != nil {
		return nil, err
	}
	return &db, nil
}

// UpdateDatabase changes a database's title, icon or trash state
// (PATCH /v1/databases/{id}).
func (c *Client) UpdateDatabase(ctx context.Context, id string, req UpdateDatabaseRequest) (*Database, error) {
	if err := needID("database", id); err != nil {
		return nil, err
	}
	body := struct {
		Title   []RichText `json:"title,omitempty"`
		Icon    *Icon      `json:"icon,omitempty"`
		InTrash *bool      `json:"in_trash,omitempty"`
	}{Icon: req.Icon, InTrash: req.InTrash}
	if req.Title != "" {
		body.Title = titleOf(req.Title)
	}
	var db Database
	err := c.do(ctx, call{method: "PATCH", path: "/v1/databases/" + escape(id), route: "PATCH /v1/databases/{id}",
		body: body, write: true, committed: "/v1/databases/%s"}, &db)
	if err != nil {
		return nil, err
	}
	return &db, nil
}

func titleOf(s string) []RichText {
	if s == "" {
		return []RichText{}
	}
	return []RichText{Text(s)}
}

func nonNilMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// needID refuses an empty id locally: the request could only fail.
func needID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("notion: empty %s id", kind)
	}
	return nil
}
