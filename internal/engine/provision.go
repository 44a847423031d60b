package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// provisionKey is the claim that serializes creating a database across
// executors; "\x00" cannot start a primary key.
const provisionKey = "\x00provision"

// Provision makes every managed database exist in Notion with the declared
// schema: it creates missing databases under the parent page (adopting one
// found by search when Redis lost its ids), then adds properties and
// changes their options. Properties that are no longer declared are left
// in Notion and logged; a property whose type changed is refused
// (TypeChangeError) unless the database allows type changes. An unchanged
// schema costs no Notion call.
//
// Errors that retrying may fix (Notion 5xx, 429, timeouts, a refused
// connection, Redis unreachable) are retried with capped exponential
// backoff, logged, until ctx ends: an executor started while Notion or
// Redis has a bad minute waits for them instead of exiting. Errors that
// retrying cannot fix (a bad token, a missing parent page, a refused
// migration) are returned at once.
func (e *Engine) Provision(ctx context.Context) error {
	wait := e.cfg.ProvisionBackoff
	for attempt := 1; ; attempt++ {
		err := e.provision(ctx)
		if err == nil {
			err = e.adoptExisting(ctx)
		}
		if err == nil || isPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (gave up provisioning: %w)", err, ctx.Err())
		}
		d := wait/2 + rand.N(wait/2+1)
		e.log.Warn("could not provision the Notion databases; retrying", "attempt", attempt, "retry_in", d.Round(time.Millisecond), "err", err)
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (gave up provisioning: %w)", err, serr)
		}
		wait = min(2*wait, maxProvisionBackoff)
	}
}

// maxProvisionBackoff caps the wait between provisioning attempts.
const maxProvisionBackoff = time.Minute

// isPermanent says whether retrying cannot fix err: it is, or wraps, an
// error whose Permanent method says so (Notion 4xx, a refused type
// change, a validation error).
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// TypeChange is one property whose declared type differs from Notion's.
type TypeChange struct {
	Property string
	From, To string
}

// TypeChangeError refuses a migration that would change property types
// in place, which erases the values of those columns.
type TypeChangeError struct {
	Database string
	Changes  []TypeChange
}

func (e *TypeChangeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %q: ", e.Database)
	for i, c := range e.Changes {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "property %q is a %s property in Notion but the schema declares %s", c.Property, c.From, c.To)
	}
	b.WriteString(": changing a type in place erases every value of the column, so synq refuses. Keep the old type, or declare the new type under a new property name (the old column stays in Notion), or set DatabaseConfig.AllowTypeChanges to convert it and lose its values")
	return b.String()
}

// Permanent is true: the same schema is refused again.
func (e *TypeChangeError) Permanent() bool { return true }

// provision is one attempt of Provision.
func (e *Engine) provision(ctx context.Context) error {
	e.provMu.Lock()
	defer e.provMu.Unlock()
	ids := map[string]rdb.DatabaseIDs{}
	// Relations need the related data source's id, so every database must
	// exist before any relation property is added.
	for _, key := range e.set.DatabaseOrder {
		id, err := e.ensureDatabase(ctx, e.set.Databases[key])
		if err != nil {
			return err
		}
		ids[key] = id
	}
	for _, key := range e.set.DatabaseOrder {
		id, err := e.migrate(ctx, e.set.Databases[key], ids[key], ids)
		if err != nil {
			return err
		}
		ids[key] = id
	}
	for k, v := range ids {
		e.provisioned[k] = v
	}
	clear(e.createdNow)
	return nil
}

// database returns the ids of a provisioned database, provisioning on first
// use in this process.
func (e *Engine) database(ctx context.Context, key string) (rdb.DatabaseIDs, error) {
	e.provMu.Lock()
	ids, ok := e.provisioned[key]
	e.provMu.Unlock()
	if ok {
		return ids, nil
	}
	// One attempt: a page that cannot provision fails and is retried as a
	// page (or fails at once on a permanent error).
	if err := e.provision(ctx); err != nil {
		return rdb.DatabaseIDs{}, err
	}
	e.provMu.Lock()
	defer e.provMu.Unlock()
	ids, ok = e.provisioned[key]
	if !ok {
		return rdb.DatabaseIDs{}, fmt.Errorf("database %q is not declared by worker %q", key, e.set.Worker)
	}
	return ids, nil
}

// ensureDatabase returns the stored ids of db, creating the database (or
// adopting an existing one) when none are stored.
func (e *Engine) ensureDatabase(ctx context.Context, db *spec.Database) (rdb.DatabaseIDs, error) {
	if db.IsExisting() {
		return e.ensureExisting(ctx, db)
	}
	for {
		ids, ok, err := e.rdb.GetDatabase(ctx, db.Key)
		if err != nil {
			return ids, err
		}
		if ok {
			return ids, nil
		}
		got, err := e.rdb.Claim(ctx, db.Key, provisionKey, e.token, 2*time.Minute)
		if err != nil {
			return ids, err
		}
		if !got {
			// Another executor is creating it; wait for its ids.
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return ids, fmt.Errorf("database %q: waiting for another executor to create it: %w", db.Key, err)
			}
			continue
		}
		ids, err = e.createOrAdopt(ctx, db)
		_ = e.rdb.Release(context.WithoutCancel(ctx), db.Key, provisionKey, e.token)
		return ids, err
	}
}

// ensureExisting returns the stored ids of an existing database, finding
// its data source in Notion when none are stored or the declaration now
// names another database or data source (its index is then dropped: it
// described other rows).
func (e *Engine) ensureExisting(ctx context.Context, db *spec.Database) (rdb.DatabaseIDs, error) {
	ids, ok, err := e.rdb.GetDatabase(ctx, db.Key)
	if err != nil {
		return ids, err
	}
	// A DataSource given by name is checked against Notion (one read).
	if ok && sameID(ids.DatabaseID, db.Existing) && (db.DataSource == "" || sameID(ids.DataSourceID, db.DataSource)) {
		return ids, nil
	}
	found, err := e.resolveExisting(ctx, db)
	if err != nil {
		return ids, err
	}
	if ok && !sameID(ids.DataSourceID, found.DataSourceID) {
		e.log.Warn("the declaration now names another existing database or data source: forgetting the index of the old one", "database", db.Key, "old_data_source_id", ids.DataSourceID, "data_source_id", found.DataSourceID)
		if err := e.rdb.ResetDatabase(ctx, db.Key); err != nil {
			return ids, err
		}
	} else if ok {
		return ids, nil
	}
	e.log.Info("found the existing Notion database", "database", db.Key, "database_id", found.DatabaseID, "data_source_id", found.DataSourceID)
	return found, e.rdb.SetDatabase(ctx, db.Key, found)
}

func (e *Engine) createOrAdopt(ctx context.Context, db *spec.Database) (rdb.DatabaseIDs, error) {
	if ids, ok, err := e.rdb.GetDatabase(ctx, db.Key); err != nil || ok {
		return ids, err
	}
	if ds, err := e.findDataSource(ctx, db); err != nil {
		return rdb.DatabaseIDs{}, err
	} else if ds != nil {
		ids := rdb.DatabaseIDs{DatabaseID: ds.Parent.DatabaseID, DataSourceID: ds.ID, URL: ds.URL}
		e.log.Info("adopted existing Notion database", "database", db.Key, "data_source_id", ds.ID)
		return ids, e.rdb.SetDatabase(ctx, db.Key, ids)
	}
	props := map[string]notion.PropertySchema{}
	for name, p := range db.Schema {
		if p.Type == schema.TypeRelation {
			continue // added by migrate, once every related database exists
		}
		props[name] = schemaToNotion(p, "")
	}
	created, err := e.notion.CreateDatabase(ctx, notion.CreateDatabaseRequest{
		ParentPageID: e.cfg.ParentPageID,
		Title:        db.InitialTitle,
		Properties:   props,
	})
	if err != nil {
		return rdb.DatabaseIDs{}, fmt.Errorf("database %q: create under parent page %s: %w", db.Key, e.cfg.ParentPageID, err)
	}
	if len(created.DataSources) == 0 {
		return rdb.DatabaseIDs{}, fmt.Errorf("database %q: Notion created database %s without a data source", db.Key, created.ID)
	}
	// A new database has no rows, so its empty index is complete.
	ids := rdb.DatabaseIDs{DatabaseID: created.ID, DataSourceID: created.DataSources[0].ID, Indexed: true, URL: created.URL}
	e.log.Info("created Notion database", "database", db.Key, "database_id", created.ID, "data_source_id", ids.DataSourceID)
	// Its relation columns come next (migrate), onto no rows: nothing to
	// say about existing rows then.
	if e.createdNow == nil {
		e.createdNow = map[string]bool{}
	}
	e.createdNow[db.Key] = true
	return ids, e.rdb.SetDatabase(ctx, db.Key, ids)
}

// findDataSource looks for a data source synq created earlier for db (same
// title, under the parent page, holding the primary key property), so
// losing Redis never duplicates a database.
func (e *Engine) findDataSource(ctx context.Context, db *spec.Database) (*notion.DataSource, error) {
	var found *notion.DataSource
	err := e.notion.SearchDataSources(ctx, db.InitialTitle, func(ds *notion.DataSource) error {
		if found != nil || ds.InTrash || ds.PlainTitle() != db.InitialTitle {
			return nil
		}
		if sameID(ds.DatabaseParent.PageID, e.cfg.ParentPageID) {
			if _, ok := ds.Properties[db.PrimaryKey]; ok {
				found = ds
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("database %q: search Notion for an existing data source: %w", db.Key, err)
	}
	return found, nil
}

func sameID(a, b string) bool {
	return a != "" && strings.ReplaceAll(a, "-", "") == strings.ReplaceAll(b, "-", "")
}

// migrate brings the data source's properties in line with the schema.
func (e *Engine) migrate(ctx context.Context, db *spec.Database, ids rdb.DatabaseIDs, all map[string]rdb.DatabaseIDs) (rdb.DatabaseIDs, error) {
	want := map[string]notion.PropertySchema{}
	for name, p := range db.Schema {
		rel := ""
		if p.Type == schema.TypeRelation {
			rel = all[p.Relation.Database].DataSourceID
		}
		want[name] = schemaToNotion(p, rel)
	}
	hash := schemaHash(want)
	if ids.SchemaHash == hash && ids.URL != "" && !db.IsExisting() {
		return ids, nil
	}
	if ids.SchemaHash == hash && db.IsExisting() {
		if info, err := e.rdb.GetExisting(ctx, db.Key); err == nil && info.Columns != nil {
			return ids, nil
		}
	}
	ds, err := e.notion.GetDataSource(ctx, ids.DataSourceID)
	if err == nil && ids.SchemaHash == hash && !db.IsExisting() {
		// Only the URL operators open the database with was missing
		// (databases provisioned before it was kept): one read, once.
		ids.URL = ds.URL
		return ids, e.rdb.SetDatabase(ctx, db.Key, ids)
	}
	if notion.IsNotFound(err) && db.IsExisting() {
		return ids, &ExistingError{Database: db.Key, Reason: fmt.Sprintf("data source %s of database %s is gone from Notion or no longer shared with the integration: share the database with the integration again (in Notion: ••• → Connections), or point Existing at another database", ids.DataSourceID, db.Existing)}
	}
	if notion.IsNotFound(err) {
		return ids, fmt.Errorf("database %q: data source %s is gone from Notion (deleted, or the integration lost access): share the parent page with the integration again, or clear the stored ids so synq recreates it", db.Key, ids.DataSourceID)
	}
	if err != nil {
		return ids, fmt.Errorf("database %q: read schema: %w", db.Key, err)
	}
	if db.IsExisting() {
		return e.migrateExisting(ctx, db, ids, ds, want, hash)
	}
	update := map[string]*notion.PropertySchema{}
	var changes []TypeChange
	for _, name := range slices.Sorted(mapsKeys(want)) {
		if have, ok := ds.Properties[name]; ok && have.Type != want[name].Type {
			changes = append(changes, TypeChange{Property: name, From: have.Type, To: want[name].Type})
		}
	}
	if len(changes) > 0 {
		if !db.AllowTypeChanges {
			return ids, &TypeChangeError{Database: db.Key, Changes: changes}
		}
		for _, c := range changes {
			e.log.Warn("changing a property's type in place (AllowTypeChanges): Notion drops the column's values", "database", db.Key, "property", c.Property, "from", c.From, "to", c.To)
		}
	}
	for _, name := range slices.Sorted(mapsKeys(want)) {
		w := want[name]
		have, ok := ds.Properties[name]
		if !ok && w.Type == string(schema.TypeTitle) {
			// Notion names a new title property "Name"; rename the one it has.
			for hn, hp := range ds.Properties {
				if hp.Type == string(schema.TypeTitle) {
					w.Name = name
					update[hn] = &w
					ok, have = true, hp
				}
			}
			if ok {
				continue
			}
		}
		if !ok || !schemaCovers(have, w) {
			w := mergeOptions(have, w)
			update[name] = &w
		}
	}
	for name, hp := range ds.Properties {
		if _, ok := want[name]; !ok && hp.Type != string(schema.TypeTitle) && !isSyncedSide(e.set, db.Key, name) {
			e.log.Warn("property is in Notion but no longer in the schema; synq leaves it (never drops a property)", "database", db.Key, "property", name)
		}
	}
	if len(update) > 0 {
		if _, err := e.notion.UpdateDataSource(ctx, ids.DataSourceID, notion.UpdateDataSourceRequest{Properties: update}); err != nil {
			return ids, fmt.Errorf("database %q: migrate schema (%s): %w", db.Key, strings.Join(slices.Sorted(mapsKeys(update)), ", "), err)
		}
		e.log.Info("migrated Notion schema", "database", db.Key, "properties", slices.Sorted(mapsKeys(update)))
		var added []string
		for name := range update {
			if _, ok := ds.Properties[name]; !ok {
				added = append(added, name)
			}
		}
		if len(added) > 0 && !e.createdNow[db.Key] {
			// Notion adds the column empty: the rows already there get a
			// value only when a run writes them again (their content
			// changed with the new property, so the next run does).
			var syncs []string
			for _, k := range e.set.SyncOrder {
				if e.set.Syncs[k].Database == db.Key {
					syncs = append(syncs, "`ctl trigger "+k+"`")
				}
			}
			how := "the next run of a sync writing it fills them in"
			if len(syncs) > 0 {
				how += " (" + strings.Join(syncs, " or ") + " runs one now)"
			}
			slices.Sort(added)
			e.log.Info("existing rows have the new properties empty until a run writes them: "+how, "database", db.Key, "properties", added)
		}
	}
	ids.SchemaHash = hash
	if ds.URL != "" {
		ids.URL = ds.URL
	}
	return ids, e.rdb.SetDatabase(ctx, db.Key, ids)
}

// isSyncedSide says whether name is the other side of a two-way relation
// declared on another database, which Notion adds by itself.
func isSyncedSide(set *spec.Set, db, name string) bool {
	for _, d := range set.Databases {
		for pn, p := range d.Schema {
			if p.Relation != nil && p.Relation.Database == db && p.Relation.TwoWay &&
				(p.Relation.RelatedPropertyName == name || p.Relation.RelatedPropertyName == "" && strings.Contains(name, pn)) {
				return true
			}
		}
	}
	return false
}

func schemaHash(props map[string]notion.PropertySchema) string {
	b, _ := json.Marshal(props)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
