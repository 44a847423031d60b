package redistest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

func TestStopSavingKeepsTheData(t *testing.T) {
	s := Start(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.StopSaving()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping succeeded after StopSaving")
	}
	s.Relaunch()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after StopSaving and Relaunch: %q, %v; want the key back", got, err)
	}
	// Stop discards what was saved.
	s.Restart()
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("a key survived Stop and Restart")
	}
}

func TestFreezeKeepsDataAndConnections(t *testing.T) {
	s := StartConfig(t, Config{Password: "s3cret/@"})
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "s3cret/@", ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Freeze()
	err := c.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ping of a frozen server: %v; want a timeout", err)
	}
	s.Thaw()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after Thaw: %q, %v", got, err)
	}
	s.Pause(300 * time.Millisecond)
	time.Sleep(600 * time.Millisecond)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after a Pause ended: %v", err)
	}
	if _, err := redis.ParseURL(s.URL()); err != nil {
		t.Fatalf("URL with a password: %v", err)
	}
}

// A killed master is replaced by its replica, and a failover client
// follows: what was written before is there, and writes land on the new
// master.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t, SentinelConfig{})
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.WaitReplicated(2 * time.Second)
	old := s.KillMaster()
	began := time.Now()
	next := s.WaitFailover(old, 30*time.Second)
	t.Logf("failover took %v", time.Since(began))
	if next == old || s.Master() != next {
		t.Fatal("WaitFailover returned the old master")
	}
	if got, err := c.Get(ctx, "before").Result(); err != nil || got != "1" {
		t.Fatalf("after failover: %q, %v", got, err)
	}
	if err := c.Set(ctx, "after", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := next.Client().Get(ctx, "after").Val(); got != "2" {
		t.Fatalf("the write after failover is not on the new master %s", next.Addr())
	}
	if !strings.HasPrefix(s.URL(), "redis+sentinel://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/mymaster/0") {
		t.Fatalf("URL = %s", s.URL())
	}
}
