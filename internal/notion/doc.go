// Package notion is a small typed client for the Notion REST API, version
// 2025-09-03 (databases hold data sources; rows are pages whose parent is a
// data source).
//
// Types marshal to exactly the request form Notion expects and unmarshal
// the response form, so a value read from Notion can be written back.
// Every call carries a deadline, goes through the Before hook (where the
// shared pacer plugs in) and is retried only when that is safe: reads on
// 429/529/5xx/timeouts, writes only when Notion says they were not applied
// (429/529). A write whose outcome is unknown returns an error wrapping
// ErrAmbiguousWrite so the caller can look before creating again; a 503
// that names the committed resource is turned into success.
package notion
