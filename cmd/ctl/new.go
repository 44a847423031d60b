package main

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/cli"
	"github.com/synqhq/synq/internal/spec"
)

//go:embed scaffold/*.tmpl
var scaffoldFS embed.FS

// scaffoldFiles maps each template to the file it becomes.
var scaffoldFiles = []struct{ tmpl, file string }{
	{"go.mod.tmpl", "go.mod"},
	{"main.go.tmpl", "main.go"},
	{"worker.go.tmpl", "worker.go"},
	{"worker_test.go.tmpl", "worker_test.go"},
	{"README.md.tmpl", "README.md"},
	{"Dockerfile.tmpl", "Dockerfile"},
	{"gitignore.tmpl", ".gitignore"},
	{"dockerignore.tmpl", ".dockerignore"},
}

const synqModule = "github.com/synqhq/synq"

// reservedWorkers are the worker names of synq's own demo and tests: a
// scaffold with one of them would take over their queue and manifest.
var reservedWorkers = map[string]string{"synq-demo": "the demo of `make dev`"}

// notKeyChars are the runs of characters a key cannot hold.
var notKeyChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

type scaffold struct {
	Dir       string // absolute
	Name      string // from the directory's name, lower case: binary and image
	Worker    string // WorkerConfig.Name
	Module    string
	GoVersion string
	SynqDir   string
	// GoModSynq is the replace target in go.mod: relative when the module
	// sits near the checkout (it survives moving both together), quoted
	// when the path needs it.
	GoModSynq   string
	RelativeMod bool
	// ShDir and ShSynqDir are Dir and SynqDir quoted for a shell.
	ShDir, ShSynqDir string
	// DevCmd runs the stack with this worker, from the synq checkout
	// (make splits WORKER at spaces: bin/dev takes any path).
	DevCmd string
}

// newFlags are new's flags.
type newFlags struct {
	module, worker, synqDir string
	noTidy                  bool
}

func (a *app) newCmd() *cobra.Command {
	var o newFlags
	cmd := oneArgCmd("new DIR", "Scaffold a worker module of your own in DIR: one working sync, a test, a README and a Dockerfile",
		"directory", "ctl new my-worker", func(_ *cobra.Command, dir string) error { return a.scaffold(dir, o) })
	cmd.Long = `new writes a Go module in DIR (which must not exist, or be empty) with one sync that
copies the demo helpdesk's articles into Notion: go.mod (replacing github.com/synqhq/synq
with the synq checkout ctl was built from), main.go, worker.go, worker_test.go, README.md
and a Dockerfile; then it runs go mod tidy.

Run it next to the demo with: make dev WORKER=DIR (from the synq checkout).`
	f := cmd.Flags()
	f.StringVar(&o.module, "module", "", "Go module path (default example.com/<DIR's name>)")
	f.StringVar(&o.worker, "worker", "", "worker name, unique among the workers sharing a Redis (default DIR's name)")
	f.StringVar(&o.synqDir, "synq", "", "synq checkout that go.mod replaces github.com/synqhq/synq with (default: the one ctl was built from, else the current directory's)")
	f.BoolVar(&o.noTidy, "no-tidy", false, "do not run go mod tidy")
	return cmd
}

// scaffold writes a worker module in dir and says what to do next.
func (a *app) scaffold(dir string, o newFlags) error {
	sc, err := newScaffold(dir, o.module, o.worker, o.synqDir)
	if err != nil {
		return err
	}
	if err := sc.write(); err != nil {
		return err
	}
	tidied := false
	if !o.noTidy {
		if err := sc.tidy(); err != nil {
			fmt.Fprintf(a.stderr, "ctl: go mod tidy in %s failed: %v\n    run it there yourself before building\n", sc.Dir, err)
		} else {
			tidied = true
		}
	}
	if a.output == "json" {
		return a.json(object{{"dir", sc.Dir}, {"worker", sc.Worker}, {"module", sc.Module}, {"synq", sc.SynqDir}, {"tidied", tidied}})
	}
	wd := mustWd()
	rel := sc.Dir
	if r, err := filepath.Rel(wd, sc.Dir); err == nil && strings.Count(r, "..") <= 2 {
		rel = r
	}
	// ctl and the stack are run from the synq checkout.
	inSynq := wd == sc.SynqDir
	dev, ctlBin := sc.DevCmd, "./bin/ctl"
	if !inSynq {
		dev = "(cd " + sc.ShSynqDir + " && " + sc.DevCmd + ")"
		ctlBin = shellQuote(filepath.Join(sc.SynqDir, "bin", "ctl"))
	}
	moved := ""
	if sc.RelativeMod {
		moved = fmt.Sprintf("\ngo.mod replaces %s with %s, relative to the module: if you move it, run\n  go mod edit -replace %s=PATH-TO-SYNQ\n", synqModule, sc.GoModSynq, synqModule)
	}
	fmt.Fprintf(a.stdout, `created %s: worker %q, module %s, synq from %s
  go.mod main.go worker.go worker_test.go README.md Dockerfile .gitignore .dockerignore

Next:
  (cd %s && go test ./...)
  %s     # the stack, the demo and your worker
  %s trigger articlesSync --follow               # in another terminal
%s`, rel, sc.Worker, sc.Module, sc.SynqDir, shellQuote(rel), dev, ctlBin, moved)
	return nil
}

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}

func newScaffold(dir, module, worker, synqDir string) (*scaffold, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, cli.Usagef("%s is not empty: ctl new writes a new module; give it a new directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	base := filepath.Base(abs)
	// A name made of the directory's: runs of other characters become one
	// '-', none at either end ("My Worker!" → My-Worker).
	slug := strings.Trim(notKeyChars.ReplaceAllString(base, "-"), "-._")
	if slug == "" && (worker == "" || module == "") {
		return nil, cli.Usagef("%s: no name can be made of %q: pass --worker NAME and --module PATH, or pick a directory name with letters", dir, base)
	}
	name := strings.ToLower(slug)
	if worker == "" {
		worker = slug
		if !spec.ValidKey(worker) {
			worker = "w-" + slug // keys start with a letter
		}
	}
	if !spec.ValidKey(worker) {
		return nil, cli.Usagef("--worker %q: use letters, digits, '_', '-' or '.', starting with a letter", worker)
	}
	if what, ok := reservedWorkers[worker]; ok {
		return nil, cli.Usagef("worker name %q is %s's: pick another with --worker, or another directory name", worker, what)
	}
	if module == "" {
		module = "example.com/" + name
	}
	if name == "" {
		name = strings.ToLower(strings.Trim(notKeyChars.ReplaceAllString(worker, "-"), "-._"))
	}
	root, err := findSynq(synqDir)
	if err != nil {
		return nil, err
	}
	goVersion, err := goDirective(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	sc := &scaffold{Dir: abs, Name: name, Worker: worker, Module: module, GoVersion: goVersion, SynqDir: root,
		ShDir: shellQuote(abs), ShSynqDir: shellQuote(root), GoModSynq: goModQuote(root)}
	if rel, err := filepath.Rel(abs, root); err == nil && strings.Count(rel, "..") <= 2 {
		sc.GoModSynq, sc.RelativeMod = goModQuote(rel), true
	}
	sc.DevCmd = "make dev WORKER=" + sc.ShDir
	if strings.ContainsAny(abs, " \t\n") {
		sc.DevCmd = "make build && ./bin/dev --worker " + sc.ShDir
	}
	return sc, nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./:@%+=,.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// goModQuote quotes a path for go.mod when it holds a space, a quote or
// another character go.mod's syntax reserves.
func goModQuote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'`\\()[]{},;") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}

// findSynq returns the synq checkout to build against: --synq, else the
// checkout this ctl was compiled from (its source path is in the binary
// unless it was built with -trimpath), else the current directory or one
// of its parents.
func findSynq(flag string) (string, error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", err
		}
		if !isSynqCheckout(abs) {
			return "", cli.Usagef("--synq %s is not a synq checkout: it needs the go.mod of module %s", flag, synqModule)
		}
		return abs, nil
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if root := filepath.Dir(filepath.Dir(filepath.Dir(file))); isSynqCheckout(root) {
			return root, nil
		}
	}
	for d := mustWd(); d != ""; {
		if isSynqCheckout(d) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return "", cli.UsageError{Err: errors.New("no synq checkout found (this ctl was built elsewhere, and the current directory is not in one): pass --synq DIR, the directory of synq's go.mod")}
}

func isSynqCheckout(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return f[1] == synqModule
		}
	}
	return false
}

func goDirective(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s has no go directive", gomod)
}

func (sc *scaffold) write() error {
	if err := os.MkdirAll(sc.Dir, 0o755); err != nil {
		return err
	}
	for _, f := range scaffoldFiles {
		t, err := template.ParseFS(scaffoldFS, "scaffold/"+f.tmpl)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, sc); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		if err := os.WriteFile(filepath.Join(sc.Dir, f.file), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	// synq's own go.sum covers every module the worker needs: seeded with
	// it, go mod tidy works from the module cache synq's build filled.
	if sum, err := os.ReadFile(filepath.Join(sc.SynqDir, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(sc.Dir, "go.sum"), sum, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tidy completes go.mod and go.sum with the modules synq brings in.
func (sc *scaffold) tidy() error {
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = sc.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
