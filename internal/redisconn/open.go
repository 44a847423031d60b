package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// OpenTimeoutDefault bounds Open's checks when ctx has no deadline.
const OpenTimeoutDefault = 5 * time.Second

// Open parses REDIS_URL, connects, and checks that a writable Redis
// answers: the master a Sentinel names, with the credentials REDIS_URL
// gives. Its errors are an *Error: one line naming REDIS_URL, the problem
// and the fix.
func Open(ctx context.Context, raw string) (*redis.Client, error) {
	t, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return t.Open(ctx)
}

// Open connects to the target and checks it as the package's Open does.
func (t *Target) Open(ctx context.Context) (*redis.Client, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, OpenTimeoutDefault)
		defer cancel()
	}
	master := ""
	if t.Failover != nil {
		var err error
		if master, err = t.askSentinels(ctx); err != nil {
			return nil, err
		}
	}
	c := t.NewClient()
	// go-redis applies a context's deadline to the socket only with
	// ContextTimeoutEnabled: a frozen server would hold the check for its
	// read timeouts and retries. The check gives up at ctx's deadline.
	checked := make(chan error, 1)
	go func() { checked <- t.checkServer(ctx, c, master) }()
	select {
	case err := <-checked:
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		go func() { <-checked; _ = c.Close() }()
		where := t.Where()
		if master != "" {
			where = master
		}
		return nil, t.fail(Unreachable, ctx.Err(), fmt.Sprintf("nothing answers at %s (no answer in time)", where),
			"check that Redis is running and not overloaded, or point REDIS_URL at a running one")
	}
}

func (t *Target) fail(kind Kind, err error, problem, fix string) *Error {
	return &Error{Kind: kind, URL: t.redacted, Problem: problem, Fix: fix, Err: err}
}

// checkServer pings the Redis the client writes to, and makes sure it is a
// master: a redis:// URL that names a Sentinel or a replica would work
// until the first write.
func (t *Target) checkServer(ctx context.Context, c *redis.Client, master string) error {
	where := t.Where()
	if master != "" {
		where = fmt.Sprintf("master %q (at %s, as the Sentinels say)", t.Failover.MasterName, master)
	}
	err := c.Ping(ctx).Err()
	switch {
	case err == nil:
	case isAuth(err):
		return t.authError(err, "Redis "+where, t.credsExample())
	case IsUnreachable(err):
		fix := "start Redis there or point REDIS_URL at a running one"
		if master != "" {
			fix = "the Sentinels may be failing over or know a stale address: check them with redis-cli -p <port> SENTINEL MASTERS"
		}
		return t.fail(Unreachable, err, fmt.Sprintf("nothing answers at %s (%s)", where, cause(err)), fix)
	default:
		return t.fail(Failed, err, fmt.Sprintf("Redis at %s answered %q", where, cause(err)), "fix the server or REDIS_URL")
	}
	role, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 {
		// ACLs may deny ROLE; the ping was enough.
		return nil
	}
	switch r, _ := role[0].(string); r {
	case "sentinel":
		return t.fail(WrongRole, nil, fmt.Sprintf("%s is a Sentinel, not a Redis that holds data", where),
			fmt.Sprintf("use the Sentinel form, redis+sentinel://%s/<master-name>", where))
	case "slave", "replica":
		of := ""
		if len(role) >= 3 {
			of = fmt.Sprintf(" of %v:%v", role[1], role[2])
		}
		return t.fail(WrongRole, nil, fmt.Sprintf("%s is a read-only replica%s", where, of),
			"point REDIS_URL at the master, or use redis+sentinel:// so that synq follows failovers")
	}
	return nil
}

// authError says what the server said about the credentials; example
// shows where they go in REDIS_URL.
func (t *Target) authError(err error, who, example string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "NOAUTH"):
		return t.fail(AuthRefused, err, fmt.Sprintf("%s asks for a password and REDIS_URL gives none", who),
			"put it in REDIS_URL: "+example)
	case strings.Contains(msg, "without any password configured"):
		return t.fail(AuthRefused, err, fmt.Sprintf("%s has no password but REDIS_URL gives one", who),
			"remove it from REDIS_URL or set one on the server")
	default:
		return t.fail(AuthRefused, err, fmt.Sprintf("%s refused the user name or password (%s)", who, cause(err)),
			"fix them in REDIS_URL: "+example)
	}
}

// credsExample shows where the credentials of the Redis that holds the
// data go.
func (t *Target) credsExample() string {
	if t.Failover != nil {
		return fmt.Sprintf("redis+sentinel://[user]:PASSWORD@%s/%s", strings.Join(t.Failover.SentinelAddrs, ","), t.Failover.MasterName)
	}
	return fmt.Sprintf("redis://[user]:PASSWORD@%s/%d", t.Options.Addr, t.Options.DB)
}

// sentinelAnswer is one Sentinel's reply to GET-MASTER-ADDR-BY-NAME.
type sentinelAnswer struct {
	addr   string
	master string
	err    error
	known  []string
}

// askSentinels asks every Sentinel where the master is, so that an unknown
// master name, refused credentials or a dead Sentinel set are told apart
// (go-redis reports all of them as "all sentinels are unreachable").
func (t *Target) askSentinels(ctx context.Context) (string, error) {
	fo := t.Failover
	answers := make([]sentinelAnswer, len(fo.SentinelAddrs))
	var wg sync.WaitGroup
	for i, addr := range fo.SentinelAddrs {
		wg.Go(func() {
			sc := redis.NewSentinelClient(&redis.Options{
				Addr: addr, Username: fo.SentinelUsername, Password: fo.SentinelPassword,
				TLSConfig: fo.TLSConfig, DialTimeout: fo.DialTimeout, MaxRetries: -1, ContextTimeoutEnabled: true,
			})
			defer sc.Close()
			a := sentinelAnswer{addr: addr}
			hp, err := sc.GetMasterAddrByName(ctx, fo.MasterName).Result()
			switch {
			case err == nil && len(hp) == 2:
				a.master = hp[0] + ":" + hp[1]
			case errors.Is(err, redis.Nil):
				a.err = err
				for _, m := range sc.Masters(ctx).Val() {
					if name := masterName(m); name != "" {
						a.known = append(a.known, name)
					}
				}
			default:
				a.err = err
			}
			answers[i] = a
		})
	}
	wg.Wait()
	var unknown, auth, plain, other *sentinelAnswer
	for i := range answers {
		a := &answers[i]
		switch {
		case a.master != "":
			return a.master, nil
		case errors.Is(a.err, redis.Nil):
			unknown = a
		case isAuth(a.err):
			auth = a
		case redis.HasErrorPrefix(a.err, "ERR unknown command") || redis.HasErrorPrefix(a.err, "unknown command"):
			plain = a
		case !IsUnreachable(a.err):
			other = a
		}
	}
	all := strings.Join(fo.SentinelAddrs, ",")
	switch {
	case unknown != nil:
		known := "none"
		if len(unknown.known) > 0 {
			known = `"` + strings.Join(unknown.known, `", "`) + `"`
		}
		return "", t.fail(UnknownMaster, unknown.err,
			fmt.Sprintf("the Sentinels at %s monitor no master named %q (they monitor: %s)", all, fo.MasterName, known),
			"fix the master name in REDIS_URL (redis+sentinel://host:port/<master-name>)")
	case auth != nil:
		return "", t.authError(auth.err, "the Sentinel at "+auth.addr,
			fmt.Sprintf("redis+sentinel://…/%s?sentinel_password=PASSWORD (the password before the hosts is the master's)", fo.MasterName))
	case plain != nil:
		return "", t.fail(WrongRole, plain.err, fmt.Sprintf("%s is a Redis server, not a Sentinel", plain.addr),
			fmt.Sprintf("list the Sentinels' addresses, or use redis://%s/<db> for a single Redis", plain.addr))
	case other != nil:
		return "", t.fail(Failed, other.err, fmt.Sprintf("the Sentinel at %s answered %q", other.addr, cause(other.err)), "fix the Sentinel or REDIS_URL")
	}
	return "", t.fail(NoSentinel, answers[0].err, fmt.Sprintf("no Sentinel answers at %s (%s)", all, cause(answers[0].err)),
		"start the Sentinels or fix their addresses in REDIS_URL")
}

func masterName(m any) string {
	switch v := m.(type) {
	case map[any]any: // RESP3
		s, _ := v["name"].(string)
		return s
	case map[string]any:
		s, _ := v["name"].(string)
		return s
	case []any: // RESP2: name, value, name, value…
		for i := 0; i+1 < len(v); i += 2 {
			if k, _ := v[i].(string); k == "name" {
				s, _ := v[i+1].(string)
				return s
			}
		}
	}
	return ""
}

var quietOnce sync.Once

// quietDriver sends go-redis's own log lines (one per failed Sentinel
// query, per failed dial of a pool…) to slog at debug level: the Monitor
// says once that Redis is unreachable, and start-up failures are one line.
func quietDriver() {
	quietOnce.Do(func() { redis.SetLogger(driverLogger{}) })
}

type driverLogger struct{}

func (driverLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
