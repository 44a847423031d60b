package control_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/testutil/redistest"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A scheduler's log is not a line per `ctl status`: calls that went as
// asked, or failed on the caller's mistake, are logged at debug; a refused
// token at warn.
func TestCallsLogAtDebug(t *testing.T) {
	r := redistest.Start(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	op, err := ops.New(ops.Config{Redis: r.Client(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, control.Config{Ops: op, Token: "tok", Logger: log})
	authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer tok")
	if _, err := c.ListSyncs(authed, &synqv1.ListSyncsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSync(authed, &synqv1.GetSyncRequest{Key: "nope"}); err == nil {
		t.Fatal("GetSync of an unknown sync succeeded")
	}
	if _, err := c.ListSyncs(context.Background(), &synqv1.ListSyncsRequest{}); err == nil {
		t.Fatal("a call without the token succeeded")
	}
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "grpc.method=") {
			calls = append(calls, l)
		}
	}
	if len(calls) != 3 {
		t.Fatalf("want 3 call lines, got:\n%s", logs.String())
	}
	for i, want := range []string{"level=DEBUG", "level=DEBUG", "level=WARN"} {
		if !strings.Contains(calls[i], want) {
			t.Errorf("call %d: %s; want %s", i, calls[i], want)
		}
	}
}

// serve runs a control service with cfg on a loopback port until the test
// ends and returns a client of it.
func serve(t *testing.T, cfg control.Config) synqv1.ControlServiceClient {
	t.Helper()
	svc, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := svc.NewGRPCServer()
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return synqv1.NewControlServiceClient(conn)
}
