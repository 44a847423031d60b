package redistest

import (
	"context"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping succeeded after Stop; want an error")
	}
	s.Restart()
	if got, err := c.Get(ctx, "k").Result(); err == nil {
		t.Fatalf("key survived a restart without persistence: %q", got)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}

func TestTwoServersAreIsolated(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ctx := context.Background()
	a.Client().Set(ctx, "only-a", "1", 0)
	if n := b.Client().Exists(ctx, "only-a").Val(); n != 0 {
		t.Fatal("key written to a is visible in b")
	}
}
