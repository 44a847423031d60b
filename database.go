package synq

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// DatabaseConfig declares a Notion database: one synq creates and
// manages, or, with Existing, one people already have.
type DatabaseConfig struct {
	// InitialTitle is the title the database gets when synq creates it; a
	// title changed in Notion afterwards is left alone. Not used (and may
	// be empty) with Existing.
	InitialTitle string
	// PrimaryKey names the schema property that holds each row's key (a
	// title or rich-text property). synq fills it from the change's key.
	PrimaryKey string
	// Schema is the database's properties. It is migrated on every deploy:
	// properties are added and their options or format changed; a property
	// removed from the schema stays in Notion (and a warning is logged).
	Schema schema.Properties
	// AllowTypeChanges lets a deploy change the type of an existing
	// property in place (rich text to number, say). Notion converts the
	// column and its values are lost, so without it an executor whose
	// schema changes a type refuses to start, naming the property, both
	// types and the ways out: keep the type, or declare the new type under
	// a new property name.
	AllowTypeChanges bool

	// Existing targets a database people already have, by its URL (Share →
	// Copy link) or id, instead of creating one; the integration must have
	// been given access to it. synq then owns only the declared
	// properties: a missing one is added, one of the same type is used,
	// one of another type is refused at start-up (never retyped,
	// AllowTypeChanges or not); every other column is never written,
	// cleared, renamed or removed. Rows whose primary key has a value are
	// adopted at first start (the next run updates them in place); rows
	// with an empty key, and all but the oldest of rows sharing a key, are
	// left alone. A replace cycle trashes only rows synq created or has
	// written. See docs/existing-databases.md.
	Existing string
	// DataSource picks the data source (its id or name) of an Existing
	// database that has several; an executor refuses to start without it,
	// listing them.
	DataSource string
	// OwnBodies lets Content write the page body of adopted rows of an
	// Existing database. Without it, the bodies of rows people created are
	// theirs (notes, meeting minutes…) and Content is applied only to rows
	// synq created: writing a body replaces its blocks.
	OwnBodies bool
}

// Database is a handle on a declared database, used as a sync's database
// and as the target of a change (Change.In).
type Database struct {
	key string
	w   *Worker
	cfg DatabaseConfig
}

// Key returns the database's key.
func (d *Database) Key() string { return d.key }

// Database declares a managed database under key.
func (w *Worker) Database(key string, cfg DatabaseConfig) *Database {
	_, taken := w.databases[key]
	w.checkKey("database", key, taken)
	d := &Database{key: key, w: w, cfg: cfg}
	if !taken {
		w.databases[key] = d
		w.dbOrder = append(w.dbOrder, key)
	}
	return d
}

func (d *Database) validate(w *Worker) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("database %q: "+format, append([]any{d.key}, a...)...))
	}
	switch {
	case d.cfg.Existing != "":
		if _, err := notion.ParseID(d.cfg.Existing); err != nil {
			bad("Existing: %v", err)
		}
	case strings.TrimSpace(d.cfg.InitialTitle) == "":
		bad("InitialTitle is empty: give the database a title (or set Existing to sync into a database people already have)")
	case d.cfg.DataSource != "":
		bad("DataSource is set but Existing is not: DataSource picks a data source of an existing database")
	case d.cfg.OwnBodies:
		bad("OwnBodies is set but Existing is not: synq owns every body of a database it manages already")
	}
	if len(d.cfg.Schema) == 0 {
		bad("Schema is empty: declare at least the primary key property, e.g. schema.Properties{%q: schema.Title()}", or(d.cfg.PrimaryKey, "Name"))
	}
	names := make([]string, 0, len(d.cfg.Schema))
	for name := range d.cfg.Schema {
		names = append(names, name)
	}
	sort.Strings(names)
	titles := 0
	for _, name := range names {
		p := d.cfg.Schema[name]
		if err := p.Validate(name); err != nil {
			errs = append(errs, fmt.Errorf("database %q: %w", d.key, err))
		}
		if p.Type == schema.TypeTitle {
			titles++
		}
		if p.Type == schema.TypeRelation && p.Relation != nil && p.Relation.Database != "" {
			if _, ok := w.databases[p.Relation.Database]; !ok {
				bad("property %q relates to database %q, which is not declared: declare it with w.Database(%q, …) or fix the key (declared: %s)",
					name, p.Relation.Database, p.Relation.Database, keysOf(w.dbOrder))
			}
		}
	}
	if len(d.cfg.Schema) > 0 && titles != 1 {
		bad("the schema has %d title properties: Notion needs exactly one (schema.Title())", titles)
	}
	switch p, ok := d.cfg.Schema[d.cfg.PrimaryKey]; {
	case d.cfg.PrimaryKey == "":
		bad("PrimaryKey is empty: name the schema property that holds each row's key")
	case !ok:
		bad("PrimaryKey %q is not in the schema: add it (e.g. %q: schema.Title()) or name one of %s", d.cfg.PrimaryKey, d.cfg.PrimaryKey, keysOf(names))
	case p.Type != schema.TypeTitle && p.Type != schema.TypeRichText:
		bad("PrimaryKey %q is a %s property: use a title or rich-text property", d.cfg.PrimaryKey, p.Type)
	}
	return errors.Join(errs...)
}

func (d *Database) spec() *spec.Database {
	props := make(schema.Properties, len(d.cfg.Schema))
	for k, v := range d.cfg.Schema {
		props[k] = v
	}
	existing := ""
	if d.cfg.Existing != "" {
		existing, _ = notion.ParseID(d.cfg.Existing) // validated
	}
	return &spec.Database{Key: d.key, InitialTitle: d.cfg.InitialTitle, PrimaryKey: d.cfg.PrimaryKey, Schema: props, AllowTypeChanges: d.cfg.AllowTypeChanges,
		Existing: existing, DataSource: d.cfg.DataSource, OwnBodies: d.cfg.OwnBodies}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func keysOf(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}
