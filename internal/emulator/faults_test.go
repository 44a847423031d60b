package emulator_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

func TestParseFaultsRateLimitsAndApplied500(t *testing.T) {
	f, err := emulator.ParseFaults("applied500=0.02,429=0.03,429_reason=workspace_rate_limit,429_retry_after=90s,seed=3")
	want := emulator.Faults{RateAppliedThen500: 0.02, Rate429: 0.03, Reason429: "workspace_rate_limit", RetryAfter429: 90 * time.Second, Seed: 3}
	if err != nil || f != want {
		t.Errorf("ParseFaults = %+v, %v", f, err)
	}
	for _, bad := range []string{"429=1.5", "429_retry_after=-1s", "500=0.6,503=0.6"} {
		if _, err := emulator.ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
}

// Every 429 names the budget that ran out: a fault names the one it is
// configured with, the token's limit the connection's, the shared limit
// the workspace's.
func TestRateLimitReasons(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	reason := func(hdr *string) (int, string) {
		t.Helper()
		req := httptest.NewRequest("GET", "/v1/users", nil)
		req.Header.Set("Authorization", "Bearer "+notiontest.Token)
		req.Header.Set("Notion-Version", emulator.Version)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if hdr != nil {
			*hdr = rec.Header().Get("Retry-After")
		}
		body := rec.Body.String()
		i := strings.Index(body, `"rate_limit_reason":"`)
		if i < 0 {
			return rec.Code, ""
		}
		rest := body[i+len(`"rate_limit_reason":"`):]
		return rec.Code, rest[:strings.IndexByte(rest, '"')]
	}
	for _, tc := range []struct {
		faults emulator.Faults
		reason string
		retry  string
	}{
		{emulator.Faults{Rate429: 1}, "connection_rate_limit", "1"},
		{emulator.Faults{Rate429: 1, Reason429: "workspace_rate_limit", RetryAfter429: 90 * time.Second}, "workspace_rate_limit", "90"},
		{emulator.Faults{Rate429: 1, Reason429: "public_api_request_blocked"}, "public_api_request_blocked", "1"},
		{emulator.Faults{Rate429: 1, RetryAfter429: 200 * time.Millisecond}, "connection_rate_limit", "0.2"},
	} {
		s.SetFaults(tc.faults)
		var ra string
		if code, got := reason(&ra); code != 429 || got != tc.reason || ra != tc.retry {
			t.Errorf("fault %+v: %d reason %q Retry-After %q; want 429 %q %q", tc.faults, code, got, ra, tc.reason, tc.retry)
		}
	}
	s.SetFaults(emulator.Faults{})
	if n := s.Stats().Faults["429"]; n != 4 {
		t.Errorf("Stats.Faults[429] = %d, want 4", n)
	}

	s.SetRateLimit(60) // burst 3
	got := map[string]int{}
	for range 6 {
		_, r := reason(nil)
		got[r]++
	}
	if got["connection_rate_limit"] == 0 {
		t.Errorf("the token's limit answered %v; want connection_rate_limit refusals", got)
	}
	s.SetRateLimit(0)
	s.SetWorkspaceRateLimit(60)
	got = map[string]int{}
	for range 6 {
		_, r := reason(nil)
		got[r]++
	}
	if got["workspace_rate_limit"] == 0 || got["connection_rate_limit"] != 0 {
		t.Errorf("the workspace's limit answered %v; want workspace_rate_limit refusals only", got)
	}
}

// applied500 commits the write and answers a bare 500: the client cannot
// tell it from a write that failed.
func TestAppliedThen500(t *testing.T) {
	s := notiontest.Start(t, emulator.Config{})
	c := newClient(t, s)
	ds := mkDB(t, c, "Applied500", nil)
	s.SetFaults(emulator.Faults{RateAppliedThen500: 1, Seed: 1})
	code, m := call(t, s.Handler(), "POST", "/v1/pages", `{"parent":{"data_source_id":"`+ds+`"},"properties":{"Name":{"title":[{"text":{"content":"a"}}]}}}`, nil)
	if code != 500 || m["additional_data"] != nil {
		t.Fatalf("applied-then-500: %d %v", code, m)
	}
	s.SetFaults(emulator.Faults{})
	code, m = call(t, s.Handler(), "POST", "/v1/data_sources/"+ds+"/query", `{}`, nil)
	if res, _ := m["results"].([]any); code != 200 || len(res) != 1 {
		t.Fatalf("after an applied 500 the data source holds %v (%d)", m["results"], code)
	}
	if n := s.Stats().Faults["applied500"]; n != 1 {
		t.Errorf("Stats.Faults[applied500] = %d", n)
	}
}
