package e2e

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

const controlToken = "s3cret-control-token"

var addrRE = regexp.MustCompile(`control_addr=(\S+)`)

// scheduler starts a scheduler with a control token and returns its
// control address.
func (s *stack) scheduler() string {
	s.t.Helper()
	p := s.start("scheduler", "SYNQ_CONTROL_TOKEN="+controlToken)
	var addr string
	s.waitFor(20*time.Second, "the control API", func() bool {
		m := addrRE.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	if strings.Contains(p.out.String(), controlToken) {
		s.t.Fatalf("the scheduler logged its control token:\n%s", p.out.String())
	}
	return addr
}

func dial(t *testing.T, addr string) synqv1.ControlServiceClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return synqv1.NewControlServiceClient(conn)
}

func authed(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func code(err error) codes.Code { return status.Code(err) }

func TestControlService(t *testing.T) {
	s := newStack(t, "E2E_PAGES=4", "E2E_ROWS=3", "E2E_SLEEP=300ms")
	s.executor()
	addr := s.scheduler()
	c := dial(t, addr)
	ctx := authed(controlToken)

	// Auth.
	if _, err := c.ListSyncs(context.Background(), &synqv1.ListSyncsRequest{}); code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "SYNQ_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
	if _, err := c.ListSyncs(authed("wrong"), &synqv1.ListSyncsRequest{}); code(err) != codes.Unauthenticated {
		t.Fatalf("wrong token: %v", err)
	}
	conn, _ := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	if h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v %v", h, err)
	}

	list, err := c.ListSyncs(ctx, &synqv1.ListSyncsRequest{})
	if err != nil || len(list.Syncs) != 7 {
		t.Fatalf("ListSyncs = %v, %v", list, err)
	}
	if _, err := c.GetSync(ctx, &synqv1.GetSyncRequest{Key: "nope"}); code(err) != codes.NotFound || !strings.Contains(err.Error(), "pagesSync") {
		t.Fatalf("unknown sync: %v, want NotFound listing the known keys", err)
	}
	if _, err := c.GetSync(ctx, &synqv1.GetSyncRequest{Key: "no spaces"}); code(err) != codes.InvalidArgument {
		t.Fatalf("bad key: %v", err)
	}

	// Preview writes nothing. scheduledSync starts on its own with the
	// scheduler: let it finish so its writes are not counted.
	s.waitFor(30*time.Second, "scheduledSync's first run to end", func() bool {
		v, err := s.ops.View(ctx, "scheduledSync")
		return err == nil && v.ActiveRun == nil && v.LastRun != nil
	})
	before := s.emu.Stats().Writes
	pv, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "pagesSync", Preview: true, StateJson: `{"page":2}`})
	if err != nil {
		t.Fatal(err)
	}
	if p := pv.Preview; len(p.Changes) != 3 || p.Changes[0].Kind != synqv1.ChangeKind_CHANGE_KIND_CREATE || !p.HasMore || p.NextStateJson != `{"page":3}` || !strings.Contains(p.Changes[0].Key, "-002-") {
		t.Fatalf("preview = %v", p)
	}
	if after := s.emu.Stats().Writes; after != before {
		t.Fatalf("preview wrote to Notion: %d writes", after-before)
	}
	if st, _ := c.GetState(ctx, &synqv1.GetStateRequest{Key: "pagesSync"}); st.GetStateJson() != "" {
		t.Fatalf("preview changed the state: %v", st)
	}

	// Trigger, refuse a second, follow the logs to the end.
	tr, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "pagesSync"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "pagesSync"}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), tr.RunId) {
		t.Fatalf("second trigger: %v", err)
	}
	if _, err := c.ResetState(ctx, &synqv1.ResetStateRequest{Key: "pagesSync"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("reset during a run: %v", err)
	}
	stream, err := c.GetRunLogs(ctx, &synqv1.GetRunLogsRequest{RunId: tr.RunId, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	var last *synqv1.Run
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines += len(msg.Lines)
		last = msg.Run
	}
	if last.GetStatus() != synqv1.RunStatus_RUN_STATUS_SUCCEEDED || lines < 8 || last.Counters.GetCreated() != 12 {
		t.Fatalf("followed logs to %v with %d lines", last, lines)
	}

	// Runs, paginated.
	if _, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "noopSync"}); err != nil {
		t.Fatal(err)
	}
	p1, err := c.ListRuns(ctx, &synqv1.ListRunsRequest{PageSize: 1})
	if err != nil || len(p1.Runs) != 1 || p1.NextPageToken == "" {
		t.Fatalf("ListRuns page 1 = %v, %v", p1, err)
	}
	// Page by page, every run comes once: pagesSync's, noopSync's and
	// scheduledSync's.
	all, err := c.ListRuns(ctx, &synqv1.ListRunsRequest{})
	if err != nil || len(all.Runs) != 3 {
		t.Fatalf("ListRuns = %v, %v; want 3 runs", all, err)
	}
	seen := map[string]bool{p1.Runs[0].Id: true}
	for tok := p1.NextPageToken; tok != ""; {
		p, err := c.ListRuns(ctx, &synqv1.ListRunsRequest{PageSize: 1, PageToken: tok})
		if err != nil || len(p.Runs) != 1 || seen[p.Runs[0].Id] {
			t.Fatalf("ListRuns page after %d = %v, %v", len(seen), p, err)
		}
		seen[p.Runs[0].Id] = true
		tok = p.NextPageToken
	}
	if len(seen) != len(all.Runs) {
		t.Fatalf("paging saw %d runs of %d", len(seen), len(all.Runs))
	}
	if _, err := c.ListRuns(ctx, &synqv1.ListRunsRequest{PageToken: "x"}); code(err) != codes.InvalidArgument {
		t.Fatalf("bad page token: %v", err)
	}

	// Watch sees a pause; a paused sync refuses triggers; resume.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := c.WatchSyncs(wctx, &synqv1.WatchSyncsRequest{Keys: []string{"pagesSync"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.Syncs[0].Paused {
		t.Fatalf("first watch message: %v %v", first, err)
	}
	if _, err := c.PauseSync(ctx, &synqv1.PauseSyncRequest{Key: "pagesSync"}); err != nil {
		t.Fatal(err)
	}
	next, err := watch.Recv()
	if err != nil || !next.Syncs[0].Paused || next.Syncs[0].Health != synqv1.Health_HEALTH_DISABLED {
		t.Fatalf("watch after pause: %v %v", next, err)
	}
	if _, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "pagesSync"}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("trigger while paused: %v", err)
	}
	if r, err := c.ResumeSync(ctx, &synqv1.ResumeSyncRequest{Key: "pagesSync"}); err != nil || r.Sync.Paused {
		t.Fatalf("resume: %v %v", r, err)
	}

	// State and cancel.
	if _, err := c.ResetState(ctx, &synqv1.ResetStateRequest{Key: "pagesSync"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelRun(ctx, &synqv1.CancelRunRequest{RunId: "pagesSync-20200101T000000-000000"}); code(err) != codes.NotFound {
		t.Fatalf("cancel unknown run: %v", err)
	}
	if _, err := c.CancelRun(ctx, &synqv1.CancelRunRequest{RunId: tr.RunId}); code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel a finished run: %v", err)
	}
	long, err := c.TriggerSync(ctx, &synqv1.TriggerSyncRequest{Key: "pagesSync"})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c.CancelRun(ctx, &synqv1.CancelRunRequest{RunId: long.RunId})
	if err != nil || cr.Run.Status != synqv1.RunStatus_RUN_STATUS_CANCELLED {
		t.Fatalf("cancel: %v %v", cr, err)
	}
	time.Sleep(time.Second)
	if r := s.waitRun(long.RunId, 10*time.Second); r.Counters["pages"] > 2 {
		t.Fatalf("a cancelled run went on: %+v", r)
	}
}
