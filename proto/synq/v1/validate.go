package synqv1

// Hand-written request validation, used by the control server's validator
// interceptor (go-grpc-middleware's Validate() error convention). Messages
// say what to send instead.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/synqhq/synq/internal/spec"
)

// runRE is a run id: its sync's key, then when and a random suffix.
var runRE = regexp.MustCompile(`^` + spec.KeyPattern + `-\d{8}T\d{6}-[0-9a-f]{6}$`)

// MaxPageSize bounds ListRuns pages.
const MaxPageSize = 500

// IsRunID reports whether s has the shape of a run id
// (ticketsBackfill-20261124T101500-3f9a1c) rather than of a sync key.
func IsRunID(s string) bool { return runRE.MatchString(s) }

func checkKey(field, key string, required bool) error {
	if key == "" {
		if required {
			return fmt.Errorf("%s is required: pass a sync key such as ticketsBackfill", field)
		}
		return nil
	}
	if !spec.ValidKey(key) {
		return fmt.Errorf("%s %q is not a sync key: keys are %s", field, truncate(key), spec.KeyRule)
	}
	return nil
}

func checkRun(id string) error {
	if id == "" {
		return fmt.Errorf("run_id is required: copy it from `ctl runs list`")
	}
	if !runRE.MatchString(id) {
		return fmt.Errorf("run_id %q is not a run id: they look like ticketsBackfill-20261124T101500-3f9a1c (see `ctl runs list`)", truncate(id))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Validate checks the request.
func (r *GetSyncRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// Validate checks the request.
func (r *WatchSyncsRequest) Validate() error {
	for _, k := range r.GetKeys() {
		if err := checkKey("keys", k, true); err != nil {
			return err
		}
	}
	if d := r.GetInterval(); d != nil {
		if err := d.CheckValid(); err != nil {
			return fmt.Errorf("interval: %v", err)
		}
		if iv := d.AsDuration(); iv != 0 && (iv < 200*time.Millisecond || iv > time.Hour) {
			return fmt.Errorf("interval %v is outside 200ms–1h", iv)
		}
	}
	return nil
}

// Validate checks the request.
func (r *TriggerSyncRequest) Validate() error {
	if err := checkKey("key", r.GetKey(), true); err != nil {
		return err
	}
	if r.GetAllowTrash() && r.GetPreview() {
		return fmt.Errorf("allow_trash is for runs, not previews: a preview trashes nothing")
	}
	if s := r.GetStateJson(); s != "" {
		if !r.GetPreview() {
			return fmt.Errorf("state_json is only for previews: set preview, or reset the state with ResetState")
		}
		if !json.Valid([]byte(s)) {
			return fmt.Errorf("state_json is not valid JSON: pass the state as the sync stores it, e.g. {\"cursor\":\"abc\"}")
		}
		if len(s) > 1<<20 {
			return fmt.Errorf("state_json is %d bytes: at most 1 MiB", len(s))
		}
	}
	return nil
}

// Validate checks the request.
func (r *GetStateRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// Validate checks the request.
func (r *ResetStateRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// Validate checks the request.
func (r *PauseSyncRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// Validate checks the request.
func (r *ResumeSyncRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// Validate checks the request.
func (r *CancelRunRequest) Validate() error { return checkRun(r.GetRunId()) }

// Validate checks the request.
func (r *ListRunsRequest) Validate() error {
	if err := checkKey("sync_key", r.GetSyncKey(), false); err != nil {
		return err
	}
	if n := r.GetPageSize(); n < 0 || n > MaxPageSize {
		return fmt.Errorf("page_size %d is outside 0–%d (0 means 20)", n, MaxPageSize)
	}
	if t := r.GetPageToken(); t != "" {
		if _, err := DecodePageToken(t); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the request.
func (r *GetRunLogsRequest) Validate() error { return checkRun(r.GetRunId()) }

// Validate checks the request.
func (r *GetRunRequest) Validate() error { return checkRun(r.GetRunId()) }

// Validate checks the request.
func (r *ForgetSyncRequest) Validate() error { return checkKey("key", r.GetKey(), true) }

// EncodePageToken makes an opaque ListRuns page token from an offset.
func EncodePageToken(offset int) string { return fmt.Sprintf("o%d", offset) }

// DecodePageToken reads a page token made by EncodePageToken.
func DecodePageToken(t string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(t, "o%d", &n); err != nil || n < 0 || EncodePageToken(n) != t {
		return 0, fmt.Errorf("page_token %q was not returned by ListRuns: pass next_page_token unchanged", truncate(t))
	}
	return n, nil
}

func checkWebhookKey(key string) error {
	if key == "" {
		return fmt.Errorf("key is required: pass a webhook key (see `ctl webhooks list`)")
	}
	if !spec.ValidKey(key) {
		return fmt.Errorf("key %q is not a webhook key: keys are %s", truncate(key), spec.KeyRule)
	}
	return nil
}

// Validate checks the request.
func (r *ListDeliveriesRequest) Validate() error {
	if r.GetLimit() < 0 {
		return fmt.Errorf("limit %d is negative: leave it 0 for the most recent 200", r.GetLimit())
	}
	return checkWebhookKey(r.GetKey())
}

// Validate checks the request.
func (r *RotateWebhookTokenRequest) Validate() error { return checkWebhookKey(r.GetKey()) }

// Validate checks the request.
func (r *EnableWebhookRequest) Validate() error { return checkWebhookKey(r.GetKey()) }
