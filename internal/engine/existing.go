package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/schemagen"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

// A database people already have (spec.Database.Existing) is synq's only
// in its declared columns and in the rows it creates or writes:
//
//   - provisioning finds it by id (never creates it), adds missing declared
//     properties and options, and refuses a declared property whose type
//     differs from the column's (ExistingError), whatever AllowTypeChanges
//     says: the column is the people's;
//   - its rows are read whole at first start (and after Redis lost the
//     index) and every row with a key is adopted into the index, with the
//     content hash of its owned columns, so that a first run with
//     unchanged content costs nothing (adopt);
//   - a replace sweep trashes only rows synq has written (IndexEntry.Written);
//   - Content is written to adopted rows only with OwnBodies (stripBodies).

// ExistingError refuses to start on a database people already have: it is
// not reachable, not a database, has several data sources and none was
// chosen, or its columns conflict with the declaration.
type ExistingError struct {
	Database string
	Reason   string
}

func (e *ExistingError) Error() string { return fmt.Sprintf("database %q: %s", e.Database, e.Reason) }

// Permanent is true: the same declaration is refused again until a person
// acts (shares the database, fixes the declaration).
func (e *ExistingError) Permanent() bool { return true }

// resolveExisting finds the data source of an existing database: the one
// it has, or the one DataSource names.
func (e *Engine) resolveExisting(ctx context.Context, db *spec.Database) (rdb.DatabaseIDs, error) {
	refuse := func(format string, a ...any) (rdb.DatabaseIDs, error) {
		return rdb.DatabaseIDs{}, &ExistingError{Database: db.Key, Reason: fmt.Sprintf(format, a...)}
	}
	d, err := e.notion.GetDatabase(ctx, db.Existing)
	if notion.IsNotFound(err) || isValidation(err) {
		// Notion answers 404 for a database not shared with the
		// integration, and for the id of a page.
		if pg, perr := e.notion.GetPage(ctx, db.Existing); perr == nil && pg != nil {
			return refuse("Existing names a page (%s), not a database: open the database itself in Notion and copy its URL (a database's URL opens the table; the page it sits on has another URL)", db.Existing)
		}
		return refuse("Notion has no database %s that this integration can see: share the database with the integration (in Notion: ••• → Connections → add it) and check that Existing is the database's URL or id (%v)", db.Existing, err)
	}
	if err != nil {
		return rdb.DatabaseIDs{}, fmt.Errorf("database %q: read existing database %s: %w", db.Key, db.Existing, err)
	}
	if d.InTrash || d.Archived {
		return refuse("database %s (%q) is in Notion's trash: restore it, or point Existing at another database", d.ID, d.PlainTitle())
	}
	var pick *notion.DataSourceRef
	switch {
	case len(d.DataSources) == 0:
		return refuse("database %s (%q) has no data source synq can write", d.ID, d.PlainTitle())
	case db.DataSource != "":
		for i, ref := range d.DataSources {
			if ref.Name == db.DataSource || sameID(ref.ID, db.DataSource) {
				pick = &d.DataSources[i]
			}
		}
		if pick == nil {
			return refuse("database %s (%q) has no data source %q: set DataSource to one of %s", d.ID, d.PlainTitle(), db.DataSource, listSources(d.DataSources))
		}
	case len(d.DataSources) > 1:
		return refuse("database %s (%q) has %d data sources: set DataSource to the one synq writes, one of %s", d.ID, d.PlainTitle(), len(d.DataSources), listSources(d.DataSources))
	default:
		pick = &d.DataSources[0]
	}
	return rdb.DatabaseIDs{DatabaseID: d.ID, DataSourceID: pick.ID, URL: d.URL}, nil
}

func listSources(refs []notion.DataSourceRef) string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = fmt.Sprintf("%q (id %s)", r.Name, r.ID)
	}
	return strings.Join(out, ", ")
}

func isValidation(err error) bool {
	var ne *notion.Error
	return errors.As(err, &ne) && ne.Status == 400
}

// checkExisting checks the columns of an existing data source against the
// declaration: the declared title property must be the database's, and a
// declared property present with another type is refused (never retyped).
// It returns the names of the people's columns.
func checkExisting(db *spec.Database, ds *notion.DataSource, want map[string]notion.PropertySchema) (others []string, err error) {
	var problems []string
	title := ""
	for name, p := range ds.Properties {
		if p.Type == string(schema.TypeTitle) {
			title = name
		}
		if _, ok := want[name]; !ok {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	if decl := db.TitleProperty(); decl != title {
		problems = append(problems, fmt.Sprintf("the schema's title property is %q but the database's title property is %q: declare %q: schema.Title() (synq never renames a column of a database people have)", decl, title, title))
	}
	for _, name := range slices.Sorted(mapsKeys(want)) {
		have, ok := ds.Properties[name]
		w := want[name]
		if !ok || w.Type == string(schema.TypeTitle) {
			continue
		}
		if have.Type != w.Type {
			fix := "declare it with the column's type"
			if h := schemagen.Helper(schema.Type(have.Type)); h != "" {
				fix = fmt.Sprintf("declare it as %q: %s", name, h)
			}
			problems = append(problems, fmt.Sprintf("property %q is a %s column in the database but the schema declares %s: %s, or declare your %s under another name (synq adds that column); synq never changes the type of a column of a database people have, AllowTypeChanges or not",
				name, have.Type, w.Type, fix, w.Type))
			continue
		}
		if w.Type == string(schema.TypeRelation) && !schemaCovers(have, w) {
			problems = append(problems, fmt.Sprintf("property %q relates to another data source in the database (%s) than the schema declares (%s): declare the relation the column has, or use another name",
				name, relTarget(have), relTarget(w)))
		}
	}
	if len(problems) > 0 {
		return others, &ExistingError{Database: db.Key, Reason: strings.Join(problems, "; ")}
	}
	return others, nil
}

func relTarget(p notion.PropertySchema) string {
	if p.Relation == nil {
		return "none"
	}
	return p.Relation.DataSourceID + " " + p.Relation.Type
}

// existingUpdate is the schema update of an existing data source: missing
// declared properties added, declared options added to the ones it has;
// nothing else (a number's format, a status's groups) is changed.
func existingUpdate(ds *notion.DataSource, want map[string]notion.PropertySchema) map[string]*notion.PropertySchema {
	update := map[string]*notion.PropertySchema{}
	for _, name := range slices.Sorted(mapsKeys(want)) {
		w := want[name]
		have, ok := ds.Properties[name]
		switch {
		case !ok:
			update[name] = &w
		case w.Type == "select" || w.Type == "multi_select" || w.Type == "status":
			if !schemaCovers(have, w) {
				m := mergeOptions(have, w)
				m.Groups = nil // a status's groups are the people's
				update[name] = &m
			}
		}
	}
	return update
}

// hashProps is what a row's content hash covers. In an existing database
// empty values are left out: an adopted row's hash is computed from what
// Notion holds, where an unset and an empty value look the same.
func hashProps(db *spec.Database, props builder.Properties) builder.Properties {
	if !db.IsExisting() {
		return props
	}
	out := make(builder.Properties, len(props))
	for name, v := range props {
		if !emptyValue(v) {
			out[name] = v
		}
	}
	return out
}

// emptyValue says whether v is the value of an empty cell.
func emptyValue(v builder.Value) bool {
	switch v.Type {
	case schema.TypeTitle, schema.TypeRichText:
		for _, t := range v.Text {
			if t.Content != "" {
				return false
			}
		}
		return true
	case schema.TypeNumber:
		return v.Number == nil
	case schema.TypeCheckbox:
		return !v.Checked
	case schema.TypeSelect, schema.TypeMultiSelect, schema.TypeStatus:
		return len(v.Names) == 0
	case schema.TypeDate:
		return v.Date == nil
	case schema.TypePeople:
		return len(v.Emails) == 0
	case schema.TypeFiles:
		return len(v.Files) == 0
	case schema.TypeURL, schema.TypeEmail, schema.TypePhoneNumber:
		return v.Scalar == ""
	case schema.TypePlace:
		return v.Place == nil
	case schema.TypeRelation:
		return len(v.Keys) == 0
	}
	return false
}

// adopter computes the content hash of adopted rows from their owned
// columns, as the upsert of the same content would hash them.
type adopter struct {
	db *spec.Database
	// emails maps user ids to emails; keys maps, per related database, page
	// ids to primary keys (nil: not known, the row is rewritten once).
	emails map[string]string
	keys   map[string]map[string]string
	// users lists the workspace's users the first time a row has people
	// (a database whose people cells are empty costs no listing).
	users func() map[string]string
}

// newAdopter prepares the lookups hashing needs: the workspace's users
// (cached per executor) when a people column is declared, and the index of
// each related database (Redis only).
func (e *Engine) newAdopter(ctx context.Context, db *spec.Database, log *slog.Logger) *adopter {
	a := &adopter{db: db, keys: map[string]map[string]string{}}
	for name, p := range db.Schema {
		switch p.Type {
		case schema.TypePeople:
			a.users = sync.OnceValue(func() map[string]string {
				users, _, err := e.userList(ctx, false)
				if err != nil {
					log.Warn("could not list the workspace's users: adopted rows with people are written once on their next upsert", "database", db.Key, "err", err)
					return nil
				}
				emails := make(map[string]string, len(users))
				for em, id := range users {
					emails[id] = em
				}
				return emails
			})
		case schema.TypeRelation:
			rel := p.Relation.Database
			if _, done := a.keys[rel]; done || rel == db.Key {
				continue
			}
			res, err := e.rdb.IndexLookup(ctx, rel, nil)
			if err != nil || !res.Complete() {
				log.Debug("related database not indexed yet: adopted rows relating to it are written once on their next upsert", "database", db.Key, "property", name, "related", rel)
				continue
			}
			m := map[string]string{}
			if err := e.rdb.IndexScan(ctx, rel, func(key string, en rdb.IndexEntry) error {
				m[strings.ReplaceAll(en.PageID, "-", "")] = key
				return nil
			}); err == nil {
				a.keys[rel] = m
			}
		}
	}
	return a
}

// hash is the content hash the upsert of p's owned columns would have, or
// "" when a value cannot be read back (the row is then rewritten once).
// Empty cells are left out, as an upsert that leaves a column unset
// hashes it. A managed database's icon and cover are synq's: they count
// too (an existing database's are the people's).
func (a *adopter) hash(p *notion.Page) string {
	props := make(builder.Properties, len(a.db.Schema))
	for name, sp := range a.db.Schema {
		nv, ok := p.Properties[name]
		if !ok {
			continue
		}
		missing := false
		names := Names{}
		switch sp.Type {
		case schema.TypePeople:
			names.Email = func(id string) (string, bool) {
				if a.emails == nil && a.users != nil {
					a.emails = a.users()
				}
				em, ok := a.emails[id] // a nil map (users unknown) misses
				missing = missing || !ok
				return em, ok
			}
		case schema.TypeRelation:
			m := a.keys[sp.Relation.Database] // nil: not indexed, misses
			names.Key = func(id string) (string, bool) {
				k, ok := m[strings.ReplaceAll(id, "-", "")]
				missing = missing || !ok
				return k, ok
			}
		}
		v, err := ValueFromNotion(nv, names)
		if err != nil || missing {
			return ""
		}
		if v, err = normalize(name, sp, v); err != nil {
			return ""
		}
		if !emptyValue(v) {
			props[name] = v
		}
	}
	if a.db.IsExisting() {
		return contentHash(props, "", "", "")
	}
	icon, ok1 := iconText(p.Icon)
	cover, ok2 := iconText(p.Cover)
	if !ok1 || !ok2 {
		return "" // a file icon or cover: not one synq writes
	}
	return contentHash(props, icon, cover, "")
}

// iconText is the Change.Icon (or Cover) that writes ic (iconOf,
// coverOf); false when no Change writes it.
func iconText(ic *notion.Icon) (string, bool) {
	switch {
	case ic == nil:
		return "", true
	case ic.Type == "emoji":
		return ic.Emoji, true
	case ic.Type == "external" && ic.External != nil:
		return ic.External.URL, true
	}
	return "", false
}

// stripBodies drops the Content of changes to adopted rows of an existing
// database that does not own their bodies: people may have written them.
// A row synq created (rdb.MarkMine), and a key with no row yet, keeps it.
func (e *Engine) stripBodies(ctx context.Context, rows []row, entries map[string]map[string]rdb.IndexEntry, log *slog.Logger) error {
	byDB := map[string][]int{}
	for i, r := range rows {
		if !r.db.IsExisting() || r.db.OwnBodies || !r.hasContent() {
			continue
		}
		if _, known := entries[r.db.Key][r.change.Key]; known {
			byDB[r.db.Key] = append(byDB[r.db.Key], i)
		}
	}
	for db, idx := range byDB {
		keys := make([]string, len(idx))
		for k, i := range idx {
			keys[k] = rows[i].change.Key
		}
		mine, err := e.rdb.Mine(ctx, db, keys)
		if err != nil {
			return err
		}
		left := 0
		for _, i := range idx {
			if mine[rows[i].change.Key] {
				continue
			}
			r := &rows[i]
			r.change.Content = nil
			r.blocks, r.body = nil, ""
			r.hash = contentHash(hashProps(r.db, r.props), r.change.Icon, r.change.Cover, "")
			left++
		}
		if left > 0 {
			log.Info("left the page bodies of adopted rows alone: the database is one people already have and does not set OwnBodies", "database", db, "rows", left)
		}
	}
	return nil
}

// adoptRows is rebuildIndex for an existing database: every row whose key
// has a value is adopted (the oldest row of a key; the others are
// reported and left alone) with the hash of its owned columns; rows with
// an empty key are counted and left alone.
func (e *Engine) adoptRows(ctx context.Context, db string, ids rdb.DatabaseIDs, kind string) (rows, added int, err error) {
	d := e.set.Databases[db]
	log := pageLog(ctx, e.log)
	a := e.newAdopter(ctx, d, log)
	report := rdb.ExistingRows{Kind: kind}
	seen := map[string]string{} // key → page id adopted
	batch := make(map[string]rdb.IndexEntry, 100)
	flush := func() error {
		n, err := e.rdb.IndexAddMissing(ctx, db, batch)
		added += n
		clear(batch)
		return err
	}
	err = e.readAll(ctx, ids.DataSourceID, func(p *notion.Page) error {
		key := p.Properties[d.PrimaryKey].Text()
		if key == "" {
			report.Keyless++
			return nil
		}
		if kept, dup := seen[key]; dup {
			report.DuplicateCount++
			if len(report.Duplicates) < rdb.MaxDuplicatesListed {
				report.Duplicates = append(report.Duplicates, rdb.Duplicate{Key: key, PageID: p.ID, Kept: kept})
			}
			return nil
		}
		seen[key] = p.ID
		rows++
		batch[key] = rdb.IndexEntry{PageID: p.ID, Hash: a.hash(p)}
		if len(batch) >= 100 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rows, added, fmt.Errorf("database %q: read the existing database's rows to adopt them: %w", db, err)
	}
	report.Rows, report.Adopted, report.At = rows, added, e.cfg.Now().UTC()
	if err := e.rdb.SetExistingRows(ctx, db, report); err != nil {
		return rows, added, err
	}
	args := []any{"database", db, "rows", rows, "adopted", added, "keyless_left_alone", report.Keyless, "duplicates_left_alone", report.DuplicateCount}
	log.Info(fmt.Sprintf("read existing database %q whole: %d rows with a key (%d adopted into the index), %d rows with an empty key left alone", db, rows, added, report.Keyless), args...)
	if report.DuplicateCount > 0 {
		log.Warn(duplicatesMessage(db, d.PrimaryKey, report), "database", db, "duplicates", report.DuplicateCount)
	}
	return rows, added, nil
}

// duplicatesMessage says which rows share a key with an older row.
func duplicatesMessage(db, pk string, r rdb.ExistingRows) string {
	var b strings.Builder
	fmt.Fprintf(&b, "existing database %q has %d rows whose %s an older row already has; synq adopted the oldest row of each key and leaves the others alone (never written or trashed): ", db, r.DuplicateCount, pk)
	for i, d := range r.Duplicates {
		if i == 10 {
			fmt.Fprintf(&b, ", … (%d more)", r.DuplicateCount-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q (page %s; adopted %s)", d.Key, d.PageID, d.Kept)
	}
	b.WriteString(". Delete or re-key the extra rows in Notion if they should not be there")
	return b.String()
}

// readAll reads every row of a data source, past Notion's query result
// limit, oldest first (notion.QueryAll's created_time order), so the
// oldest row of a duplicated key is adopted.
func (e *Engine) readAll(ctx context.Context, dataSourceID string, fn func(*notion.Page) error) error {
	return e.notion.QueryAll(ctx, dataSourceID, notion.QueryRequest{}, fn)
}

// reportDuplicates logs, on a run's first page, the rows of an existing
// database left alone because their key is duplicated, so the run log
// says it too.
func (e *Engine) reportDuplicates(ctx context.Context, s *spec.Sync, log *slog.Logger) {
	d := e.set.Databases[s.Database]
	if d == nil || !d.IsExisting() {
		return
	}
	info, err := e.rdb.GetExisting(ctx, s.Database)
	if err != nil || info.Rows == nil {
		return
	}
	if info.Rows.DuplicateCount > 0 {
		log.Warn(duplicatesMessage(s.Database, d.PrimaryKey, *info.Rows), "database", s.Database, "duplicates", info.Rows.DuplicateCount)
	}
}

// recordColumns records how an existing database's columns split, for
// ctl status and the console.
func (e *Engine) recordColumns(ctx context.Context, db *spec.Database, ids rdb.DatabaseIDs, ds *notion.DataSource, others, added []string) error {
	owned := slices.Sorted(mapsKeys(db.Schema))
	name := ds.PlainTitle()
	if name == "" {
		name = ds.ID
	}
	return e.rdb.SetExistingColumns(ctx, db.Key, rdb.ExistingColumns{
		URL: ids.URL, DataSource: name, Owned: owned, Added: added, Others: others, At: time.Now().UTC(),
	})
}

// migrateExisting is migrate for a database people already have: the
// columns are checked (checkExisting), missing declared ones and options
// added, nothing else changed.
func (e *Engine) migrateExisting(ctx context.Context, db *spec.Database, ids rdb.DatabaseIDs, ds *notion.DataSource, want map[string]notion.PropertySchema, hash string) (rdb.DatabaseIDs, error) {
	others, err := checkExisting(db, ds, want)
	if err != nil {
		return ids, err
	}
	update := existingUpdate(ds, want)
	var added []string
	for name := range update {
		if _, ok := ds.Properties[name]; !ok {
			added = append(added, name)
		}
	}
	slices.Sort(added)
	if len(update) > 0 {
		if _, err := e.notion.UpdateDataSource(ctx, ids.DataSourceID, notion.UpdateDataSourceRequest{Properties: update}); err != nil {
			return ids, fmt.Errorf("database %q: add properties and options to the existing database (%s): %w", db.Key, strings.Join(slices.Sorted(mapsKeys(update)), ", "), err)
		}
		e.log.Info("added declared properties and options to the existing database (other columns untouched)", "database", db.Key, "added", added, "properties", slices.Sorted(mapsKeys(update)))
	}
	ids.SchemaHash = hash
	if ds.URL != "" && ids.URL == "" {
		ids.URL = ds.URL
	}
	if err := e.recordColumns(ctx, db, ids, ds, others, added); err != nil {
		return ids, err
	}
	return ids, e.rdb.SetDatabase(ctx, db.Key, ids)
}

// adoptExisting reads, at start-up, every existing database whose rows
// were not adopted yet (one executor reads, the others wait), so the first
// run finds them in the index.
func (e *Engine) adoptExisting(ctx context.Context) error {
	for _, key := range e.set.DatabaseOrder {
		if !e.set.Databases[key].IsExisting() {
			continue
		}
		if _, err := e.indexGen(ctx, key, e.log.With("database", key)); err != nil {
			return err
		}
	}
	return nil
}

// adoptedRaise keeps an adopted row that synq never wrote unwritten:
// recording a newer upstream time stamps the entry as written (which
// would make the row synq's to sweep), so unchanged content at a newer
// time is just unchanged there.
func adoptedRaise(a action, r row, cur rdb.RowState) action {
	if a == actRaise && r.db.IsExisting() && cur.Entry.Written == 0 {
		return actUnchanged
	}
	return a
}
