package synqv1

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/synqhq/synq/internal/spec"
)

func TestValidate(t *testing.T) {
	good := []interface{ Validate() error }{
		&GetSyncRequest{Key: "ticketsBackfill"},
		&TriggerSyncRequest{Key: "a.b-c_d"},
		&TriggerSyncRequest{Key: "x", Preview: true, StateJson: `{"cursor":"abc"}`},
		&CancelRunRequest{RunId: "ticketsBackfill-20261124T101500-3f9a1c"},
		&ListRunsRequest{},
		&ListRunsRequest{SyncKey: "s", PageSize: 500, PageToken: EncodePageToken(40)},
		&GetRunLogsRequest{RunId: "my-sync-20261124T101500-000000"},
		&GetRunRequest{RunId: "my-sync-20261124T101500-000000"},
		&ForgetSyncRequest{Key: "retired"},
		&TriggerSyncRequest{Key: "x", AllowTrash: true},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%T %v: %v", r, r, err)
		}
	}
	bad := map[interface{ Validate() error }]string{
		&GetSyncRequest{}:                                              "key is required",
		&GetSyncRequest{Key: "no spaces"}:                              "is not a sync key",
		&GetSyncRequest{Key: "1abc"}:                                   "is not a sync key",
		&TriggerSyncRequest{Key: "x", StateJson: "{}"}:                 "state_json is only for previews",
		&TriggerSyncRequest{Key: "x", Preview: true, StateJson: "{"}:   "not valid JSON",
		&CancelRunRequest{}:                                            "run_id is required",
		&CancelRunRequest{RunId: "ticketsBackfill"}:                    "is not a run id",
		&ListRunsRequest{PageSize: 501}:                                "page_size 501",
		&ListRunsRequest{PageSize: -1}:                                 "page_size -1",
		&ListRunsRequest{PageToken: "garbage"}:                         "was not returned by ListRuns",
		&ListRunsRequest{PageToken: "o-5"}:                             "was not returned by ListRuns",
		&GetRunRequest{RunId: "x"}:                                     "is not a run id",
		&ForgetSyncRequest{}:                                           "key is required",
		&TriggerSyncRequest{Key: "x", Preview: true, AllowTrash: true}: "allow_trash is for runs",
	}
	for r, want := range bad {
		err := r.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%T %v: err = %v, want %q", r, r, err, want)
		}
	}
}

// FuzzValidate feeds arbitrary input to every request's validation: it
// must never panic, must accept only keys and run ids of the documented
// shape, and its messages must stay short and valid UTF-8 for the terminal.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "ticketsBackfill", "a b", "x-20261124T101500-3f9a1c", "o12", "{\"a\":1}", "\xff\xfe", strings.Repeat("k", 300)} {
		f.Add(s, s, int32(len(s)), true)
	}
	f.Fuzz(func(t *testing.T, key, other string, size int32, preview bool) {
		reqs := []interface{ Validate() error }{
			&GetSyncRequest{Key: key},
			&TriggerSyncRequest{Key: key, Preview: preview, StateJson: other},
			&CancelRunRequest{RunId: key},
			&ListRunsRequest{SyncKey: key, PageSize: size, PageToken: other},
			&GetRunLogsRequest{RunId: other},
			&WatchSyncsRequest{Keys: []string{key, other}},
			&PauseSyncRequest{Key: key},
			&ForgetSyncRequest{Key: key},
			&GetRunRequest{RunId: other},
		}
		for _, r := range reqs {
			err := r.Validate()
			if err != nil && (len(err.Error()) > 400 || !utf8.ValidString(err.Error())) {
				t.Fatalf("%T: unwieldy message %q", r, err)
			}
		}
		if (&GetSyncRequest{Key: key}).Validate() == nil && !spec.ValidKey(key) {
			t.Fatalf("accepted key %q", key)
		}
		if (&CancelRunRequest{RunId: key}).Validate() == nil && !runRE.MatchString(key) {
			t.Fatalf("accepted run id %q", key)
		}
	})
}
