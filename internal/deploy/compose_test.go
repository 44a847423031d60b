package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

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

// token is the control token every load sets: the file requires one.
const token = "SYNQ_CONTROL_TOKEN=t0ken"

func load(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadProfiles(t, nil, env...)
}

func loadProfiles(t *testing.T, profiles []string, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root(t), "docker-compose.yml")},
		cli.WithWorkingDirectory(root(t)), cli.WithEnv(append([]string{token}, env...)), cli.WithName("synq"), cli.WithConsistency(true), cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	p := load(t)
	want := []string{"executor", "redis", "scheduler"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services without a profile = %v, want %v (the emulator and the demo API are in the demo profile)", got, want)
	}
	demo := loadProfiles(t, []string{"demo"})
	want = []string{"executor", "helpdesk", "notion-emulator", "redis", "scheduler"}
	if got := demo.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services with --profile demo = %v, want %v", got, want)
	}
	redis := p.Services["redis"]
	if !slices.Contains(redis.Command, "--appendonly") || redis.Command[slices.Index(redis.Command, "--appendonly")+1] != "yes" {
		t.Errorf("redis runs without AOF: %v", redis.Command)
	}
	for _, name := range want {
		if demo.Services[name].HealthCheck == nil || len(demo.Services[name].HealthCheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	if hc := p.Services["executor"].HealthCheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/executor", "healthcheck"}) {
		t.Errorf("executor health check = %v, want its /healthz through `executor healthcheck`", hc)
	}
	// One image, built once: every synq service names it with the same build.
	for _, name := range []string{"scheduler", "executor", "notion-emulator", "helpdesk"} {
		s := demo.Services[name]
		if s.Image != "synq:local" || s.Build == nil || s.Build.Context != root(t) {
			t.Errorf("service %s: image %q, build %+v; want synq:local built from the repository", name, s.Image, s.Build)
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
	// Schedulers scale: a range of loopback ports, no container name; the
	// token is the user's, never a default.
	sch := p.Services["scheduler"]
	if sch.ContainerName != "" || len(sch.Ports) != 1 || sch.Ports[0].HostIP != "127.0.0.1" || !strings.Contains(sch.Ports[0].Published, "-") {
		t.Errorf("scheduler ports %+v: want a loopback range so that replicas do not clash", sch.Ports)
	}
	if got := *sch.Environment["SYNQ_CONTROL_TOKEN"]; got != "t0ken" {
		t.Errorf("scheduler token = %q, want the environment's", got)
	}
	for _, name := range []string{"notion-emulator", "helpdesk"} {
		for _, port := range demo.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on every interface", name, port.Published)
			}
		}
	}
	for _, name := range []string{"scheduler", "executor"} {
		env := p.Services[name].Environment
		for _, k := range []string{"REDIS_URL", "NOTION_API_TOKEN", "NOTION_API_BASE_URL", "NOTION_PARENT_PAGE_ID", "SYNQ_NOTION_RATE_LIMIT"} {
			if env[k] == nil {
				t.Errorf("service %s lacks %s", name, k)
			}
		}
	}
	// The emulator writes its volume as nonroot: the image has the
	// directory, owned by uid 65532.
	if v := demo.Services["notion-emulator"].Volumes; len(v) != 1 || v[0].Target != "/data" {
		t.Errorf("emulator volumes = %+v", v)
	}
}

// Without a control token the file does not load, and says what to set.
func TestComposeNeedsAToken(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root(t), "docker-compose.yml")},
		cli.WithWorkingDirectory(root(t)), cli.WithEnv(nil), cli.WithName("synq"), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	_, err = opts.LoadProject(context.Background())
	if err == nil || !strings.Contains(err.Error(), "set SYNQ_CONTROL_TOKEN") {
		t.Fatalf("loading without SYNQ_CONTROL_TOKEN: %v, want an error that says to set it", err)
	}
}

func TestComposePassesRealNotionThrough(t *testing.T) {
	p := load(t, "NOTION_API_TOKEN=secret_real", "NOTION_API_BASE_URL=https://api.notion.com", "NOTION_PARENT_PAGE_ID=abc123")
	env := p.Services["executor"].Environment
	if *env["NOTION_API_TOKEN"] != "secret_real" || *env["NOTION_API_BASE_URL"] != "https://api.notion.com" || *env["NOTION_PARENT_PAGE_ID"] != "abc123" {
		t.Fatalf("executor env = %v", env)
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
	p := loadProfiles(t, []string{"sentinel"}, "SYNQ_COMPOSE_REDIS_URL=redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/synq/0")
	master, replica := p.Services["redis-sentinel-master"], p.Services["redis-sentinel-replica"]
	if !slices.Contains(master.Command, "--appendonly") {
		t.Errorf("the Sentinel master runs without AOF: %v", master.Command)
	}
	if i := slices.Index(replica.Command, "--replicaof"); i < 0 || replica.Command[i+1] != "redis-sentinel-master" {
		t.Errorf("the replica does not follow the master: %v", replica.Command)
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
