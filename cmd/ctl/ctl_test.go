package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// fakeControl answers with fixed messages: what ctl prints is the subject.
type fakeControl struct {
	synqv1.UnimplementedControlServiceServer
}

func (fakeControl) ListSyncs(_ context.Context, r *synqv1.ListSyncsRequest) (*synqv1.ListSyncsResponse, error) {
	summary := []*synqv1.HealthCount{{Health: synqv1.Health_HEALTH_ERROR}, {Health: synqv1.Health_HEALTH_HEALTHY, Count: 1}}
	if len(r.GetHealth()) > 0 && r.GetHealth()[0] == synqv1.Health_HEALTH_ERROR {
		return &synqv1.ListSyncsResponse{Summary: summary}, nil
	}
	return &synqv1.ListSyncsResponse{Matched: 1, Summary: summary, Syncs: []*synqv1.Sync{{
		Key: "ticketsDelta", Worker: "synq-demo", Mode: synqv1.Mode_MODE_INCREMENTAL, Schedule: "5m", Health: synqv1.Health_HEALTH_HEALTHY, Declared: true,
		HealthReason: "last run succeeded",
		ActiveRun: &synqv1.Run{Id: "ticketsDelta-20261124T101500-3f9a1c", Status: synqv1.RunStatus_RUN_STATUS_RUNNING, CurrentPage: 2, Attempts: 3,
			LastError: "helpdesk API: 503", Worker: "synq-demo", Counters: &synqv1.Counters{Pages: 2}},
		LastRun: &synqv1.Run{Id: "ticketsDelta-20261124T100000-aaaaaa", Status: synqv1.RunStatus_RUN_STATUS_SUCCEEDED, Trigger: synqv1.Trigger_TRIGGER_SCHEDULE,
			Finished: timestamppb.New(time.Date(2026, 11, 24, 10, 1, 0, 0, time.UTC)),
			Counters: &synqv1.Counters{Pages: 3, Created: 120, Updated: 4, Unchanged: 76, Trashed: 1, Skipped: 2}},
	}}}, nil
}

func (fakeControl) TriggerSync(_ context.Context, r *synqv1.TriggerSyncRequest) (*synqv1.TriggerSyncResponse, error) {
	return &synqv1.TriggerSyncResponse{Preview: &synqv1.Preview{
		Changes: []*synqv1.PreviewChange{{Key: "T-1", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_CREATE, PropertiesJson: `{"Title":"Printer on fire"}`},
			{Key: "T-2", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_TRASH, Message: "delete"},
			{Key: "T-3", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_UPDATE,
				PropertiesJson:    `{"Title":"Printer fixed","Status":"closed","Notes":"` + strings.Repeat("n", 300) + `","Owner":"Ann"}`,
				OldPropertiesJson: `{"Title":"Printer on fire","Status":"open\u001b]52;c;evil\u0007","Notes":"` + strings.Repeat("o", 300) + `","Owner":"Ann"}`},
			{Key: "T-4", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_UNCHANGED, PropertiesJson: `{"Title":"Quiet"}`},
			{Key: "T-5", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_UNCHANGED, PropertiesJson: `{"Title":"Calm"}`}},
		NextStateJson: `{"cursor":"c2"}`,
	}}, nil
}

// GetSync: ticketsDelta has an active run, every other key none.
func (f fakeControl) GetSync(ctx context.Context, r *synqv1.GetSyncRequest) (*synqv1.GetSyncResponse, error) {
	if r.Key == "ticketsDelta" {
		l, _ := f.ListSyncs(ctx, nil)
		return &synqv1.GetSyncResponse{Sync: l.Syncs[0]}, nil
	}
	return &synqv1.GetSyncResponse{Sync: &synqv1.Sync{Key: r.Key, Declared: true}}, nil
}

func (fakeControl) CancelRun(_ context.Context, r *synqv1.CancelRunRequest) (*synqv1.CancelRunResponse, error) {
	return &synqv1.CancelRunResponse{Run: &synqv1.Run{Id: r.RunId, Status: synqv1.RunStatus_RUN_STATUS_CANCELLED}}, nil
}

func (fakeControl) GetState(context.Context, *synqv1.GetStateRequest) (*synqv1.GetStateResponse, error) {
	return &synqv1.GetStateResponse{}, nil
}

func serve(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	synqv1.RegisterControlServiceServer(s, fakeControl{})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func ctl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"--timeout", "5s"}, args...), &o, &e)
	return o.String(), e.String(), code
}

func TestJSONForScripts(t *testing.T) {
	addr := serve(t)
	out, errOut, code := ctl(t, "--addr", addr, "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	var st struct {
		Syncs []map[string]any `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	s := st.Syncs[0]
	last := s["last_run"].(map[string]any)
	counters := last["counters"].(map[string]any)
	if s["health"] != "healthy" || s["mode"] != "incremental" || last["status"] != "succeeded" || last["trigger"] != "schedule" ||
		counters["created"] != 120.0 || counters["skipped"] != 2.0 || last["finished"] != "2026-11-24T10:01:00Z" || s["paused"] != false {
		t.Fatalf("status JSON is not for scripts:\n%s", out)
	}
	if strings.Index(out, `"key"`) > strings.Index(out, `"health"`) {
		t.Errorf("fields are not in the .proto's order:\n%s", out)
	}

	out, _, code = ctl(t, "--addr", addr, "trigger", "ticketsDelta", "--preview")
	var pv struct {
		Changes []struct {
			Kind       string            `json:"kind"`
			Properties map[string]string `json:"properties"`
		} `json:"changes"`
		NextState map[string]string `json:"next_state"`
	}
	if err := json.Unmarshal([]byte(out), &pv); err != nil || code != 0 || pv.Changes[0].Kind != "create" ||
		pv.Changes[0].Properties["Title"] != "Printer on fire" || pv.NextState["cursor"] != "c2" {
		t.Fatalf("preview JSON (%v, exit %d):\n%s", err, code, out)
	}
}

// --json is -o json, as gh spells it; with -o table it is a usage error.
func TestJSONFlag(t *testing.T) {
	addr := serve(t)
	out, errOut, code := ctl(t, "--addr", addr, "status", "--json")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "{") || !strings.Contains(out, `"health": "healthy"`) {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, `"health_reason": "last run succeeded"`) {
		t.Errorf("status JSON lacks health_reason:\n%s", out)
	}
	help, _, _ := ctl(t, "status", "--help")
	for _, w := range []string{"INITIALIZING  no run has succeeded yet", "WARNING       its last 1–2 runs failed", "ERROR         its last 3 or more", "DISABLED      paused"} {
		if !strings.Contains(help, w) {
			t.Errorf("status --help does not explain %q:\n%s", w, help)
		}
	}
	if _, errOut, code := ctl(t, "--addr", addr, "status", "--json", "-o", "table"); code != 2 || !strings.Contains(errOut, "--json and -o table disagree") {
		t.Fatalf("--json -o table: exit %d %s", code, errOut)
	}
}

func TestTables(t *testing.T) {
	addr := serve(t)
	out, _, code := ctl(t, "--addr", addr, "status", "-o", "table")
	if !strings.HasPrefix(out, "1 syncs: 1 HEALTHY\n") {
		t.Errorf("status table does not start with its summary line:\n%s", out)
	}
	if out, _, _ := ctl(t, "--addr", addr, "status", "-o", "table", "--health", "error"); !strings.Contains(out, "1 syncs: 1 HEALTHY; 0 match the filters") || !strings.Contains(out, "no sync matches the filters") {
		t.Errorf("status --health error with none in error:\n%s", out)
	}
	if _, errOut, code := ctl(t, "--addr", addr, "status", "--health", "bogus"); code != 2 || !strings.Contains(errOut, "give error, warning") {
		t.Errorf("status --health bogus: exit %d %s", code, errOut)
	}
	for _, want := range []string{"running page 2 (attempt 3)", "+120 ~4 =76 -1 !2", "rows: +created ~updated =unchanged -trashed !skipped",
		"retries page 2 after: helpdesk API: 503"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = ctl(t, "--addr", addr, "trigger", "ticketsDelta", "--preview", "-o", "table")
	if !strings.Contains(out, "Printer on fire") || !strings.Contains(out, "T-2  (tickets): delete") || strings.Contains(out, "null") {
		t.Errorf("preview table: want the create's properties and the delete named, no null:\n%s", out)
	}
	out, _, _ = ctl(t, "--addr", addr, "state", "get", "ticketsDelta", "-o", "table")
	if !strings.Contains(out, "ticketsDelta has no committed state") {
		t.Errorf("state get without state:\n%s", out)
	}
}

// ctl cancel takes a sync key (its active run) as well as a run id, and
// says so when the sync has no active run.
func TestCancelByKey(t *testing.T) {
	addr := serve(t)
	out, errOut, code := ctl(t, "--addr", addr, "cancel", "ticketsDelta", "-o", "table")
	if code != 0 || !strings.Contains(out, "ticketsDelta-20261124T101500-3f9a1c: cancelled") {
		t.Errorf("cancel KEY with an active run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = ctl(t, "--addr", addr, "cancel", "customersSync", "-o", "table")
	if code != 0 || !strings.Contains(out, "customersSync: no active run to cancel") {
		t.Errorf("cancel KEY without an active run: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = ctl(t, "--addr", addr, "cancel", "customersSync", "-o", "json")
	if !strings.Contains(out, `"result": "no active run"`) {
		t.Errorf("cancel KEY without an active run, JSON:\n%s", out)
	}
	out, errOut, code = ctl(t, "--addr", addr, "cancel", "ticketsBackfill-20261124T101500-3f9a1c", "-o", "table")
	if code != 0 || !strings.Contains(out, "ticketsBackfill-20261124T101500-3f9a1c: cancelled") {
		t.Errorf("cancel RUN: exit %d\n%s%s", code, out, errOut)
	}
}

func TestTerminalDetection(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	for name, f := range map[string]*os.File{"/dev/null": null, "a pipe": w} {
		if isTerminal(f) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is taken for a terminal")
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scheduler"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A TLS mismatch is one plain sentence that says which flag to change,
// not a gRPC handshake error.
func TestTLSMismatch(t *testing.T) {
	cert, caPEM := selfSigned(t)
	tlsAddr := serve(t, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	plainAddr := serve(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"plain ctl, TLS scheduler":    {[]string{"--addr", tlsAddr}, "pass --tls"},
		"TLS ctl, plain scheduler":    {[]string{"--addr", plainAddr, "--tls"}, "does not speak TLS: drop --tls"},
		"TLS ctl, untrusted cert":     {[]string{"--addr", tlsAddr, "--tls"}, "pass --tls-ca FILE"},
		"TLS ctl, name not in cert":   {[]string{"--addr", strings.Replace(tlsAddr, "127.0.0.1", "localhost", 1), "--tls-ca", ca}, "does not name localhost"},
		"TLS ctl with the CA (works)": {[]string{"--addr", tlsAddr, "--tls-ca", ca}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := ctl(t, append(tc.args, "status")...)
			t.Log(strings.TrimSpace(errOut))
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "rpc error") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, %q; want one line saying %q", code, errOut, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, code := ctl(t, "version", "-o", "table")
	if code != 0 || !strings.HasPrefix(out, "ctl ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %d %q", code, out)
	}
	out, _, _ = ctl(t, "--version")
	if !strings.Contains(out, "go1.") {
		t.Fatalf("--version: %q", out)
	}
}

// ctl new refuses what would go wrong later: a directory with files, the
// demo's worker name, a --synq that is no synq checkout.
func TestNewRefuses(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"non-empty directory": {[]string{"new", full}, "is not empty"},
		"the demo's name":     {[]string{"new", filepath.Join(t.TempDir(), "synq-demo")}, `worker name "synq-demo" is the demo of`},
		"bad --synq":          {[]string{"new", filepath.Join(t.TempDir(), "w"), "--synq", t.TempDir()}, "is not a synq checkout"},
		"bad worker name":     {[]string{"new", filepath.Join(t.TempDir(), "w"), "--worker", "my worker"}, `--worker "my worker"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := ctl(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// The scaffold is valid Go with the names given; that it builds, passes
// its test and syncs is the e2e test TestNewcomer.
func TestNewWritesTheModule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme-sync")
	out, errOut, code := ctl(t, "new", dir, "--no-tidy", "--module", "github.com/acme/acme-sync", "-o", "table")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	root, _ := filepath.Abs("../..")
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	worker, _ := os.ReadFile(filepath.Join(dir, "worker.go"))
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, c := range []struct{ file, text, want string }{
		{"go.mod", string(gomod), "module github.com/acme/acme-sync\n"},
		{"go.mod", string(gomod), "replace github.com/synqhq/synq => " + root + "\n"},
		{"worker.go", string(worker), `const WorkerName = "acme-sync"`},
		{"README.md", string(readme), "make dev WORKER=" + dir},
		{"output", out, `worker "acme-sync"`},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.file, c.want, c.text)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		t.Errorf("no go.sum seeded from synq's: %v", err)
	}
}

// A preview prints the counts first, then each changed row's changing
// properties as old → new trimmed to COLUMNS, upstream text escaped; its
// JSON has the same structure.
func TestPreviewOldNew(t *testing.T) {
	addr := serve(t)
	t.Setenv("COLUMNS", "80")
	out, errOut, code := ctl(t, "--addr", addr, "trigger", "ticketsDelta", "--preview", "-o", "table")
	if code != 0 {
		t.Fatalf("preview: exit %d %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != "1 created · 1 updated · 2 unchanged · 1 trashed" || lines[1] != "" || lines[2] == "" {
		t.Errorf("first line is not the counts, then one blank line and the rows: %q\n%s", lines[:3], out)
	}
	for _, want := range []string{"~ updated T-3  (tickets)\n    Notes: ", "    Status: open\\x1b]52;c;evil\\a → closed\n    Title: Printer on fire → Printer fixed\n",
		"+ created T-1  (tickets)\n    Title: Printer on fire\n", "- trashed T-2  (tickets): delete"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line of %d runes, wider than COLUMNS=80: %q", n, l)
		}
		if strings.HasPrefix(l, "    Notes: ") && (!strings.Contains(l, "ooo… → nnn") || !strings.HasSuffix(l, "…")) {
			t.Errorf("a long old → new is not trimmed on both sides: %q", l)
		}
	}
	if strings.Contains(out, "Owner") || strings.Contains(out, "T-4") || strings.Contains(out, "\x1b") {
		t.Errorf("preview lists an unchanged property or row, or a raw ESC:\n%s", out)
	}

	out, _, code = ctl(t, "--addr", addr, "trigger", "ticketsDelta", "--preview", "-o", "json")
	var pv struct {
		Counts  map[string]int `json:"counts"`
		Changes []struct {
			Key     string `json:"key"`
			Kind    string `json:"kind"`
			Changed []struct {
				Property, Old, New string
			} `json:"changed"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &pv); err != nil || code != 0 {
		t.Fatalf("preview JSON (%v, exit %d):\n%s", err, code, out)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), `{
  "counts": {`) || pv.Counts["created"] != 1 || pv.Counts["updated"] != 1 || pv.Counts["unchanged"] != 2 || pv.Counts["trashed"] != 1 || pv.Counts["skipped"] != 0 {
		t.Errorf("preview JSON counts: %v\n%s", pv.Counts, out)
	}
	up := pv.Changes[2]
	if up.Key != "T-3" || up.Kind != "update" || len(up.Changed) != 3 || up.Changed[2].Property != "Title" ||
		up.Changed[2].Old != "Printer on fire" || up.Changed[2].New != "Printer fixed" || up.Changed[1].Old != "open\x1b]52;c;evil\a" {
		t.Errorf("preview JSON changed properties: %+v\n%s", up, out)
	}
	if pv.Changes[0].Changed != nil {
		t.Errorf("a created row has changed properties: %+v", pv.Changes[0])
	}
}
