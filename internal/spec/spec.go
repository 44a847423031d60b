// Package spec holds the type-erased form of a worker's declarations: the
// databases, syncs and pacers the SDK builds, as the engine, the executor
// runtime and the scheduler see them.
//
// The root package synq is generic over each sync's state type; everything
// below it works on JSON state through the Sync.Execute closure, so the
// internal packages never import user code or the SDK.
package spec

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// Mode is how a sync's results relate to the database.
type Mode string

const (
	// Replace: each cycle returns the whole dataset; rows not seen are trashed.
	Replace Mode = "replace"
	// Incremental: each run returns changes and explicit deletes; state persists.
	Incremental Mode = "incremental"
)

// Database is a managed Notion database.
type Database struct {
	Key          string            `json:"key"`
	InitialTitle string            `json:"initial_title"`
	PrimaryKey   string            `json:"primary_key"`
	Schema       schema.Properties `json:"schema"`
	// AllowTypeChanges lets a deploy change a property's type in place
	// (Notion then drops the column's values); without it the executor
	// refuses to start.
	AllowTypeChanges bool `json:"allow_type_changes,omitempty"`
	// Existing is the id of a database people already have (parsed from
	// the URL or id the SDK was given): synq never creates or retypes it,
	// writes only the declared properties, adopts its keyed rows and
	// sweeps only rows it wrote. "" for a database synq manages.
	Existing string `json:"existing,omitempty"`
	// DataSource names the data source (id or name) of an existing
	// database that has several.
	DataSource string `json:"data_source,omitempty"`
	// OwnBodies lets synq write the page body of adopted rows of an
	// existing database (rows synq created always get theirs).
	OwnBodies bool `json:"own_bodies,omitempty"`
}

// IsExisting says whether the database is one people already have.
func (d *Database) IsExisting() bool { return d.Existing != "" }

// TitleProperty returns the name of the database's title property.
func (d *Database) TitleProperty() string {
	for name, p := range d.Schema {
		if p.Type == schema.TypeTitle {
			return name
		}
	}
	return ""
}

// Sync is one declared sync with its Execute erased to JSON state.
type Sync struct {
	Key         string
	Database    string
	Mode        Mode
	Schedule    Schedule
	Timeout     time.Duration
	MaxAttempts int
	// Pacers are the keys of the pacers the sync declared it uses (informative).
	Pacers []string
	// MaxTrashFraction is the deletion guard: a replace cycle that would
	// trash more than this fraction of its database's rows (above
	// GuardMinRows rows) trashes nothing. 0 means MaxTrashFractionDefault;
	// 1 turns the guard off.
	MaxTrashFraction float64
	// Execute decodes state (nil or empty = the zero state), runs the user's
	// function and returns its page of results with the next state encoded.
	Execute func(ctx context.Context, state json.RawMessage) (Page, error)
	// State is the Go type of the sync's state (S of SyncConfig[S]), for
	// errors that name it (synqtest).
	State reflect.Type
}

// Page is what one Execute call returned.
type Page struct {
	Changes []Change
	HasMore bool
	// NextState is the encoded next state; nil keeps the current one.
	NextState json.RawMessage
}

// Change is one upsert or delete.
type Change struct {
	Delete bool
	Key    string
	// Database is the target database key; "" means the sync's database.
	Database          string
	Properties        builder.Properties
	UpstreamUpdatedAt time.Time
	// Icon is an emoji or an image URL; "" means none (one synq set before
	// is cleared).
	Icon string
	// Cover is the URL of the page's cover image; "" means none.
	Cover string
	// Content is the page body as Markdown. nil leaves the body as it is
	// in Notion; a pointer to "" empties it.
	Content *string
}

// Pacer is a declared rate budget.
type Pacer struct {
	Key             string        `json:"key"`
	AllowedRequests int           `json:"allowed_requests"`
	Interval        time.Duration `json:"interval"`
}

// Set is everything one worker declared, validated.
type Set struct {
	Worker    string
	Databases map[string]*Database
	Syncs     map[string]*Sync
	Pacers    map[string]*Pacer
	Webhooks  map[string]*Webhook
	// Order keeps declaration order for stable listings.
	DatabaseOrder, SyncOrder, PacerOrder, WebhookOrder []string
}

// TargetDatabase returns the key of the database a change of sync s writes.
func (s *Sync) TargetDatabase(c Change) string {
	if c.Database != "" {
		return c.Database
	}
	return s.Database
}

// Defaults for syncs that do not set them.
const (
	TimeoutDefault          = 5 * time.Minute
	MaxAttemptsDefault      = 5
	MaxTrashFractionDefault = 0.5
	// GuardMinRows: databases with at most this many rows are not guarded.
	GuardMinRows = 10
)

// TrashFraction is the sync's effective deletion-guard threshold.
func (s *Sync) TrashFraction() float64 {
	if s.MaxTrashFraction <= 0 {
		return MaxTrashFractionDefault
	}
	return s.MaxTrashFraction
}

// Access is the argument of synq.Worker's Spec method, which hands a
// worker's declarations to synq's own packages (synqtest, the engine's and
// the end-to-end tests) without a global registration hook. Code outside
// the synq module cannot import this package, so it cannot name Access nor
// write a value of it (the blank field makes sure no struct literal of
// another package is assignable to it): Spec stays uncallable there by
// accident, and the erased form below stays synq's business, free to
// change.
type Access struct{ _ struct{} }
