package main

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSynq is a directory that passes for a synq checkout.
func fakeSynq(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module github.com/synqhq/synq\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// goModReplace reads go.mod's replace of synq as the go command does.
func goModReplace(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
		t.Fatalf("go mod edit -json: %v\n%s", err, b)
	}
	var m struct {
		Replace []struct{ New struct{ Path string } }
	}
	if err := json.Unmarshal(out, &m); err != nil || len(m.Replace) != 1 {
		t.Fatalf("go.mod: %v %s", err, out)
	}
	return m.Replace[0].New.Path
}

// A module beside the checkout replaces synq by a relative path and says
// what to do when it moves; an awkward directory name becomes clean names;
// paths with spaces and quotes are quoted in go.mod and in the commands.
func TestNewAwkwardNamesAndPaths(t *testing.T) {
	tmp := t.TempDir()
	synq := fakeSynq(t, filepath.Join(tmp, "synq"))
	dir := filepath.Join(tmp, "My Worker!")
	out, errOut, code := ctl(t, "new", dir, "--synq", synq, "--no-tidy", "-o", "table")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	worker, _ := os.ReadFile(filepath.Join(dir, "worker.go"))
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, c := range []struct{ what, text, want string }{
		{"worker.go", string(worker), `const WorkerName = "My-Worker"`},
		{"go.mod", string(gomod), "module example.com/my-worker\n"},
		{"go.mod", string(gomod), "replace github.com/synqhq/synq => ../synq\n"},
		{"go.mod", string(gomod), "after moving the module (or synq), point it at synq again"},
		{"output", out, "trigger articlesSync --follow"},
		{"output", out, "go mod edit -replace github.com/synqhq/synq=PATH-TO-SYNQ"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.what, c.want, c.text)
		}
	}
	if got := goModReplace(t, dir); got != "../synq" {
		t.Errorf("replace => %q", got)
	}
	if strings.Contains(out, "\n  ctl trigger") {
		t.Errorf("next steps name a bare ctl (not on PATH):\n%s", out)
	}

	// Spaces and quotes in both paths.
	odd := fakeSynq(t, filepath.Join(tmp, `my "synq" checkout`))
	dir = filepath.Join(tmp, "o'k dir", "acme")
	out, errOut, code = ctl(t, "new", dir, "--synq", odd, "--no-tidy", "-o", "table")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := goModReplace(t, dir); got != `../../my "synq" checkout` {
		t.Errorf("replace => %q", got)
	}
	for _, f := range []string{"main.go", "worker.go", "worker_test.go"} {
		if _, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, f), nil, 0); err != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	docker, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	quotedDir := `'` + strings.ReplaceAll(dir, `'`, `'\''`) + `'`
	for _, c := range []struct{ what, text, want string }{
		{"README.md", string(readme), "./bin/dev --worker " + quotedDir},
		{"README.md", string(readme), `--build-context synq='` + odd + `'`},
		{"Dockerfile", string(docker), `--build-context synq='` + odd + `'`},
		{"output", out, "./bin/dev --worker " + quotedDir},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.what, c.want, c.text)
		}
	}

	// Nothing to make a name of.
	if _, errOut, code := ctl(t, "new", filepath.Join(tmp, "!!!"), "--synq", synq, "--no-tidy"); code != 2 || !strings.Contains(errOut, "no name can be made") {
		t.Errorf("ctl new !!!: exit %d %q", code, errOut)
	}
}
