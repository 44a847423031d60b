package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelConfig shapes a Sentinel topology. Zero values are a master, one
// replica and three Sentinels that fail over within a few seconds.
type SentinelConfig struct {
	// MasterName is what the Sentinels call the master (default "mymaster").
	MasterName string
	// Replicas is how many replicas follow the master (default 1; -1 for
	// none).
	Replicas int
	// Sentinels is how many Sentinels watch it (default 3); the quorum is
	// a majority.
	Sentinels int
	// Password, when set, is required by the master and replicas (the
	// Sentinels know it).
	Password string
	// SentinelPassword, when set, is required by the Sentinels.
	SentinelPassword string
	// DownAfter is how long the master must be silent before a Sentinel
	// deems it down (default 1s); FailoverTimeout bounds a failover
	// attempt (default 3s).
	DownAfter, FailoverTimeout time.Duration
}

// Sentinel is a master, its replicas and the Sentinels watching them, each
// a redis-server process on a free loopback port, stopped when the test
// ends. Debian's redis-server package is enough: a Sentinel is
// `redis-server sentinel.conf --sentinel`.
type Sentinel struct {
	tb        testing.TB
	cfg       SentinelConfig
	nodes     []*Server // master first, then replicas
	sentinels []*Server

	mu     sync.Mutex
	master *Server // the node the Sentinels last named master
}

// StartSentinel starts a Sentinel topology and waits until it can fail
// over: the replicas are in sync and every Sentinel knows the replicas and
// the other Sentinels.
func StartSentinel(tb testing.TB, cfg SentinelConfig) *Sentinel {
	tb.Helper()
	if cfg.MasterName == "" {
		cfg.MasterName = "mymaster"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 0 {
		cfg.Replicas = 0
	}
	if cfg.Sentinels <= 0 {
		cfg.Sentinels = 3
	}
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = 3 * time.Second
	}
	s := &Sentinel{tb: tb, cfg: cfg}
	master := StartConfig(tb, Config{Password: cfg.Password})
	s.nodes = append(s.nodes, master)
	s.master = master
	for range cfg.Replicas {
		s.nodes = append(s.nodes, StartConfig(tb, Config{Password: cfg.Password,
			Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.port)}}))
	}
	// Replicas in sync before the Sentinels start: a Sentinel learns the
	// replicas from the master's INFO, which it asks for at once and then
	// only every ten seconds.
	s.waitFor(20*time.Second, "the replicas to sync", func() (bool, string) {
		c := redis.NewClient(&redis.Options{Addr: master.Addr(), Password: cfg.Password})
		info, err := c.Info(context.Background(), "replication").Result()
		c.Close()
		if err != nil {
			return false, err.Error()
		}
		n := strings.Count(info, "state=online")
		return n == cfg.Replicas, fmt.Sprintf("%d of %d replicas online", n, cfg.Replicas)
	})
	quorum := cfg.Sentinels/2 + 1
	for range cfg.Sentinels {
		sn := &Server{sentinel: true, password: cfg.SentinelPassword}
		s.sentinels = append(s.sentinels, start(tb, sn, func(port int) error {
			lines := []string{
				"port " + strconv.Itoa(port),
				"bind 127.0.0.1",
				"protected-mode no",
				"daemonize no",
				"dir " + sn.dir,
				"logfile " + filepath.Join(sn.dir, "sentinel.log"),
				"loglevel notice",
				fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", cfg.MasterName, master.port, quorum),
				fmt.Sprintf("sentinel down-after-milliseconds %s %d", cfg.MasterName, cfg.DownAfter.Milliseconds()),
				fmt.Sprintf("sentinel failover-timeout %s %d", cfg.MasterName, cfg.FailoverTimeout.Milliseconds()),
				fmt.Sprintf("sentinel parallel-syncs %s 1", cfg.MasterName),
			}
			if cfg.Password != "" {
				lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", cfg.MasterName, cfg.Password))
			}
			if cfg.SentinelPassword != "" {
				// Sentinels talk to each other with the same password.
				lines = append(lines, "requirepass "+cfg.SentinelPassword, "sentinel sentinel-pass "+cfg.SentinelPassword)
			}
			conf := filepath.Join(sn.dir, "sentinel.conf")
			sn.args = []string{conf}
			return os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		}))
	}
	s.waitFor(30*time.Second, "the Sentinels to know each other and the replicas", func() (bool, string) {
		for _, sn := range s.sentinels {
			c := sn.sentinelClient()
			others, err := c.Sentinels(context.Background(), cfg.MasterName).Result()
			if err != nil {
				c.Close()
				return false, err.Error()
			}
			replicas, err := c.Replicas(context.Background(), cfg.MasterName).Result()
			c.Close()
			if err != nil {
				return false, err.Error()
			}
			if len(others) != cfg.Sentinels-1 || len(replicas) != cfg.Replicas {
				return false, fmt.Sprintf("Sentinel %s knows %d Sentinels and %d replicas", sn.Addr(), len(others), len(replicas))
			}
		}
		return true, ""
	})
	tb.Cleanup(func() {
		if tb.Failed() {
			s.dumpLogs()
		}
	})
	return s
}

func (s *Sentinel) waitFor(d time.Duration, what string, cond func() (bool, string)) {
	s.tb.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.dumpLogs()
			s.tb.Fatalf("redistest: timed out after %v waiting for %s (%s)", d, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Sentinel) dumpLogs() {
	for _, sn := range slices.Concat(s.nodes, s.sentinels) {
		b, _ := os.ReadFile(sn.logPath())
		s.tb.Logf("--- %s (%s):\n%s", sn.Addr(), filepath.Base(sn.logPath()), b)
	}
}

// sentinelClient is a short-lived client for one Sentinel: close it.
func (sn *Server) sentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), Password: sn.password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
}

// role asks a data node for its role ("master", "slave").
func (s *Server) role() (string, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	r, err := c.Do(context.Background(), "ROLE").Slice()
	if err != nil || len(r) == 0 {
		return "", fmt.Errorf("ROLE: %v %v", r, err)
	}
	name, _ := r[0].(string)
	return name, nil
}

// MasterName is the name the Sentinels know the master by.
func (s *Sentinel) MasterName() string { return s.cfg.MasterName }

// SentinelAddrs are the Sentinels' host:port.
func (s *Sentinel) SentinelAddrs() []string {
	var out []string
	for _, sn := range s.sentinels {
		out = append(out, sn.Addr())
	}
	return out
}

// Sentinels are the Sentinel processes (to stop one, say).
func (s *Sentinel) Sentinels() []*Server { return s.sentinels }

// Nodes are the data nodes: the first master, then the replicas.
func (s *Sentinel) Nodes() []*Server { return s.nodes }

// URL is the topology's REDIS_URL in the Sentinel form, database 0.
func (s *Sentinel) URL() string {
	creds := ""
	if s.cfg.Password != "" {
		creds = ":" + url.PathEscape(s.cfg.Password) + "@"
	}
	q := ""
	if s.cfg.SentinelPassword != "" {
		q = "?sentinel_password=" + url.QueryEscape(s.cfg.SentinelPassword)
	}
	return "redis+sentinel://" + creds + strings.Join(s.SentinelAddrs(), ",") + "/" + s.cfg.MasterName + "/0" + q
}

// Client returns a go-redis failover client for the topology, closed at
// cleanup.
func (s *Sentinel) Client() *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.cfg.MasterName, SentinelAddrs: s.SentinelAddrs(), Password: s.cfg.Password, SentinelPassword: s.cfg.SentinelPassword,
	})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Master is the data node the Sentinels named master last (StartSentinel's
// or WaitFailover's).
func (s *Sentinel) Master() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// KillMaster kills the current master with kill -9 (its data is gone with
// it) and returns it. WaitFailover waits for the Sentinels to promote a
// replica.
func (s *Sentinel) KillMaster() *Server {
	m := s.Master()
	m.Stop()
	return m
}

// WaitFailover waits until every live Sentinel names a master other than
// old and that node answers as a master, and returns it.
func (s *Sentinel) WaitFailover(old *Server, d time.Duration) *Server {
	s.tb.Helper()
	var next *Server
	s.waitFor(d, "the Sentinels to fail over from "+old.Addr(), func() (bool, string) {
		agreed := ""
		for _, sn := range s.sentinels {
			if !sn.running() {
				continue
			}
			c := sn.sentinelClient()
			hp, err := c.GetMasterAddrByName(context.Background(), s.cfg.MasterName).Result()
			c.Close()
			if err != nil {
				return false, err.Error()
			}
			addr := hp[0] + ":" + hp[1]
			if addr == old.Addr() {
				return false, "Sentinel " + sn.Addr() + " still names " + addr
			}
			if agreed != "" && addr != agreed {
				return false, "Sentinels name " + agreed + " and " + addr
			}
			agreed = addr
		}
		for _, n := range s.nodes {
			if n.Addr() != agreed {
				continue
			}
			if role, err := n.role(); role != "master" {
				return false, fmt.Sprintf("%s is not a master yet (%s %v)", agreed, role, err)
			}
			next = n
			return true, ""
		}
		return false, "the Sentinels name " + agreed + ", which is none of the nodes"
	})
	s.mu.Lock()
	s.master = next
	s.mu.Unlock()
	return next
}

// WaitReplicated waits until every replica of the current master has
// everything written to it so far (WAIT), so that a failover loses
// nothing.
func (s *Sentinel) WaitReplicated(d time.Duration) {
	s.tb.Helper()
	m := s.Master()
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), Password: m.password})
	defer c.Close()
	ctx := context.Background()
	// WAIT counts the writes of this connection: write something first so
	// that everything before it is covered.
	pipe := c.Pipeline()
	pipe.Set(ctx, "redistest:replicated", time.Now().UnixNano(), 0)
	wait := pipe.Do(ctx, "WAIT", s.cfg.Replicas, d.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		s.tb.Fatalf("redistest: WAIT on %s: %v", m.Addr(), err)
	}
	if n, _ := wait.Int(); n < s.cfg.Replicas {
		s.tb.Fatalf("redistest: %d of %d replicas acknowledged the writes within %v", n, s.cfg.Replicas, d)
	}
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}
