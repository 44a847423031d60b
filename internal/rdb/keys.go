// Package rdb owns every Redis key synq writes outside asynq's own.
//
// Like asynq's internal/rdb, one package names all keys so that a reader can
// see the whole Redis layout in one place, and so that two packages never
// invent colliding names. Packages build keys only through these functions.
// Each area of the system keeps its key functions in a file of its own here
// (keys.go: shared prefix and engine keys; pacer.go: pacer keys; …).
package rdb

// Prefix starts every synq key. asynq's keys start with "asynq:".
const Prefix = "synq:"

// DatabaseKey is a hash with the Notion ids of a managed database
// (database_id, data_source_id) and the hash of the schema last migrated.
func DatabaseKey(db string) string { return Prefix + "db:{" + db + "}" }

// IndexKey is a hash primary key → index entry (page id, content hash,
// upstream updated-at) for one managed database.
func IndexKey(db string) string { return Prefix + "db:{" + db + "}:index" }

// ClaimKey is a short-lived lock on one primary key of one database, so two
// writers of a new key never create two pages.
func ClaimKey(db, key string) string { return Prefix + "db:{" + db + "}:claim:" + key }

// SyncKey is a hash with a sync's committed state and cycle bookkeeping.
func SyncKey(sync string) string { return Prefix + "sync:{" + sync + "}" }

// SeenKey is a set of primary keys seen in the current replace cycle of a
// sync, for the final mark-and-sweep.
func SeenKey(sync string) string { return Prefix + "sync:{" + sync + "}:seen" }
