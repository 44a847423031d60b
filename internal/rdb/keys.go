// Package rdb owns every Redis key and script synq uses outside asynq's own.
//
// Like asynq's internal/rdb, one package names all keys and holds every Lua
// script, so that a reader sees the whole Redis layout in one place and two
// packages never invent colliding names. Other packages reach Redis through
// the methods of RDB (or, for the pacer, the key functions in pacer.go).
//
// Keys that belong together carry the same hash tag ({db} or {sync}) so the
// scripts that touch several of them stay valid on Redis Cluster.
package rdb

// Prefix starts every synq key. asynq's keys start with "asynq:".
const Prefix = "synq:"

// DatabaseKey is a hash with the Notion ids of a managed database
// (database_id, data_source_id) and the hash of the schema last migrated.
func DatabaseKey(db string) string { return Prefix + "db:{" + db + "}" }

// IndexMetaKey is the meta hash of a database's key index: the generation
// marker "gen" (set when the index is complete: built from Notion, migrated,
// or new; missing after Redis lost it), the rows the last rebuild found
// ("rebuilt_rows") and the bucket layout ("l", "s", "n"; buckets.go). The
// index itself is spread over the buckets IndexMetaKey(db)+":<n>", hashes
// primary key → compact binary entry (page id, content hash, upstream and
// written times; index.go).
func IndexMetaKey(db string) string { return Prefix + "db:{" + db + "}:ix" }

// LegacyIndexKey is the index of synq versions before the compact format:
// one hash primary key → JSON entry. It is migrated, then deleted, by the
// first executor that finds it.
func LegacyIndexKey(db string) string { return Prefix + "db:{" + db + "}:index" }

// BodyMetaKey is the meta hash (bucket layout "l", "s", "n") of what synq
// remembers of the page bodies it wrote to a database's rows. Its buckets
// BodyMetaKey(db)+":<n>" (buckets.go) are hashes primary key → body
// record: the body's hash (8 bytes) and the ids and hashes of its
// top-level blocks as package pagecontent encodes them (body.go). A row
// without a record has no body written by synq (or Redis lost it: the
// next body write then reads the body from Notion first). The record is
// written by the commit of the row's index entry and dropped with it.
func BodyMetaKey(db string) string { return Prefix + "db:{" + db + "}:bd" }

// BodyWriteKey is a hash primary key → time (Redis clock, Unix ms) of a
// body write in flight: set before synq changes a page's blocks, cleared
// by the commit that records the new body. A leftover mark means the body
// may be partly written (the writer died or failed mid-way), so the next
// body write plans against the body read from Notion, not the stored
// record.
func BodyWriteKey(db string) string { return Prefix + "db:{" + db + "}:bw" }

// ClaimKey is a short-lived lock on one primary key of one database: a
// writer holds it while it writes the row to Notion, so two writers of a
// new key never create two pages and two writers of a row never leave
// Notion with the older of their contents (see write.go). The keys
// "\x00provision" (creating the database) and "\x00index" (rebuilding its
// index while other executors wait) cannot be primary keys.
func ClaimKey(db, key string) string { return Prefix + "db:{" + db + "}:claim:" + key }

// HeldKey is a hash primary key → claim token of the writer that last
// claimed the key (ClaimRow), kept after the claim key expires: it is the
// claim's fencing record. A writer whose claim expired may still write as
// long as no other writer claimed the key since (the record still names
// it); a writer that finds another's record when it claims (the other died
// or stalled with a write perhaps still in flight) knows the key's row may
// yet change under it. The commit or release of the claim deletes it, so
// it holds only keys being written and keys whose writer never finished.
func HeldKey(db string) string { return Prefix + "db:{" + db + "}:held" }

// DoubtKey is a hash primary key → a key whose row may still be changed by
// a write that its writer gave up on (a create or update whose outcome was
// in doubt when another writer wrote the key): "<since ms>|<checks>|<create
// flag>|<redo>" (claim.go). DoubtQueueKey orders the same keys by when
// they are next checked (Redis clock, ms): a check trashes the pages of
// the key the index does not name and sends the redo (the newest write)
// again, a few times with growing delays, until the doubt window ends.
func DoubtKey(db string) string { return Prefix + "db:{" + db + "}:doubt" }

// DoubtQueueKey: see DoubtKey.
func DoubtQueueKey(db string) string { return Prefix + "db:{" + db + "}:doubtq" }

// IntentKey is a hash primary key → time (Redis clock, Unix ms) of a
// create that was sent to Notion but not yet recorded in the index. A
// leftover intent means the create may have been applied, so the next
// writer looks the key up in Notion before creating again.
func IntentKey(db string) string { return Prefix + "db:{" + db + "}:intent" }

// TombKey is a hash primary key → upstream time (Unix ns, decimal) of a
// row an explicit delete trashed: the newest upstream time the key had,
// or the delete's own if newer. A later upsert no newer than it is stale
// (the stale rule holds across a delete). TombTimeKey orders the same
// keys by when they were deleted (Redis clock, Unix ms), so tombstones
// older than TombstoneTTL are dropped a few at a time by later deletes.
func TombKey(db string) string { return Prefix + "db:{" + db + "}:tomb" }

// TombTimeKey: see TombKey.
func TombTimeKey(db string) string { return Prefix + "db:{" + db + "}:tombt" }

// WaitMetaKey is the meta hash of the relations waiting for rows of a
// database: bucket layout ("l", "s", "n") and the expiry sweep's cursor
// ("cur"). Its buckets WaitMetaKey(db)+":<n>" are hashes primary key of a
// row not written yet → the relation values waiting for it (waiters.go),
// each with the time it began waiting; they are dropped after a TTL.
func WaitMetaKey(db string) string { return Prefix + "db:{" + db + "}:wt" }

// LegacyPendingKey is the pending-relation hash of synq versions before
// WaitMetaKey ("<primary key>\x00<property>" → JSON); migrated with the
// index.
func LegacyPendingKey(db string) string { return Prefix + "db:{" + db + "}:pending" }

// SyncKey is a hash with a sync's committed state and page bookkeeping.
func SyncKey(sync string) string { return Prefix + "sync:{" + sync + "}" }

// SeenMetaKey is the meta hash of the "<database>\x00<primary key>" seen in
// the current replace cycle of a sync, for the final mark-and-sweep; they
// are fields (with empty values) of its buckets SeenMetaKey(sync)+":<n>",
// packed like the index's (buckets.go). Its field "since" is when the
// cycle first committed seen keys (Redis clock, ms).
func SeenMetaKey(sync string) string { return Prefix + "sync:{" + sync + "}:seenix" }

// SeenKey is the seen set of synq versions before SeenMetaKey (a plain
// set); a cycle under way at an upgrade is read from both.
func SeenKey(sync string) string { return Prefix + "sync:{" + sync + "}:seen" }

// RunKey is a hash with one run's record and counters. It shares the
// sync's hash tag because a page commit updates both atomically.
func RunKey(sync, run string) string { return Prefix + "sync:{" + sync + "}:run:" + run }

// RunWarnedKey is a set of "<kind>\x00<member>" a run already warned
// about (unknown people emails, …), so a warning is logged once per run
// however many pages and executors meet it. It expires after a week.
func RunWarnedKey(sync, run string) string {
	return Prefix + "sync:{" + sync + "}:run:" + run + ":warned"
}

// RunsKey is a sorted set of a sync's run ids scored by start time.
func RunsKey(sync string) string { return Prefix + "sync:{" + sync + "}:runs" }

// RunLogKey is a capped list of one run's log lines (JSON).
func RunLogKey(sync, run string) string { return Prefix + "sync:{" + sync + "}:run:" + run + ":log" }

// RunPagesKey is a capped list of one run's page records (JSON): one per
// committed or finally failed page, with attempts, timings and counters.
func RunPagesKey(sync, run string) string {
	return Prefix + "sync:{" + sync + "}:run:" + run + ":pages"
}

// WorkersKey is a set of every worker name that ever published a manifest.
func WorkersKey() string { return Prefix + "workers" }

// BuildsKey is a sorted set of one worker's builds scored by when (server
// clock, ms) the build first published: the newest live build wins.
func BuildsKey(worker string) string { return Prefix + "worker:{" + worker + "}:builds" }

// BuildManifestKey holds the manifest (JSON) of one build of a worker. It
// expires unless an executor of that build republishes it: a build whose
// executors are all gone stops declaring its syncs.
func BuildManifestKey(worker, build string) string {
	return Prefix + "worker:{" + worker + "}:build:" + build
}

// RegistryKey is a hash sync key → JSON of the sync as last declared by
// the newest build of its worker, with when. It outlives manifests, so a
// sync that no live executor declares is still listed (and its runs can
// be failed and its records forgotten).
func RegistryKey() string { return Prefix + "syncs" }

// ExecutorKey is a hash describing one live executor process (worker,
// build, host, pid, concurrency, pages in flight); it expires when the
// process stops refreshing it.
func ExecutorKey(id string) string { return Prefix + "executor:" + id }

// ExecutorsKey is a sorted set of executor ids scored by when (ms) their
// record expires.
func ExecutorsKey() string { return Prefix + "executors" }

// LeaderKey is the scheduler leader lease.
func LeaderKey() string { return Prefix + "scheduler:leader" }

// PreviewKey is a list that receives the result (JSON) of one preview
// request from the executor that ran it.
func PreviewKey(id string) string { return Prefix + "preview:" + id }

// DueKey is a sorted set sync key → when the leader scheduler looks at
// the sync next (Unix ms; the leader's clock, which is the Redis server's
// outside tests; 0 means at once). A tick reads only its due members, so
// an idle scheduler costs the same whatever the number of syncs. Members
// are the declared syncs with a schedule (interval or continuous) that are
// not paused, less the continuous syncs with a run active (their run's end
// adds them back, at 0). See schedule.go.
//
// DueKey, ActiveKey and CatalogVersionKey share the {sched} hash tag; the
// run scripts that keep them (start, finish, pause, resume) also touch the
// sync's own keys, so like AlertEndsKey they are cross-slot writes.
func DueKey() string { return dueKey }

// ActiveKey is a set of the sync keys that have an active run (running or
// parked): the run scripts add a sync as its run starts and remove it as
// the run ends, so the reaper looks at active runs only.
func ActiveKey() string { return activeKey }

// RecentRunsKey is a sorted set of the newest runs of every sync (member
// "<sync>\n<run id>", score its start in ns on the Redis clock), kept to
// RecentRunsMax by the start script: `ctl runs list` without a sync reads
// a page of it instead of every sync's runs. A cross-slot write like
// ActiveKey.
func RecentRunsKey() string { return recentRunsKey }

// RecentRunsMax bounds RecentRunsKey (about 100 bytes a member).
const RecentRunsMax = 10000

// CatalogVersionKey is a random version set anew whenever the catalog may have
// changed (a build appears or is dropped, syncs are registered or
// forgotten), so the leader re-reads manifests and the registry only then.
// A manifest that simply expires bumps nothing: the leader also checks that
// the manifests it read still exist (one EXISTS per tick).
func CatalogVersionKey() string { return catalogVersionKey }
