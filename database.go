package synq

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// DatabaseConfig declares a managed Notion database.
type DatabaseConfig struct {
	// InitialTitle is the title the database gets when synq creates it; a
	// title changed in Notion afterwards is left alone.
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
	if strings.TrimSpace(d.cfg.InitialTitle) == "" {
		bad("InitialTitle is empty: give the database a title")
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
	return &spec.Database{Key: d.key, InitialTitle: d.cfg.InitialTitle, PrimaryKey: d.cfg.PrimaryKey, Schema: props, AllowTypeChanges: d.cfg.AllowTypeChanges}
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
