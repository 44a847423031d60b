// Package compose runs synq the way `docker compose up` users do: the
// repository's docker-compose.yml on a real Docker engine, with images
// built offline (deploy/offline/images.sh: no registry), driven through the
// docker CLI, and fails the containers in the ways production does (kill,
// network partition, Redis restart, rolling deploy, leader loss, Sentinel
// failover). Every scenario ends with every row exactly once in the
// emulator and the run ended.
//
// It needs Docker with Compose v2+ (`docker compose`; `make
// compose-plugin` builds one) and Debian's redis-server and dash for the
// Redis image; without them it fails, it never skips.
package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
)

// The demo's Notion token and the compose file's dev control token.
const (
	emulatorToken = "secret_local_emulator"
	devToken      = "synq-dev"
)

var (
	setupOnce sync.Once
	setupErr  error
	// setupTook says what the one setup cost; the test that ran it logs it.
	setupTook string
	// images is what the test processes' images are called; ctlBin the
	// host's ctl.
	images struct{ synq, synq2, redis string }
	ctlBin string
	tmpDir string
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		// The images this process built, and their contexts.
		_ = exec.Command("docker", "image", "rm", "-f", images.synq, images.synq2, images.redis).Run()
		_ = os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// setup checks Docker and Compose and builds the images (offline) and ctl
// once per test binary. Image tags carry the process id, so that two
// people's runs never retag each other's images.
func setup(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		defer func(start time.Time) {
			if setupErr == nil {
				t.Logf("setup (once for every test): %s; %v in all", setupTook, time.Since(start).Round(time.Millisecond))
			}
		}(time.Now())
		if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("no Docker engine (the compose e2e tests need one; they never skip): docker version: %v\n%s", err, out)
			return
		}
		if out, err := exec.Command("docker", "compose", "version", "--short").CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("no `docker compose` (v2 or later; `make compose-plugin` builds it): %v\n%s", err, out)
			return
		}
		tmpDir, setupErr = os.MkdirTemp("", "synq-compose-e2e")
		if setupErr != nil {
			return
		}
		tag := fmt.Sprintf("e2e-%d", os.Getpid())
		images.synq, images.synq2, images.redis = "synq:"+tag, "synq:"+tag+"-2", "synq-redis:"+tag
		start := time.Now()
		cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "offline", "images.sh"), "synq", "redis")
		cmd.Env = append(os.Environ(), "SYNQ_IMAGE="+images.synq, "SYNQ_REDIS_IMAGE="+images.redis, "OFFLINE_DIR="+filepath.Join(tmpDir, "offline"))
		if out, err := cmd.CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("make images-offline: %v\n%s", err, out)
			return
		}
		setupTook = fmt.Sprintf("images built offline in %v", time.Since(start).Round(time.Millisecond))
		// A second build of the same image, for the rolling deploy: a
		// new image id, so compose recreates the executors.
		df := fmt.Sprintf("FROM %s\nLABEL org.synq.e2e.build=2\n", images.synq)
		cmd = exec.Command("docker", "build", "-q", "-t", images.synq2, "-")
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		cmd.Stdin = strings.NewReader(df)
		if out, err := cmd.CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("docker build of the second tag: %v\n%s", err, out)
			return
		}
		ctlBin = filepath.Join(tmpDir, "ctl")
		cmd = exec.Command("go", "build", "-o", ctlBin, "./cmd/ctl")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("go build ./cmd/ctl: %v\n%s", err, out)
		}
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// project is one compose project: a unique name, the repository's compose
// file (plus overrides) and its own variables, with every published port
// ephemeral, so that it never collides with anyone's `make dev` or stack.
type project struct {
	t     *testing.T
	name  string
	files []string
	env   []string
}

// newProject names a project after the test; down -v removes it whatever
// happens.
func newProject(t *testing.T, override string, env ...string) *project {
	t.Helper()
	setup(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	p := &project{t: t, name: fmt.Sprintf("synqe2e-%s-%d", name, os.Getpid()), files: []string{filepath.Join(repoRoot(), "docker-compose.yml")}}
	if override != "" {
		f := filepath.Join(t.TempDir(), "override.yml")
		if err := os.WriteFile(f, []byte(override), 0o644); err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, f)
	}
	p.env = append([]string{
		"SYNQ_IMAGE=" + images.synq,
		"SYNQ_REDIS_IMAGE=" + images.redis,
		// Ephemeral host ports: `docker compose port` says which.
		"SYNQ_CONTROL_PORT=", "SYNQ_CONSOLE_PORT=", "SYNQ_EMULATOR_PORT=", "SYNQ_HELPDESK_PORT=",
		// Nothing of the caller's environment leaks in.
		"SYNQ_CONTROL_TOKEN=", "NOTION_API_TOKEN=", "NOTION_API_BASE_URL=", "NOTION_PARENT_PAGE_ID=", "SYNQ_COMPOSE_REDIS_URL=", "HELPDESK_API_URL=",
		"COMPOSE_PROFILES=", "COMPOSE_FILE=", "COMPOSE_PROJECT_NAME=",
	}, env...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.run("logs", "--no-color", "--tail=80")
			t.Logf("--- docker compose logs (last lines of each service):\n%s", out)
		}
		if out, err := p.run("down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Logf("docker compose down -v: %v\n%s", err, out)
		}
	})
	return p
}

// run runs `docker compose` on the project and returns its output.
func (p *project) run(args ...string) (string, error) {
	return p.runEnv(nil, args...)
}

func (p *project) runEnv(env []string, args ...string) (string, error) {
	full := []string{"compose", "-p", p.name}
	for _, f := range p.files {
		full = append(full, "-f", f)
	}
	full = append(full, args...)
	cmd := exec.Command("docker", full...)
	cmd.Dir = repoRoot()
	cmd.Env = append(append(os.Environ(), p.env...), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// compose runs `docker compose` and fails the test when it fails.
func (p *project) compose(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// docker runs the docker CLI and fails the test when it fails.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addr is where the host reaches a service's port (replica index, from 1).
func (p *project) addr(service string, port, index int) string {
	p.t.Helper()
	out := strings.TrimSpace(p.compose("port", "--index", fmt.Sprint(index), service, fmt.Sprint(port)))
	if out == "" || strings.HasSuffix(out, ":0") {
		p.t.Fatalf("%s:%d (replica %d) is not published: %q", service, port, index, out)
	}
	return out
}

// containers returns the ids of a service's containers (running or not).
func (p *project) containers(service string) []string {
	p.t.Helper()
	return strings.Fields(p.compose("ps", "-a", "-q", service))
}

// containerOfHost finds the container whose host name (its short id,
// what executors and schedulers report) starts host.
func (p *project) containerOfHost(service, host string) string {
	p.t.Helper()
	for _, id := range p.containers(service) {
		if host != "" && strings.HasPrefix(id, host) {
			return id
		}
	}
	p.t.Fatalf("no %s container has host name %q", service, host)
	return ""
}

// ctl runs the host's ctl against a scheduler replica's published
// control API with the dev token.
func (p *project) ctl(index int, args ...string) (string, error) {
	p.t.Helper()
	cmd := exec.Command(ctlBin, args...)
	cmd.Env = append(os.Environ(), "SYNQ_ADDR="+p.addr("scheduler", 7077, index), "SYNQ_TOKEN="+devToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ops reads the project's Redis through its published port (the test
// override publishes it).
func (p *project) ops() *ops.Ops {
	p.t.Helper()
	return opsOn(p.t, p.addr("redis", 6379, 1))
}

// opsOn reads the Redis at addr.
func opsOn(t *testing.T, addr string) *ops.Ops {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	o, err := ops.New(ops.Config{Redis: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// waitFor polls cond until it holds, or fails after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// notionClient talks to the project's emulator through its published port.
func (p *project) notionClient() *notion.Client {
	p.t.Helper()
	nc, err := notion.New(notion.Config{BaseURL: "http://" + p.addr("notion-emulator", 7070, 1), Token: emulatorToken})
	if err != nil {
		p.t.Fatal(err)
	}
	return nc
}

// rows counts the live rows of the emulator's data source titled title
// and their distinct values of the key property; dups lists keys with
// more than one row. ok is false while the data source does not exist.
func (p *project) rows(title, keyProp string) (total int, dups []string, ok bool) {
	p.t.Helper()
	nc := p.notionClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ds string
	err := nc.SearchDataSources(ctx, title, func(d *notion.DataSource) error {
		if d.PlainTitle() == title {
			ds = d.ID
		}
		return nil
	})
	if err != nil {
		p.t.Fatalf("emulator search %q: %v", title, err)
	}
	if ds == "" {
		return 0, nil, false
	}
	seen := map[string]int{}
	err = nc.QueryAll(ctx, ds, notion.QueryRequest{}, func(pg *notion.Page) error {
		total++
		k := pg.Properties[keyProp].Text()
		if seen[k]++; seen[k] == 2 {
			dups = append(dups, k)
		}
		return nil
	})
	if err != nil {
		p.t.Fatalf("emulator query of %s: %v", title, err)
	}
	return total, dups, true
}

// httpGet fetches a URL and returns its status.
func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

// runOf returns a run through Redis.
func runOf(t *testing.T, o *ops.Ops, id string) rdb.Run {
	t.Helper()
	r, err := o.Run(context.Background(), id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// ctlJSON runs ctl with -o json and decodes its output.
func (p *project) ctlJSON(index int, v any, args ...string) error {
	out, err := p.ctl(index, append(args, "-o", "json")...)
	if err != nil {
		return fmt.Errorf("ctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("ctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
