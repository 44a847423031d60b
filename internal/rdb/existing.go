package rdb

import (
	"context"
	"encoding/json"
	"time"
)

// ExistingKey is a hash describing a database people already have
// (DatabaseConfig.Existing), for ctl status and the console: "columns"
// (JSON ExistingColumns, written when the schema is checked) and "rows"
// (JSON ExistingRows, written when its rows are adopted).
func ExistingKey(db string) string { return Prefix + "db:{" + db + "}:existing" }

// MineKey is a set of the primary keys of rows synq created in a database
// people already have. Their page bodies are synq's; the bodies of adopted
// rows are people's unless the database opts in (OwnBodies). Losing it
// (Redis lost data) only makes synq leave more bodies alone.
func MineKey(db string) string { return Prefix + "db:{" + db + "}:mine" }

// ExistingColumns is how the columns of an existing database split.
type ExistingColumns struct {
	// URL opens the database in Notion.
	URL string `json:"url,omitempty"`
	// DataSource is the data source synq writes (its name, or id).
	DataSource string `json:"data_source,omitempty"`
	// Owned are the declared properties: synq writes them.
	Owned []string `json:"owned"`
	// Added are the owned properties synq added to the database.
	Added []string `json:"added,omitempty"`
	// Others are the people's columns: never written.
	Others []string  `json:"others"`
	At     time.Time `json:"at"`
}

// Duplicate is a row left alone because an older row has its key.
type Duplicate struct {
	Key    string `json:"key"`
	PageID string `json:"page_id"`
	// Kept is the page id of the oldest row with the key, the one adopted.
	Kept string `json:"kept"`
}

// ExistingRows is what the last read of an existing database's rows found.
type ExistingRows struct {
	// Rows is the number of rows with a key found; Adopted the index
	// entries the read added (0 on a re-read of an index that was intact).
	Rows    int `json:"rows"`
	Adopted int `json:"adopted"`
	// Keyless rows have an empty primary key: people's rows, never
	// written or swept.
	Keyless int `json:"keyless"`
	// Duplicates lists (up to MaxDuplicatesListed) rows whose key an older
	// row has; DuplicateCount counts them all.
	Duplicates     []Duplicate `json:"duplicates,omitempty"`
	DuplicateCount int         `json:"duplicate_count"`
	// Kind is the index generation kind of the read (GenRebuilt for the
	// first adoption and after Redis lost data, GenVerified after a
	// restart).
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// MaxDuplicatesListed caps the duplicates an ExistingRows lists.
const MaxDuplicatesListed = 100

// ExistingInfo is what is stored about an existing database.
type ExistingInfo struct {
	Columns *ExistingColumns
	Rows    *ExistingRows
}

// SetExistingColumns records how an existing database's columns split.
func (r *RDB) SetExistingColumns(ctx context.Context, db string, c ExistingColumns) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return wrap("record columns of "+db, r.c.HSet(ctx, ExistingKey(db), "columns", b).Err())
}

// SetExistingRows records what adopting an existing database's rows found.
func (r *RDB) SetExistingRows(ctx context.Context, db string, rows ExistingRows) error {
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	return wrap("record rows of "+db, r.c.HSet(ctx, ExistingKey(db), "rows", b).Err())
}

// GetExisting reads what is recorded about an existing database; both
// fields are nil when nothing is (a managed database, or not started yet).
func (r *RDB) GetExisting(ctx context.Context, db string) (ExistingInfo, error) {
	var out ExistingInfo
	m, err := r.c.HGetAll(ctx, ExistingKey(db)).Result()
	if err != nil {
		return out, wrap("read existing database "+db, err)
	}
	if v, ok := m["columns"]; ok {
		var c ExistingColumns
		if json.Unmarshal([]byte(v), &c) == nil {
			out.Columns = &c
		}
	}
	if v, ok := m["rows"]; ok {
		var rows ExistingRows
		if json.Unmarshal([]byte(v), &rows) == nil {
			out.Rows = &rows
		}
	}
	return out, nil
}

// MarkMine records that synq created the row of key.
func (r *RDB) MarkMine(ctx context.Context, db, key string) error {
	return wrap("mark row "+db+"/"+key+" as synq's", r.c.SAdd(ctx, MineKey(db), key).Err())
}

// Mine says which of keys name rows synq created.
func (r *RDB) Mine(ctx context.Context, db string, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	res, err := r.c.SMIsMember(ctx, MineKey(db), args...).Result()
	if err != nil {
		return out, wrap("read synq's rows of "+db, err)
	}
	for i, ok := range res {
		if ok {
			out[keys[i]] = true
		}
	}
	return out, nil
}
