package redisconn_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/redisconn"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// openFails opens raw and checks the failure is an *Error of kind, one
// line that names REDIS_URL, says each of want, and shows no secret.
func openFails(t *testing.T, raw string, kind redisconn.Kind, want ...string) {
	t.Helper()
	c, err := redisconn.Open(context.Background(), raw)
	if err == nil {
		c.Close()
		t.Fatalf("Open(%s) succeeded", redisconn.Redact(raw))
	}
	var e *redisconn.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("Open(%s) = %v (%T), want an *Error of kind %d", redisconn.Redact(raw), err, err, kind)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	if !strings.HasPrefix(msg, "REDIS_URL=") || strings.Contains(msg, "\n") {
		t.Errorf("not one line that starts with REDIS_URL=: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not say %q", msg, w)
		}
	}
	for _, secret := range []string{"s3cret", "wrongpw", "sentpw"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message shows a password: %q", msg)
		}
	}
}

func TestOpenSingleRedis(t *testing.T) {
	r := redistest.Start(t)
	c, err := redisconn.Open(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNothingListening(t *testing.T) {
	r := redistest.Start(t)
	r.Stop()
	openFails(t, r.URL(), redisconn.Unreachable, "nothing answers at "+r.Addr(), "connection refused", "start Redis")
}

func TestOpenFrozenRedisTimesOut(t *testing.T) {
	r := redistest.Start(t)
	r.Freeze()
	defer r.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := redisconn.Open(ctx, r.URL())
	var e *redisconn.Error
	if !errors.As(err, &e) || e.Kind != redisconn.Unreachable || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("Open of a frozen Redis = %v", err)
	}
}

func TestOpenAuth(t *testing.T) {
	r := redistest.StartConfig(t, redistest.Config{Password: "s3cret"})
	t.Run("no password given", func(t *testing.T) {
		openFails(t, "redis://"+r.Addr()+"/0", redisconn.AuthRefused, "asks for a password and REDIS_URL gives none", "put it in REDIS_URL")
	})
	t.Run("wrong password", func(t *testing.T) {
		openFails(t, "redis://:wrongpw@"+r.Addr()+"/0", redisconn.AuthRefused, "refused the user name or password", "WRONGPASS", "fix them in REDIS_URL")
	})
	t.Run("right password", func(t *testing.T) {
		c, err := redisconn.Open(context.Background(), r.URL())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
}

func TestOpenRefusesReplicasAndSentinels(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelConfig{Sentinels: 1})
	openFails(t, s.Nodes()[1].URL(), redisconn.WrongRole, "read-only replica of 127.0.0.1:"+strconv.Itoa(s.Nodes()[0].Port()), "redis+sentinel://")
	openFails(t, "redis://"+s.SentinelAddrs()[0]+"/0", redisconn.WrongRole, "is a Sentinel", "redis+sentinel://"+s.SentinelAddrs()[0]+"/<master-name>")
	// A "Sentinel" that is a plain Redis.
	openFails(t, "redis+sentinel://"+s.Nodes()[0].Addr()+"/mymaster", redisconn.WrongRole, "is a Redis server, not a Sentinel", "redis://"+s.Nodes()[0].Addr())
}

func TestOpenSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelConfig{Password: "s3cret", SentinelPassword: "sentpw"})
	t.Run("works", func(t *testing.T) {
		c, err := redisconn.Open(context.Background(), s.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got := s.Master().Client().Get(context.Background(), "k").Val(); got != "v" {
			t.Fatalf("the write did not land on the master %s", s.Master().Addr())
		}
	})
	all := strings.Join(s.SentinelAddrs(), ",")
	const sp = "?sentinel_password=sentpw"
	t.Run("unknown master", func(t *testing.T) {
		openFails(t, "redis+sentinel://:s3cret@"+all+"/nosuch"+sp, redisconn.UnknownMaster,
			`monitor no master named "nosuch"`, `they monitor: "mymaster"`, "fix the master name")
	})
	t.Run("master refuses the password", func(t *testing.T) {
		openFails(t, "redis+sentinel://:wrongpw@"+all+"/mymaster"+sp, redisconn.AuthRefused,
			`master "mymaster" (at `+s.Master().Addr(), "refused the user name or password")
	})
	t.Run("no password for the master", func(t *testing.T) {
		openFails(t, "redis+sentinel://"+all+"/mymaster"+sp, redisconn.AuthRefused, "asks for a password")
	})
	t.Run("no password for the Sentinels", func(t *testing.T) {
		openFails(t, "redis+sentinel://:s3cret@"+all+"/mymaster", redisconn.AuthRefused,
			"the Sentinel at", "asks for a password", "?sentinel_password=")
	})
	t.Run("wrong password for the Sentinels", func(t *testing.T) {
		openFails(t, "redis+sentinel://:s3cret@"+all+"/mymaster?sentinel_password=wrongpw", redisconn.AuthRefused,
			"the Sentinel at", "refused", "?sentinel_password=")
	})
	t.Run("no Sentinel answers", func(t *testing.T) {
		dead := redistest.Start(t)
		dead.Stop()
		openFails(t, "redis+sentinel://"+dead.Addr()+"/mymaster", redisconn.NoSentinel,
			"no Sentinel answers at "+dead.Addr(), "connection refused", "start the Sentinels")
	})
	t.Run("one Sentinel of three is enough", func(t *testing.T) {
		dead := redistest.Start(t)
		dead.Stop()
		c, err := redisconn.Open(context.Background(), "redis+sentinel://:s3cret@"+dead.Addr()+","+s.SentinelAddrs()[2]+"/mymaster/3"+sp)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
}
