package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/notion"
)

// TestNewcomer is a new user's first sync, all as the README says: `ctl
// new my-worker` scaffolds a worker module, `make dev WORKER=my-worker`
// builds everything and runs that worker beside the demo, `ctl trigger
// articlesSync --follow` runs its sync, and the emulator holds the API's
// articles. It logs the time from `ctl new` to the rows in the emulator.
func TestNewcomer(t *testing.T) {
	root := repoRoot()
	bin := t.TempDir()
	// The user's ctl comes from the checkout (make build); build it first,
	// apart from the figure.
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/ctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ctl: %v\n%s", err, out)
	}
	work := t.TempDir()
	env := userEnv()
	ctl := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "ctl"), args...)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	began := time.Now()
	out, err := ctl("new", "my-worker", "-o", "table")
	if err != nil {
		t.Fatalf("ctl new: %v\n%s", err, out)
	}
	worker := filepath.Join(work, "my-worker")
	for _, f := range []string{"go.mod", "go.sum", "main.go", "worker.go", "worker_test.go", "README.md", "Dockerfile"} {
		if _, err := os.Stat(filepath.Join(worker, f)); err != nil {
			t.Errorf("ctl new did not write %s", f)
		}
	}
	if abs, _ := filepath.Abs(root); !strings.Contains(out, "(cd "+abs+" && make dev WORKER="+worker+")") || !strings.Contains(out, filepath.Join(abs, "bin", "ctl")+" trigger articlesSync") {
		t.Errorf("ctl new does not say what to run next:\n%s", out)
	}
	gomod, _ := os.ReadFile(filepath.Join(worker, "go.mod"))
	if abs, _ := filepath.Abs(root); !strings.Contains(string(gomod), "replace github.com/synqhq/synq => "+abs) {
		t.Errorf("go.mod does not replace synq with the checkout %s:\n%s", abs, gomod)
	}

	// make dev WORKER=…, on free ports, with its binaries in a temporary
	// directory rather than the checkout's bin/.
	ports := freePorts(t)
	devDir := t.TempDir()
	makeBin := t.TempDir()
	mk := exec.Command("make", "-C", root, "dev", "BIN="+makeBin, "WORKER="+worker,
		"DEV_FLAGS="+strings.Join(ports.flags(devDir), " "))
	mk.Env = env
	// Its own process group, signalled as a terminal's Ctrl-C would be.
	mk.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	devOut := &syncBuffer{}
	mk.Stdout, mk.Stderr = devOut, devOut
	if err := mk.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mk.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-mk.Process.Pid, syscall.SIGINT)
		select {
		case <-stopped:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-mk.Process.Pid, syscall.SIGKILL)
			t.Errorf("make dev did not stop within 60s of Ctrl-C")
		}
		waitNoProcs(t, devDir, ports.redisPort, 30*time.Second)
		if t.Failed() {
			t.Logf("--- make dev output:\n%s", devOut.String())
		}
	})
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			select {
			case err := <-stopped:
				t.Fatalf("make dev ended (%v) while waiting for %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(10*time.Minute, "make dev to build and start the stack", func() bool {
		return strings.Contains(devOut.String(), "synq is running") && strings.Contains(devOut.String(), `"worker":"my-worker"`)
	})
	up := time.Since(began)
	banner := devOut.String()
	for _, want := range []string{"export REDIS_URL=redis://127.0.0.1:", "export NOTION_API_BASE_URL=http://" + ports.notion, "export SYNQ_NOTION_RATE_LIMIT=0",
		fmt.Sprintf("my-worker http://127.0.0.1:%d/metrics", ports.metricsPort+2)} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q", want)
		}
	}

	// The sync may have started on its schedule already: trigger until
	// a run of ours is accepted, and follow it.
	var follow string
	waitFor(60*time.Second, "ctl trigger articlesSync --follow to run", func() bool {
		out, err := ctl("--addr", ports.control, "trigger", "articlesSync", "--follow", "-o", "table")
		follow = out
		if err != nil && strings.Contains(out, "already has an active run") {
			return false
		}
		if err != nil {
			t.Fatalf("ctl trigger articlesSync --follow: %v\n%s", err, out)
		}
		return true
	})
	if !strings.Contains(follow, "read articles") || !strings.Contains(follow, "succeeded") {
		t.Fatalf("trigger --follow:\n%s", follow)
	}

	// The emulator holds the API's articles, views as numbers.
	nc, err := notion.New(notion.Config{BaseURL: "http://" + ports.notion, Token: "secret_local_emulator"})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]float64{}
	waitFor(30*time.Second, "the articles in the emulator", func() bool {
		ctx := context.Background()
		var ds string
		_ = nc.SearchDataSources(ctx, "Articles", func(d *notion.DataSource) error { ds = d.ID; return nil })
		if ds == "" {
			return false
		}
		clear(rows)
		_ = nc.QueryAll(ctx, ds, notion.QueryRequest{}, func(p *notion.Page) error {
			if n := p.Properties["Views"].Number; n != nil {
				rows[p.Properties["Article ID"].Text()] = *n
			}
			return nil
		})
		return len(rows) == 24
	})
	took := time.Since(began)
	resp, err := http.Get("http://" + ports.helpdesk + "/v1/articles?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		Data []struct {
			ID    string `json:"id"`
			Views int    `json:"views"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || len(api.Data) != 24 {
		t.Fatalf("the API's articles: %v, %d", err, len(api.Data))
	}
	for _, a := range api.Data {
		if rows[a.ID] != float64(a.Views) {
			t.Errorf("article %s: %v views in Notion, %d in the API", a.ID, rows[a.ID], a.Views)
		}
	}
	t.Logf("ctl new → rows in the emulator: %v (of which ctl new and make dev building the checkout and the worker, up to the stack running: %v)",
		took.Round(100*time.Millisecond), up.Round(100*time.Millisecond))

	// The scaffold's own test passes as written.
	gt := exec.Command("go", "test", "./...")
	gt.Dir, gt.Env = worker, env
	if out, err := gt.CombinedOutput(); err != nil {
		t.Errorf("go test in the scaffold: %v\n%s", err, out)
	}
}
