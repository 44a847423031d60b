// Package pagecontent turns a row's Markdown body into Notion blocks and
// keeps a page's body in step with it, block by block.
//
//   - Convert parses Markdown (goldmark, GitHub flavour) into blocks that
//     are within Notion's limits by construction.
//   - Hash identifies a top-level block with its children in 8 bytes that
//     also carry its type; a Ref is a block's id and hash, what the engine
//     stores per row (EncodeRefs packs them in 24 bytes each, 8 while
//     the ids are not known), and
//     BodyHash goes into the row's content hash so an unchanged body
//     costs nothing.
//   - Diff (DiffHashes) plans the fewest operations from the stored refs
//     to a new body: unchanged blocks cost nothing, a changed block of the
//     same type one update, inserted blocks one append per run (after
//     their predecessor), removed ones one delete each.
//   - CreatePage writes a new row with its body (one request for bodies of
//     up to 100 blocks nested two deep), Append writes any tree within the
//     per-request limits, Apply carries out a plan.
//
// # Using it from the engine
//
// The engine (internal/engine) converts a change's Content when it
// validates the page (an error is bad input: it fails the page naming the
// sync and key); BodyHash goes into the row's content hash. On create,
// SplitForCreate's first part goes with the page create and the rest is
// appended; the refs (RefsOf, ids unknown) are stored, EncodeRefs'd, in
// the row's body record beside its index entry (internal/rdb, body.go),
// written by the row's commit. The refs of blocks sent with a create have
// no id, since Notion does not return them: the first Apply that changes
// the body looks them up with one read. On change, the stored hash tells
// whether the body changed; if so Apply(stored refs, blocks) and the new
// refs go with the row's commit.
//
// # Crashes
//
// Apply runs deletes, then updates, then appends, and settles what
// Notion's answers reveal (a block already trashed, gone, or an append
// whose outcome is unknown) by reading the body back. What it cannot see
// is a crash: an executor killed after appending blocks but before its
// commit leaves blocks the stored refs do not name. The next attempt must
// therefore pass ApplyOptions.Verify, which plans against the body as
// Notion has it (one read per 100 blocks and per block with children), so
// no block is ever duplicated. The engine knows when: it marks the row
// ("body write in flight", rdb.MarkBodyWrite) before Apply and clears the
// mark with the commit; a mark found on the next attempt (left by a crash
// or by an Apply that failed: the body may be partly written), or no body
// record for a row that exists (Redis lost it, or synq never wrote this
// row's body), means Verify. A page a lookup finds after a create whose
// outcome was unknown is verified too. Sub-pages and inline databases in
// a page are never deleted; other blocks a person added are, under
// Verify. TestApplyAfterCrash kills the writer after every possible
// number of writes and checks this; the e2e test TestKill9MidBodyWrite
// kills an executor process mid-Apply.
package pagecontent
