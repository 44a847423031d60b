package spec

import "regexp"

// KeyPattern is the shape of a sync, database, pacer or worker key (without
// anchors, so that patterns such as run ids can embed it): a letter, then
// at most 99 letters, digits, '_', '-' or '.'. It keeps keys safe inside
// Redis keys (no hash-tag braces), gRPC requests and CLI arguments.
const KeyPattern = `[A-Za-z][A-Za-z0-9_.-]{0,99}`

// KeyRule says KeyPattern in words, for error messages.
const KeyRule = "letters, digits, '_', '-' or '.', starting with a letter, at most 100 long"

var keyRE = regexp.MustCompile(`^` + KeyPattern + `$`)

// ValidKey reports whether s is a well-formed key.
func ValidKey(s string) bool { return keyRE.MatchString(s) }
