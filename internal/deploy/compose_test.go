package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, nil, nil, env...)
}

func loadProfiles(t *testing.T, profiles []string, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, nil, profiles, env...)
}

// loadFiles loads docker-compose.yml with more files on top, as
// `docker compose -f docker-compose.yml -f …` does.
func loadFiles(t *testing.T, files, profiles []string, env ...string) *types.Project {
	t.Helper()
	p, err := tryLoad(t, files, profiles, env...)
	if err != nil {
		t.Fatalf("docker-compose.yml %v does not load: %v", files, err)
	}
	return p
}

func tryLoad(t *testing.T, files, profiles []string, env ...string) (*types.Project, error) {
	t.Helper()
	paths := []string{filepath.Join(root(t), "docker-compose.yml")}
	for _, f := range files {
		paths = append(paths, filepath.Join(root(t), f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(root(t)), cli.WithEnv(env), cli.WithName("synq"), cli.WithConsistency(true), cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// Plain `docker compose up`, nothing set: the whole dev stack, on
// loopback, with a dev token, one image built once.
func TestComposeFile(t *testing.T) {
	p := load(t)
	want := []string{"executor", "helpdesk", "notion-emulator", "redis", "scheduler"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services without a profile = %v, want %v (the local dev stack)", got, want)
	}
	redis := p.Services["redis"]
	if !slices.Contains(redis.Command, "--appendonly") || redis.Command[slices.Index(redis.Command, "--appendonly")+1] != "yes" {
		t.Errorf("redis runs without AOF: %v", redis.Command)
	}
	if redis.Image != "redis:7-alpine" {
		t.Errorf("redis image %q, want redis:7-alpine by default", redis.Image)
	}
	for _, name := range want {
		s := p.Services[name]
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("service %s restart policy %q, want unless-stopped (a crashed container comes back)", name, s.Restart)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on every interface", name, port.Published)
			}
		}
	}
	if hc := p.Services["executor"].HealthCheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/executor", "healthcheck"}) {
		t.Errorf("executor health check = %v, want its /healthz through `executor healthcheck`", hc)
	}
	if hc := p.Services["scheduler"].HealthCheck; hc == nil || !slices.Contains(hc.Test, "/usr/local/bin/ctl") || !slices.Contains(hc.Test, "status") {
		t.Errorf("scheduler health check = %v, want ctl status (it answers the control API)", hc)
	}
	// A page finishes (30 s) before compose kills an executor.
	if g := p.Services["executor"].StopGracePeriod; g == nil || time.Duration(*g) < 35*time.Second {
		t.Errorf("executor stop_grace_period %v, want more than the 30 s a page in flight gets", g)
	}
	// One image, built once: every synq service names it with the same build.
	for _, name := range []string{"scheduler", "executor", "notion-emulator", "helpdesk"} {
		s := p.Services[name]
		if s.Image != "synq:local" || s.Build == nil || s.Build.Context != root(t) {
			t.Errorf("service %s: image %q, build %+v; want synq:local built from the repository", name, s.Image, s.Build)
		}
		if name != "notion-emulator" && name != "helpdesk" && *s.Environment["SYNQ_LOG_FORMAT"] != "text" {
			t.Errorf("service %s logs in %v, want text (one format in docker compose logs)", name, s.Environment["SYNQ_LOG_FORMAT"])
		}
	}
	ex := p.Services["executor"]
	if len(ex.Ports) != 0 || ex.ContainerName != "" {
		t.Errorf("executor must stay scalable (no fixed ports or container name): %+v", ex.Ports)
	}
	if ex.DependsOn["redis"].Condition != types.ServiceConditionHealthy {
		t.Errorf("executor does not wait for a healthy Redis: %+v", ex.DependsOn)
	}
	for _, dep := range []string{"notion-emulator", "helpdesk"} {
		if d, ok := ex.DependsOn[dep]; ok && d.Required {
			t.Errorf("executor requires %s, which real Notion does not need", dep)
		}
	}
	// The scheduler: control API and console published at the fixed
	// ports ctl and the README name (no range that moves them), listening
	// beyond loopback inside the container with the dev token.
	sch := p.Services["scheduler"]
	published := map[uint32]string{}
	for _, port := range sch.Ports {
		published[port.Target] = port.Published
	}
	if published[7077] != "7077" || published[7078] != "7078" {
		t.Errorf("scheduler ports %+v: want 127.0.0.1:7077 (control API) and 127.0.0.1:7078 (console)", sch.Ports)
	}
	env := func(s, k string) string {
		if v := p.Services[s].Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env("scheduler", "SYNQ_CONTROL_TOKEN") != "synq-dev" || env("scheduler", "SYNQ_TOKEN") != "synq-dev" {
		t.Errorf("scheduler token %q (ctl's %q), want the dev token synq-dev", env("scheduler", "SYNQ_CONTROL_TOKEN"), env("scheduler", "SYNQ_TOKEN"))
	}
	if env("scheduler", "SYNQ_CONSOLE_ADDR") != "0.0.0.0:7078" || env("scheduler", "SYNQ_CONTROL_ADDR") != "0.0.0.0:7077" {
		t.Errorf("scheduler listens on %q (control) and %q (console): unreachable through the published ports", env("scheduler", "SYNQ_CONTROL_ADDR"), env("scheduler", "SYNQ_CONSOLE_ADDR"))
	}
	if got := env("notion-emulator", "NOTION_EMULATOR_WEB_URL"); got != "http://127.0.0.1:7070" {
		t.Errorf("NOTION_EMULATOR_WEB_URL = %q: \"open in Notion\" links must point where the browser reaches the emulator", got)
	}
	for _, name := range []string{"scheduler", "executor"} {
		for _, k := range []string{"REDIS_URL", "NOTION_API_TOKEN", "NOTION_API_BASE_URL", "NOTION_PARENT_PAGE_ID", "SYNQ_NOTION_RATE_LIMIT"} {
			if env(name, k) == "" {
				t.Errorf("service %s lacks %s", name, k)
			}
		}
	}
	if env("executor", "NOTION_API_BASE_URL") != "http://notion-emulator:7070" {
		t.Errorf("the dev stack's executors write to %q, want the emulator", env("executor", "NOTION_API_BASE_URL"))
	}
	// The emulator writes its volume as nonroot: the image has the
	// directory, owned by uid 65532.
	if v := p.Services["notion-emulator"].Volumes; len(v) != 1 || v[0].Target != "/data" {
		t.Errorf("emulator volumes = %+v", v)
	}
}

// Image names and published ports are variables: one file serves the
// registry build and the offline one, and tests use ephemeral ports.
func TestComposeVariables(t *testing.T) {
	p := load(t, "SYNQ_IMAGE=synq:e2e", "SYNQ_REDIS_IMAGE=synq-redis:local", "SYNQ_BUILD_CONTEXT=.offline/synq",
		"SYNQ_CONTROL_PORT=", "SYNQ_CONSOLE_PORT=17078", "SYNQ_CONTROL_TOKEN=s3cret")
	for _, name := range []string{"scheduler", "executor", "notion-emulator", "helpdesk"} {
		s := p.Services[name]
		if s.Image != "synq:e2e" || s.Build.Context != filepath.Join(root(t), ".offline/synq") {
			t.Errorf("%s: image %q context %q, want SYNQ_IMAGE and SYNQ_BUILD_CONTEXT", name, s.Image, s.Build.Context)
		}
	}
	if img := p.Services["redis"].Image; img != "synq-redis:local" {
		t.Errorf("redis image %q, want SYNQ_REDIS_IMAGE", img)
	}
	for _, port := range p.Services["scheduler"].Ports {
		want := map[uint32]string{7077: "", 7078: "17078"}[port.Target]
		if port.Published != want || port.HostIP != "127.0.0.1" {
			t.Errorf("scheduler port %d published as %s:%q, want 127.0.0.1:%q", port.Target, port.HostIP, port.Published, want)
		}
	}
	if got := *p.Services["scheduler"].Environment["SYNQ_CONTROL_TOKEN"]; got != "s3cret" {
		t.Errorf("scheduler token = %q, want the environment's", got)
	}
}

// Production is an explicit file: real Notion, a token that must be set,
// no emulator, no demo API, no demo executor, JSON logs.
func TestComposeProduction(t *testing.T) {
	prod := []string{"compose.prod.yml"}
	_, err := tryLoad(t, prod, nil, "NOTION_API_TOKEN=secret_real", "NOTION_PARENT_PAGE_ID=abc123")
	if err == nil || !strings.Contains(err.Error(), "set SYNQ_CONTROL_TOKEN") {
		t.Fatalf("compose.prod.yml without SYNQ_CONTROL_TOKEN: %v, want an error that says to set it", err)
	}
	if _, err := tryLoad(t, prod, nil, "SYNQ_CONTROL_TOKEN=t0ken"); err == nil || !strings.Contains(err.Error(), "NOTION_API_TOKEN") {
		t.Fatalf("compose.prod.yml without NOTION_API_TOKEN: %v, want an error that says to set it", err)
	}
	p := loadFiles(t, prod, nil, "SYNQ_CONTROL_TOKEN=t0ken", "NOTION_API_TOKEN=secret_real", "NOTION_PARENT_PAGE_ID=abc123")
	if got := sorted(p.ServiceNames()); !slices.Equal(got, []string{"redis", "scheduler"}) {
		t.Errorf("production services = %v, want redis and scheduler (your worker comes from compose.worker.yml)", got)
	}
	env := p.Services["scheduler"].Environment
	if *env["SYNQ_CONTROL_TOKEN"] != "t0ken" || *env["NOTION_API_BASE_URL"] != "https://api.notion.com" || *env["SYNQ_LOG_FORMAT"] != "json" {
		t.Errorf("production scheduler env = token %q, Notion %q, logs %q", *env["SYNQ_CONTROL_TOKEN"], *env["NOTION_API_BASE_URL"], *env["SYNQ_LOG_FORMAT"])
	}
	// With your worker.
	w := loadFiles(t, append(prod, "compose.worker.yml"), nil, "SYNQ_CONTROL_TOKEN=t0ken", "NOTION_API_TOKEN=secret_real", "NOTION_PARENT_PAGE_ID=abc123", "SYNQ_WORKER_DIR=cmd")
	wk, ok := w.Services["worker"]
	if !ok {
		t.Fatalf("compose.worker.yml adds no worker service: %v", w.ServiceNames())
	}
	if wk.Image != "synq-worker:local" || wk.Build == nil || wk.Build.Context != filepath.Join(root(t), "cmd") || wk.Build.AdditionalContexts["synq"] != root(t) {
		t.Errorf("worker image %q build %+v: want SYNQ_WORKER_DIR built with this checkout as context synq", wk.Image, wk.Build)
	}
	if *wk.Environment["NOTION_API_TOKEN"] != "secret_real" || wk.HealthCheck == nil {
		t.Errorf("worker env %v, health check %v", wk.Environment, wk.HealthCheck)
	}
}

func TestComposePassesRealNotionThrough(t *testing.T) {
	p := load(t, "NOTION_API_TOKEN=secret_real", "NOTION_API_BASE_URL=https://api.notion.com", "NOTION_PARENT_PAGE_ID=abc123")
	env := p.Services["executor"].Environment
	if *env["NOTION_API_TOKEN"] != "secret_real" || *env["NOTION_API_BASE_URL"] != "https://api.notion.com" || *env["NOTION_PARENT_PAGE_ID"] != "abc123" {
		t.Fatalf("executor env = %v", env)
	}
}

// What a build sends: never binaries, local state or .git.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), ".dockerignore"))
	if err != nil {
		t.Fatalf("no .dockerignore: every build would send bin/ and .git: %v", err)
	}
	lines := strings.Fields(string(b))
	for _, want := range []string{".git", "bin/", ".synq-dev/", ".offline/"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

// Every binary the compose file runs is built by the Dockerfile, from a
// command that exists, reproducibly.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`\./cmd/([a-z-]+)`).FindAllStringSubmatch(df, -1) {
		built[m[1]] = true
		if _, err := os.Stat(filepath.Join(root(t), "cmd", m[1], "main.go")); err != nil {
			t.Errorf("the Dockerfile builds ./cmd/%s, which does not exist", m[1])
		}
	}
	for name, s := range loadProfiles(t, []string{"demo", "sentinel"}).Services {
		if len(s.Command) > 0 && strings.HasPrefix(s.Command[0], "/usr/local/bin/") {
			bin := strings.TrimPrefix(s.Command[0], "/usr/local/bin/")
			if !built[bin] {
				t.Errorf("service %s runs %s, which the Dockerfile does not build", name, bin)
			}
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 1 && strings.HasPrefix(hc.Test[1], "/usr/local/bin/") && !built[strings.TrimPrefix(hc.Test[1], "/usr/local/bin/")] {
			t.Errorf("service %s's health check runs %s, which the Dockerfile does not build", name, hc.Test[1])
		}
	}
	for _, want := range []string{"-trimpath", "-buildid=", "CGO_ENABLED=0", "-buildvcs=false", "ARG GO_VERSION=1.", "--chown=65532:65532 /data /data", "USER nonroot"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q (reproducible builds)", want)
		}
	}
	// A "# syntax=" line makes BuildKit pull its frontend from a registry.
	if regexp.MustCompile(`(?m)^#\s*syntax\s*=`).MatchString(df) {
		t.Errorf("the Dockerfile has a # syntax= line: BuildKit pulls that image")
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1) {
		if strings.HasSuffix(m[1], ":latest") || !strings.Contains(m[1], ":") {
			t.Errorf("base image %s is not pinned", m[1])
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// The "sentinel" profile is a Sentinel topology synq can use through
// REDIS_URL: a master with AOF, a replica of it, and three Sentinels that
// agree (quorum 2) on the master's name; none of it runs by default.
func TestComposeSentinelProfile(t *testing.T) {
	p := loadProfiles(t, []string{"sentinel"}, "SYNQ_REDIS_IMAGE=synq-redis:local", "SYNQ_COMPOSE_REDIS_URL=redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/synq/0")
	master, replica := p.Services["redis-sentinel-master"], p.Services["redis-sentinel-replica"]
	if !slices.Contains(master.Command, "--appendonly") {
		t.Errorf("the Sentinel master runs without AOF: %v", master.Command)
	}
	if i := slices.Index(replica.Command, "--replicaof"); i < 0 || replica.Command[i+1] != "redis-sentinel-master" {
		t.Errorf("the replica does not follow the master: %v", replica.Command)
	}
	// A dead master's name must fail at once (Docker's DNS does not
	// forward single-label names when ndots is set, and no search domain
	// adds a dot), or a Sentinel (or the replica) waits on the host's
	// resolvers, stalls into TILT mode and nothing fails over.
	for _, name := range []string{"redis-sentinel-master", "redis-sentinel-replica", "sentinel-1", "sentinel-2", "sentinel-3"} {
		if s := p.Services[name]; !slices.Equal(s.DNSOpts, []string{"ndots:1"}) || !slices.Equal(s.DNSSearch, []string{"."}) {
			t.Errorf("%s dns_opt %v dns_search %v, want [ndots:1] and [.]", name, s.DNSOpts, s.DNSSearch)
		}
	}
	for _, name := range []string{"sentinel-1", "sentinel-2", "sentinel-3"} {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		script := strings.Join(s.Command, " ")
		for _, want := range []string{"sentinel monitor synq redis-sentinel-master 6379 2", "--sentinel", "sentinel announce-ip $SENTINEL_NAME"} {
			if !strings.Contains(script, want) {
				t.Errorf("%s's command lacks %q: %s", name, want, script)
			}
		}
		if s.Image != "synq-redis:local" {
			t.Errorf("%s image %q, want SYNQ_REDIS_IMAGE", name, s.Image)
		}
		if *s.Environment["SENTINEL_NAME"] != name || s.HealthCheck == nil {
			t.Errorf("%s: SENTINEL_NAME %v, health check %v", name, *s.Environment["SENTINEL_NAME"], s.HealthCheck)
		}
	}
	if got := *p.Services["executor"].Environment["REDIS_URL"]; !strings.HasPrefix(got, "redis+sentinel://sentinel-1:26379,") {
		t.Errorf("executor REDIS_URL = %s, want SYNQ_COMPOSE_REDIS_URL", got)
	}
	// By default none of it runs.
	for _, name := range load(t).ServiceNames() {
		if strings.Contains(name, "sentinel") {
			t.Errorf("%s runs without --profile sentinel", name)
		}
	}
}
