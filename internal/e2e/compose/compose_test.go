package compose

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
)

// The failure scenarios' data set: tickets in pages of 100 (the demo's
// page size), written at a Notion pace that makes a page last seconds, so
// that "mid-page" is a state a test can wait for, not a race.
const (
	failTickets   = 300
	failRateLimit = "600" // Notion requests a minute, for every executor together
	ticketsDB     = "Tickets"
	ticketKey     = "Ticket ID"
	backfill      = "ticketsBackfill"
)

// failOverride is what the failure scenarios change in the compose file:
// Redis published (the test reads runs and executors there), a fixed demo
// data set (no changes on their own), fast health checks, and executors
// that report what they hold every second.
var failOverride = fmt.Sprintf(`
services:
  redis:
    ports: ["127.0.0.1::6379"]
    healthcheck: {interval: 1s}
  notion-emulator:
    healthcheck: {interval: 1s}
  helpdesk:
    command: ["/usr/local/bin/helpdesk", "--addr=0.0.0.0:7080", "--tickets=%d", "--customers=20", "--change-rate=0", "--rate-limit=-1"]
    healthcheck: {interval: 1s}
  scheduler:
    healthcheck: {interval: 2s}
  executor:
    environment:
      SYNQ_MANIFEST_INTERVAL: 1s
    healthcheck: {interval: 2s}
`, failTickets)

// TestComposeDevStack is a newcomer's `docker compose up` with nothing set:
// the demo's rows appear, the console answers, ctl works from the host and
// inside the scheduler's container; then three executors and a backfill
// followed from the host; then down and down -v leave nothing behind.
func TestComposeDevStack(t *testing.T) {
	t.Parallel()
	// Unpaced against the emulator, so that the whole demo is written
	// within the test's budget (the default, 180 a minute, is Notion's).
	p := newProject(t, "", "SYNQ_NOTION_RATE_LIMIT=0")
	start := time.Now()
	p.compose("up", "-d", "--wait")
	upTook := time.Since(start)
	var first time.Duration
	waitFor(t, 3*time.Minute, "the demo's first ticket rows", func() bool {
		n, _, _ := p.rows(ticketsDB, ticketKey)
		return n > 0
	})
	first = time.Since(start)
	t.Logf("docker compose up -d --wait took %v; first ticket rows %v after up started", upTook.Round(time.Millisecond), first.Round(time.Millisecond))

	// The console: published on 127.0.0.1, listening beyond loopback
	// inside the container; with the dev token it shows its login form.
	code, body, err := httpGet("http://" + p.addr("scheduler", 7078, 1) + "/")
	if err != nil || code != 200 || !strings.Contains(strings.ToLower(body), "token") {
		t.Fatalf("console: %d %v %.200q, want 200 and the login form", code, err, body)
	}
	// ctl from the host, with the dev token the README gives.
	waitFor(t, 3*time.Minute, "ctl status: the demo's scheduled syncs healthy", func() bool {
		var st struct {
			Syncs []struct {
				Key, Health string
			} `json:"syncs"`
		}
		if err := p.ctlJSON(1, &st, "status", "--no-watch"); err != nil {
			t.Log(err)
			return false
		}
		healthy := 0
		for _, s := range st.Syncs {
			if strings.EqualFold(s.Health, "healthy") {
				healthy++
			}
		}
		return healthy >= 5
	})
	// And inside the scheduler's container, as the README says.
	if out := p.compose("exec", "-T", "scheduler", "ctl", "status", "--no-watch"); !strings.Contains(out, "ticketsDelta") {
		t.Fatalf("docker compose exec scheduler ctl status:\n%s", out)
	}

	// Three executors, then a backfill followed from the host.
	p.compose("up", "-d", "--wait", "--scale", "executor=3")
	if n := len(p.containers("executor")); n != 3 {
		t.Fatalf("%d executor containers after --scale executor=3", n)
	}
	// A crashed executor comes back (restart: unless-stopped). The
	// process dies of SIGKILL from the host: Docker counts that as a
	// crash (`docker kill` would count as stopped by you).
	p.crashAndRestart(p.containers("executor")[0])

	start = time.Now()
	out, err := p.ctl(1, "trigger", backfill, "--follow")
	if err != nil {
		t.Fatalf("ctl trigger %s --follow: %v\n%s", backfill, err, out)
	}
	n, dups, _ := p.rows(ticketsDB, ticketKey)
	t.Logf("ctl trigger %s --follow: ended in %v; %d ticket rows, %d duplicated keys", backfill, time.Since(start).Round(time.Millisecond), n, len(dups))
	// The demo API changes on its own (new tickets, deletions): the count
	// moves, a key is never twice.
	if n < 500 || len(dups) > 0 {
		t.Fatalf("%d ticket rows, duplicated keys %v: want at least the 500 tickets, each once", n, dups)
	}

	// Your own worker beside the stack: a `ctl new` scaffold, built on
	// the host (make images-offline-worker), added by compose.worker.yml
	// without editing docker-compose.yml.
	p.ownWorker()

	// down keeps the volumes, down -v removes them; neither leaves a
	// container or a network.
	p.compose("down", "-t", "5")
	p.assertGone(false)
	p.compose("down", "-v")
	p.assertGone(true)
}

// ownWorker scaffolds a worker with ctl new, builds its image offline and
// runs it with compose.worker.yml: its articles reach the emulator once.
func (p *project) ownWorker() {
	t := p.t
	t.Helper()
	dir := filepath.Join(t.TempDir(), "my-worker")
	if out, err := exec.Command(ctlBin, "new", dir, "--synq", repoRoot()).CombinedOutput(); err != nil {
		t.Fatalf("ctl new: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".dockerignore")); err != nil {
		t.Errorf("ctl new wrote no .dockerignore: %v", err)
	}
	image := "synq-worker:" + strings.TrimPrefix(images.synq, "synq:")
	cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "offline", "images.sh"), "worker", dir)
	cmd.Env = append(os.Environ(), "SYNQ_WORKER_IMAGE="+image, "OFFLINE_DIR="+filepath.Join(t.TempDir(), "offline"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("images-offline-worker: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", image).Run() })
	p.files = append(p.files, filepath.Join(repoRoot(), "compose.worker.yml"))
	p.env = append(p.env, "SYNQ_WORKER_DIR="+dir, "SYNQ_WORKER_IMAGE="+image)
	start := time.Now()
	p.compose("up", "-d", "--wait", "worker")
	var n int
	var dups []string
	waitFor(t, 3*time.Minute, "the scaffold's articles in the emulator", func() bool {
		n, dups, _ = p.rows("Articles", "Article ID")
		return n >= 24
	})
	t.Logf("own worker (ctl new scaffold, compose.worker.yml): %d article rows %v after up, %d duplicated", n, time.Since(start).Round(time.Millisecond), len(dups))
	if len(dups) > 0 {
		t.Errorf("duplicated articles: %v", dups)
	}
}

// crashAndRestart kills a container's process from the host and waits for
// Docker's restart policy to bring it back healthy.
func (p *project) crashAndRestart(c string) {
	t := p.t
	t.Helper()
	pid := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Pid}}", c))
	kill := exec.Command("kill", "-KILL", pid)
	if os.Geteuid() != 0 {
		kill = exec.Command("sudo", "-n", "kill", "-KILL", pid)
	}
	if out, err := kill.CombinedOutput(); err != nil {
		t.Fatalf("kill -KILL %s (the executor's process, from the host; needs root or sudo): %v\n%s", pid, err, out)
	}
	crashed := time.Now()
	waitFor(t, 2*time.Minute, "the crashed executor restarted and healthy", func() bool {
		out, err := exec.Command("docker", "inspect", "-f", "{{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", c).Output()
		return err == nil && strings.TrimSpace(string(out)) != "" && !strings.HasPrefix(string(out), "0 ") && strings.Contains(string(out), "healthy") && !strings.Contains(string(out), "unhealthy")
	})
	t.Logf("executor %s crashed (SIGKILL from the host): restarted by its policy and healthy %v later", c[:12], time.Since(crashed).Round(time.Millisecond))
}

// assertGone checks that nothing of the project is left (volumes too
// when withVolumes).
func (p *project) assertGone(withVolumes bool) {
	p.t.Helper()
	label := "label=com.docker.compose.project=" + p.name
	if out := strings.TrimSpace(docker(p.t, "ps", "-a", "-q", "--filter", label)); out != "" {
		p.t.Errorf("containers left after down: %s", out)
	}
	if out := strings.TrimSpace(docker(p.t, "network", "ls", "-q", "--filter", label)); out != "" {
		p.t.Errorf("networks left after down: %s", out)
	}
	vols := strings.TrimSpace(docker(p.t, "volume", "ls", "-q", "--filter", label))
	switch {
	case withVolumes && vols != "":
		p.t.Errorf("volumes left after down -v: %s", vols)
	case !withVolumes && vols == "":
		p.t.Errorf("down removed the volumes (only down -v should)")
	}
}

// failStack is a failure scenario's project: its own containers, network
// and volumes, removed (down -v) when the scenario ends.
type failStack struct {
	*project
	o *ops.Ops
	// base is what comes up before ticketsDelta is paused (with what it
	// depends on): the Redis that synq uses, the emulator, the demo API,
	// the executors.
	base []string
	// reopen reads synq's Redis where it is now: a restarted container
	// has a new host port, a failover moves the master.
	reopen func() *ops.Ops
}

// newFailStack is a failure scenario's project on the default Redis.
func newFailStack(t *testing.T) *failStack {
	s := &failStack{project: newProject(t, failOverride, "SYNQ_NOTION_RATE_LIMIT="+failRateLimit),
		base: []string{"redis", "notion-emulator", "helpdesk", "executor"}}
	s.reopen = s.ops
	return s
}

// fresh brings the stack up with executors and schedulers
// replicas, ticketsDelta paused before any scheduler runs (so that only
// the backfill writes tickets), and waits for the demo's other syncs to
// end their first runs (so that the only page in flight is the
// backfill's).
func (s *failStack) fresh(executors, schedulers int) {
	t := s.t
	t.Helper()
	ex := fmt.Sprintf("executor=%d", executors)
	s.compose(append([]string{"up", "-d", "--wait", "--scale", ex}, s.base...)...)
	s.o = s.reopen()
	ctx := context.Background()
	waitFor(t, time.Minute, "the demo's manifest", func() bool {
		info, err := s.o.Sync(ctx, "ticketsDelta")
		return err == nil && info.Declared
	})
	if err := s.o.Pause(ctx, "ticketsDelta"); err != nil {
		t.Fatal(err)
	}
	s.compose("up", "-d", "--wait", "--scale", ex, "--scale", fmt.Sprintf("scheduler=%d", schedulers))
	for _, k := range []string{"teamsSync", "customersSync", "projectsSync", "tasksSync"} {
		waitFor(t, 3*time.Minute, k+"'s first run to end", func() bool {
			r, err := s.o.LatestRun(ctx, k)
			return err == nil && r.ID != "" && r.Ended()
		})
	}
}

// midBackfill triggers the backfill, waits until a page after the first
// is in flight on an executor, hands that executor's container to
// disrupt, then waits for the run to end: it must succeed with every
// ticket exactly once.
func (s *failStack) midBackfill(what string, disrupt func(container string)) {
	t := s.t
	t.Helper()
	ctx := context.Background()
	started := time.Now()
	run, err := s.o.Trigger(ctx, backfill, "manual")
	if err != nil {
		t.Fatal(err)
	}
	var host string
	waitFor(t, 3*time.Minute, "a backfill page after the first in flight", func() bool {
		r := runOf(t, s.o, run)
		if r.Ended() {
			t.Fatalf("the backfill ended before the disruption: %s %s (the pace is too fast for this machine?)", r.Status, r.Error)
		}
		if r.Counters["pages"] < 1 {
			return false
		}
		xs, err := s.o.Executors(ctx)
		if err != nil {
			return false
		}
		for _, x := range xs {
			// Its record was written after the current page began and
			// says it holds a page: the backfill's (the only sync
			// running).
			if x.InFlight > 0 && x.LastSeen.After(r.PageStarted) && time.Since(x.LastSeen) < 3*time.Second {
				host = x.Host
				return true
			}
		}
		return false
	})
	c := s.containerOfHost("executor", host)
	pagesBefore := runOf(t, s.o, run).Counters["pages"]
	disrupted := time.Now()
	disrupt(c)
	var r rdb.Run
	waitFor(t, 6*time.Minute, "the backfill to end", func() bool {
		var err error
		if r, err = s.o.Run(ctx, run); err != nil {
			// A restarted Redis container has a new ephemeral host
			// port; after a failover the master is another container.
			t.Logf("reading run %s: %v; asking docker compose where Redis is again", run, err)
			s.o = s.reopen()
			return false
		}
		return r.Ended()
	})
	ended := time.Now()
	n, dups, _ := s.rows(ticketsDB, ticketKey)
	t.Logf("%s: executor %s cut at page %d; run %s %s %v after the disruption (%v in all); %d ticket rows, %d duplicated keys; counters %v",
		what, c[:12], pagesBefore, run, r.Status, ended.Sub(disrupted).Round(time.Millisecond), ended.Sub(started).Round(time.Millisecond), n, len(dups), r.Counters)
	if r.Status != rdb.RunSucceeded {
		t.Errorf("run %s ended %s: %s", run, r.Status, r.Error)
	}
	if n != failTickets || len(dups) > 0 {
		t.Errorf("%d ticket rows, duplicated keys %v: want %d, each exactly once", n, dups, failTickets)
	}
}

// TestComposeFailures fails containers under a running backfill. Each
// scenario is a project of its own (its containers, network and volumes;
// the images are shared), so they run at once: they mostly wait — on
// leases, a paced Notion, Docker — and go test's -parallel (GOMAXPROCS
// by default: 2 on a small machine) would queue them behind each other,
// so each runs in a goroutine of its own rather than with t.Parallel.
func TestComposeFailures(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"kill", func(t *testing.T) {
			s := newFailStack(t)
			s.fresh(3, 1)
			s.midBackfill("docker kill of the executor running a page", func(c string) {
				docker(t, "kill", c)
			})
		}},
		{"partition", partition},
		{"redis-restart", func(t *testing.T) {
			s := newFailStack(t)
			s.fresh(3, 1)
			s.midBackfill("docker compose restart redis", func(string) {
				ctx := context.Background()
				s.compose("restart", "redis")
				back := time.Now()
				// Redis has a new host port; the run's state came back
				// from the AOF.
				s.o = s.ops()
				run, err := s.o.LatestRun(ctx, backfill)
				if err != nil {
					t.Fatalf("the backfill's run after the restart (AOF): %v", err)
				}
				pages := run.Counters["pages"]
				waitFor(t, 3*time.Minute, "the backfill to commit a page after the restart", func() bool {
					r, err := s.o.Run(ctx, run.ID)
					return err == nil && (r.Counters["pages"] > pages || r.Ended())
				})
				t.Logf("Redis restarted (AOF): the backfill committed its next page %v after Redis was back (page %d was in flight)", time.Since(back).Round(time.Millisecond), pages)
			})
		}},
		{"rolling-deploy", func(t *testing.T) {
			s := newFailStack(t)
			s.fresh(3, 1)
			s.midBackfill("rolling deploy of the executors (a second image)", func(string) {
				out, err := s.runEnv([]string{"SYNQ_IMAGE=" + images.synq2}, "up", "-d", "--no-deps", "--scale", "executor=3", "executor")
				if err != nil {
					t.Fatalf("docker compose up -d --no-deps executor (new image): %v\n%s", err, out)
				}
			})
			for _, c := range s.containers("executor") {
				if img := strings.TrimSpace(docker(t, "inspect", "-f", "{{.Config.Image}}", c)); img != images.synq2 {
					t.Errorf("executor %s runs %s after the deploy, want %s", c[:12], img, images.synq2)
				}
			}
		}},
		{"leader-kill", leaderKill},
		{"sentinel", sentinelFailover},
	}
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, sc.run)
		}()
	}
	wg.Wait()
}

// partition cuts the executor running a page off the compose network for
// longer than every lease, then reconnects it.
func partition(t *testing.T) {
	s := newFailStack(t)
	s.fresh(3, 1)
	var cut string
	s.midBackfill("network partition of the executor running a page", func(c string) {
		cut = c
		network := s.name + "_default"
		docker(t, "network", "disconnect", network, c)
		// Longer than every lease: the page task's (30 s), the key
		// claims' (30 s) and the reaper's grace (30 s).
		time.Sleep(45 * time.Second)
		docker(t, "network", "connect", network, c)
	})
	// What the cut-off executor said when it came back.
	out, _ := exec.Command("docker", "logs", "--since", "2m", cut).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "fenc") || strings.Contains(l, "stale") || strings.Contains(l, "lease") || strings.Contains(l, "claim") {
			t.Logf("cut-off executor: %s", l)
		}
	}
}

// leaderKill runs two schedulers and kills the leader's container.
func leaderKill(t *testing.T) {
	s := newFailStack(t)
	s.fresh(3, 2)
	ctx := context.Background()
	var leader ops.Leader
	waitFor(t, time.Minute, "a leader", func() bool {
		var err error
		leader, err = s.o.Leader(ctx)
		return err == nil && leader.ID != ""
	})
	host, _, _ := strings.Cut(leader.ID, "-")
	lc := s.containerOfHost("scheduler", host)
	s.midBackfill("docker kill of the leader scheduler", func(string) {
		docker(t, "kill", lc)
		killed := time.Now()
		waitFor(t, time.Minute, "the other scheduler to lead", func() bool {
			l, err := s.o.Leader(ctx)
			return err == nil && l.ID != "" && l.ID != leader.ID
		})
		t.Logf("leader %s killed; the other scheduler led %v later", leader.ID, time.Since(killed).Round(time.Millisecond))
	})
}

// sentinelOverride is failOverride on the Sentinel profile: both Redis
// nodes published (the test reads runs on whichever is the master) and
// fast health checks.
var sentinelOverride = failOverride + `
  redis-sentinel-master:
    ports: ["127.0.0.1::6379"]
    healthcheck: {interval: 1s}
  redis-sentinel-replica:
    ports: ["127.0.0.1::6379"]
    healthcheck: {interval: 1s}
  sentinel-1:
    healthcheck: {interval: 1s}
  sentinel-2:
    healthcheck: {interval: 1s}
  sentinel-3:
    healthcheck: {interval: 1s}
`

// sentinels are the Sentinel profile's Sentinel services.
var sentinels = []string{"sentinel-1", "sentinel-2", "sentinel-3"}

// sentinelFailover runs the stack on the Sentinel profile (scheduler and
// executors find the master through the three Sentinels) and kills the
// master's container mid-backfill: the Sentinels promote the replica,
// synq follows, and the run ends with every ticket once.
func sentinelFailover(t *testing.T) {
	s := &failStack{
		project: newProject(t, sentinelOverride, "SYNQ_NOTION_RATE_LIMIT="+failRateLimit, "COMPOSE_PROFILES=sentinel",
			"SYNQ_COMPOSE_REDIS_URL=redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/synq/0"),
		base: append([]string{"redis-sentinel-master", "redis-sentinel-replica", "notion-emulator", "helpdesk", "executor"}, sentinels...),
	}
	s.reopen = s.sentinelMaster
	s.fresh(3, 1)
	ctx := context.Background()
	s.midBackfill("docker kill of the Sentinel profile's master", func(string) {
		master := s.containers("redis-sentinel-master")[0]
		replica := redis.NewClient(&redis.Options{Addr: s.addr("redis-sentinel-replica", 6379, 1)})
		defer replica.Close()
		docker(t, "kill", master)
		killed := time.Now()
		waitFor(t, 3*time.Minute, "the Sentinels to promote the replica", func() bool {
			return roleOf(ctx, replica) == "master"
		})
		promoted := time.Since(killed)
		// Every Sentinel names the replica now: what synq's clients ask.
		for _, sn := range sentinels {
			waitFor(t, time.Minute, sn+" to name the promoted replica", func() bool {
				out, err := s.run("exec", "-T", sn, "redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "synq")
				return err == nil && strings.HasPrefix(out, "redis-sentinel-replica")
			})
		}
		t.Logf("master killed: the replica was promoted %v later, every Sentinel named it %v after the kill", promoted.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		s.o = s.sentinelMaster()
	})
	// What the Sentinels went through (TILT: a Sentinel's timer ran over
	// 2 s late; it then acts on nothing for 30 s).
	out, _ := s.run(append([]string{"logs", "--no-color"}, sentinels...)...)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "tilt") || strings.Contains(l, "failover") || strings.Contains(l, "switch-master") {
			t.Logf("%s", l)
		}
	}
}

// roleOf is what ROLE says a Redis is ("master", "slave"), or "" when it
// does not answer.
func roleOf(ctx context.Context, c *redis.Client) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(r) == 0 {
		return ""
	}
	role, _ := r[0].(string)
	return role
}

// sentinelMaster reads synq's data on the Sentinel profile's node that is
// the master now; between a master's death and the promotion, on the
// replica (reads only).
func (s *failStack) sentinelMaster() *ops.Ops {
	t := s.t
	t.Helper()
	ctx := context.Background()
	var fallback string
	for _, svc := range []string{"redis-sentinel-master", "redis-sentinel-replica"} {
		out, err := s.run("port", svc, "6379")
		addr := strings.TrimSpace(out)
		if err != nil || addr == "" || strings.HasSuffix(addr, ":0") {
			continue // killed: no port
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		role := roleOf(ctx, c)
		_ = c.Close()
		if role == "master" {
			return opsOn(t, addr)
		}
		fallback = addr
	}
	if fallback == "" {
		t.Fatal("neither Redis of the Sentinel profile answers")
	}
	return opsOn(t, fallback)
}
