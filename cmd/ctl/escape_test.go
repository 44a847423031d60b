package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// hostile is upstream text as an attacker would shape it: clear the
// screen, plant a link (OSC 8), write the clipboard (OSC 52), move the
// cursor back over what was printed, and an 8-bit CSI.
const hostile = "boom\x1b[2J\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\x1b]52;c;ZXZpbA==\x07\rfake\u009b31m\x7f"

// hostileControl serves that text as a last error, a run's error, a log
// message and attribute, and a preview's properties.
type hostileControl struct{ fakeControl }

func (hostileControl) ListSyncs(context.Context, *synqv1.ListSyncsRequest) (*synqv1.ListSyncsResponse, error) {
	return &synqv1.ListSyncsResponse{Syncs: []*synqv1.Sync{{Key: "ticketsDelta", Worker: "synq-demo", Declared: true,
		ActiveRun: &synqv1.Run{Id: "ticketsDelta-20261124T101500-3f9a1c", Status: synqv1.RunStatus_RUN_STATUS_RUNNING, LastError: hostile}}}}, nil
}

func (hostileControl) ListRuns(context.Context, *synqv1.ListRunsRequest) (*synqv1.ListRunsResponse, error) {
	return &synqv1.ListRunsResponse{Runs: []*synqv1.Run{{Id: "ticketsDelta-20261124T101500-3f9a1c", SyncKey: "ticketsDelta",
		Status: synqv1.RunStatus_RUN_STATUS_FAILED, Error: hostile}}}, nil
}

func (hostileControl) GetRunLogs(_ *synqv1.GetRunLogsRequest, s grpc.ServerStreamingServer[synqv1.GetRunLogsResponse]) error {
	return s.Send(&synqv1.GetRunLogsResponse{Lines: []*synqv1.LogLine{{Time: timestamppb.New(time.Now()), Level: "WARN", Source: "user",
		Message: hostile, Attrs: map[string]string{"body" + hostile: hostile}}}})
}

func (hostileControl) TriggerSync(context.Context, *synqv1.TriggerSyncRequest) (*synqv1.TriggerSyncResponse, error) {
	return &synqv1.TriggerSyncResponse{Preview: &synqv1.Preview{Changes: []*synqv1.PreviewChange{
		{Key: "T-1" + hostile, Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_CREATE, PropertiesJson: `{"Title":"` + strings.ReplaceAll(hostile, "\x1b", `\u001b`) + `"}`},
		{Key: "T-2", Database: "tickets", Kind: synqv1.ChangeKind_CHANGE_KIND_TRASH, Message: hostile}}}}, nil
}

func serveHostile(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	synqv1.RegisterControlServiceServer(s, hostileControl{})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// Nothing an upstream wrote reaches the terminal as a control character:
// not in tables, log lines, errors or JSON.
func TestControlCharactersEscaped(t *testing.T) {
	addr := serveHostile(t)
	for _, args := range [][]string{
		{"status", "-o", "table"}, {"runs", "list", "-o", "table"}, {"runs", "list", "--plain"},
		{"runs", "logs", "ticketsDelta-20261124T101500-3f9a1c", "-o", "table"},
		{"runs", "logs", "ticketsDelta-20261124T101500-3f9a1c", "-o", "json"},
		{"trigger", "ticketsDelta", "--preview", "-o", "table"}, {"trigger", "ticketsDelta", "--preview", "-o", "json"},
		{"status", "-o", "json"},
	} {
		out, errOut, _ := ctl(t, append([]string{"--addr", addr}, args...)...)
		for _, s := range []string{out, errOut} {
			if i := strings.IndexFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) }); i >= 0 {
				t.Errorf("ctl %s printed control character %U:\n%q", strings.Join(args, " "), []rune(s[i:])[0], s)
			}
		}
		if !strings.Contains(out+errOut, "boom") {
			t.Errorf("ctl %s lost the text around the escapes:\n%s", strings.Join(args, " "), out+errOut)
		}
	}
	out, _, _ := ctl(t, "--addr", addr, "runs", "logs", "ticketsDelta-20261124T101500-3f9a1c", "-o", "table")
	if !strings.Contains(out, `boom\x1b[2J\x1b]8;;https://evil.example/`) || !strings.Contains(out, `\a\rfake\u009b31m\x7f`) {
		t.Errorf("escapes are not shown as Go escapes:\n%s", out)
	}
}
