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
// On create: blocks, err := Convert(md) (an error is bad input: name the
// sync and key, fail the change); CreatePage (or SplitForCreate and the
// engine's own create, then Append for the rest); store the refs. The
// refs of blocks sent with the create have no id, since Notion does not
// return them: the first Apply that changes the body looks them up with
// one read. On change: compare BodyHash with the stored one; if it
// differs, refs, err := Apply(old refs, blocks) and store the new refs
// with the row's commit.
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
// no block is ever duplicated. The engine knows when: mark the row
// ("body write in flight") before Apply and clear the mark with the
// commit; a mark found on the next attempt, an error from the last Apply
// (the body may be partly written), or refs that were lost while the page
// kept its body, means Verify. Sub-pages and inline databases in a page
// are never deleted; other blocks a person added are, under Verify. TestApplyAfterCrash kills the
// writer after every possible number of writes and checks this.
package pagecontent
