package synq

import (
	"errors"
	"fmt"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/spec"
)

// Change is one row to write: an upsert or a delete, by primary key.
type Change struct {
	del     bool
	key     string
	props   builder.Properties
	db      *Database
	updated time.Time
	icon    string
	cover   string
	content *string
}

// Upsert creates or updates the row with primary key key. Properties not
// named keep their value in Notion.
func Upsert(key string, props builder.Properties) Change {
	return Change{key: key, props: props}
}

// Delete trashes the row with primary key key (Incremental syncs; Replace
// syncs delete by leaving rows out of a cycle).
func Delete(key string) Change { return Change{del: true, key: key} }

// In targets another declared database than the sync's own.
func (c Change) In(db *Database) Change { c.db = db; return c }

// UpdatedAt is when the upstream record last changed. A change older than
// the one already written for the key is skipped as stale, so a slow
// backfill never overwrites a newer delta; after a Delete, an upsert no
// newer than the deleted row (or the delete) is skipped too, rather than
// creating the row again.
func (c Change) UpdatedAt(t time.Time) Change { c.updated = t; return c }

// WithIcon sets the row's icon: an emoji or an https URL of an image. A
// later upsert of the key without an icon removes the one synq set.
func (c Change) WithIcon(icon string) Change { c.icon = icon; return c }

// Cover sets the row's cover: the http(s) URL of an image, shown from
// there. A later upsert of the key without a cover removes the one synq
// set. Icon and cover are part of the row's content: an upsert that
// changes neither them nor a property costs no Notion call.
func (c Change) Cover(url string) Change { c.cover = url; return c }

// Content sets the row's page body from Markdown (GitHub flavour:
// headings, lists, to-dos, quotes, code, tables, images by URL, links and
// inline styles), the Workers SDK's pageContentMarkdown. An upsert without
// Content leaves the body as it is; Content("") empties it. The body is
// part of the row's content: an unchanged body costs no Notion call, and
// a changed one is updated block by block (a changed paragraph is one
// call). Markdown over a page's limits (more than 1,000 blocks, a table
// wider than 100 columns) or not valid UTF-8 fails the page before
// anything is written, naming the key and what to shorten.
func (c Change) Content(markdown string) Change { c.content = &markdown; return c }

// Key returns the change's primary key.
func (c Change) Key() string { return c.key }

// IsDelete reports whether c is a delete.
func (c Change) IsDelete() bool { return c.del }

// Properties returns the properties of an upsert.
func (c Change) Properties() builder.Properties { return c.props }

// PageContent returns the Markdown set by Content; set is false when the
// change leaves the page body alone.
func (c Change) PageContent() (markdown string, set bool) {
	if c.content == nil {
		return "", false
	}
	return *c.content, true
}

func (c Change) spec(w *Worker) (spec.Change, error) {
	if c.key == "" {
		return spec.Change{}, errors.New("empty key: every change needs the row's primary key")
	}
	sc := spec.Change{Delete: c.del, Key: c.key, Properties: c.props, UpstreamUpdatedAt: c.updated, Icon: c.icon, Cover: c.cover, Content: c.content}
	if c.db != nil {
		if c.db.w != w {
			return spec.Change{}, fmt.Errorf("target database %q belongs to another worker", c.db.key)
		}
		sc.Database = c.db.key
	}
	return sc, nil
}
