// Command dev runs a complete local synq stack in one terminal — what
// `make dev` starts:
//
//   - Redis: REDIS_URL if set (checked at once); else a redis-server started here if one is
//     installed; else an embedded Redis-compatible server (miniredis);
//   - the Notion emulator (unless NOTION_API_TOKEN is set: then real
//     Notion, with NOTION_PARENT_PAGE_ID);
//   - the demo helpdesk API;
//   - a scheduler (serving the control API for ctl) and executors, as
//     child processes from the binaries next to this one.
//
// Ctrl-C stops everything, executors first so pages in flight finish.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"

	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/redisconn"
)

type options struct {
	dir          string
	notionAddr   string
	helpdeskAddr string
	controlAddr  string
	consoleAddr  string
	redisPort    int
	executors    int
	tickets      int
	changeRate   float64
	binDir       string
}

// localToken is what the executors send to the local emulator.
const localToken = "secret_local_emulator"

// localParent is the page the demo databases are created under in the
// emulator (any well-formed id is accepted there).
const localParent = "00000000-0000-4000-8000-000000000001"

func main() {
	var o options
	cmd := &cobra.Command{
		Use:           "dev",
		Short:         "Run a complete local synq stack: Redis, Notion emulator, demo API, scheduler and executors",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.executors < 1 {
				return fmt.Errorf("--executors %d: run at least one", o.executors)
			}
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".synq-dev", "where Redis and the emulator keep their data, and the logs")
	f.StringVar(&o.notionAddr, "notion-addr", "127.0.0.1:7070", "Notion emulator address")
	f.StringVar(&o.helpdeskAddr, "helpdesk-addr", "127.0.0.1:7080", "demo helpdesk API address")
	f.StringVar(&o.controlAddr, "control-addr", "127.0.0.1:7077", "control API address (ctl's --addr)")
	f.StringVar(&o.consoleAddr, "console-addr", "127.0.0.1:7078", "web console address")
	f.IntVar(&o.redisPort, "redis-port", 6390, "port of the redis-server started here (when REDIS_URL is not set)")
	f.IntVar(&o.executors, "executors", 1, "executor processes")
	f.IntVar(&o.tickets, "tickets", 300, "tickets in the demo API")
	f.Float64Var(&o.changeRate, "change-rate", 0.5, "changes a second in the demo API")
	f.StringVar(&o.binDir, "bin", "", "directory with the scheduler and executor binaries (default: next to this one)")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// A REDIS_URL of the user's is checked before anything starts, so that
	// a typo is one line rather than a scheduler that exits.
	if u := os.Getenv(redisconn.Var); u != "" {
		c, err := redisconn.Open(ctx, u)
		if err != nil {
			return err
		}
		_ = c.Close()
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	bin, err := binaries(o.binDir)
	if err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// Redis.
	redisURL, redisKind, stopRedis, err := startRedis(o, log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stopRedis)

	// Notion.
	env := []string{"REDIS_URL=" + redisURL, "SYNQ_CONTROL_ADDR=" + o.controlAddr, "SYNQ_CONSOLE_ADDR=" + o.consoleAddr}
	notionWhere := ""
	if os.Getenv("NOTION_API_TOKEN") != "" {
		if os.Getenv("NOTION_PARENT_PAGE_ID") == "" {
			return errors.New("NOTION_API_TOKEN is set but NOTION_PARENT_PAGE_ID is not: share a page with your integration and set its id")
		}
		notionWhere = "real Notion, under page " + os.Getenv("NOTION_PARENT_PAGE_ID")
	} else {
		emu, err := emulator.New(emulator.Config{Addr: o.notionAddr, DataDir: filepath.Join(o.dir, "notion"), Logger: log.With("component", "notion-emulator")})
		if err != nil {
			return err
		}
		if err := emu.Start(ctx); err != nil {
			return fmt.Errorf("%w (another stack running? pass --notion-addr)", err)
		}
		cleanups = append(cleanups, func() { _ = emu.Stop(context.Background()) })
		// The emulator has no limit of its own here; the executors still
		// pace at Notion's 180 a minute unless SYNQ_NOTION_RATE_LIMIT says
		// otherwise.
		env = append(env, "NOTION_API_TOKEN="+localToken, "NOTION_API_BASE_URL="+emu.URL(), "NOTION_PARENT_PAGE_ID="+localParent)
		notionWhere = emu.URL() + "/  (the Notion emulator: open it in a browser)"
	}

	// Demo API.
	hd, err := api.New(api.Config{Addr: o.helpdeskAddr, Tickets: o.tickets, ChangeRate: o.changeRate, Logger: log.With("component", "helpdesk")})
	if err != nil {
		return err
	}
	if err := hd.Start(ctx); err != nil {
		return fmt.Errorf("%w (another stack running? pass --helpdesk-addr)", err)
	}
	cleanups = append(cleanups, func() { _ = hd.Stop(context.Background()) })
	env = append(env, "HELPDESK_API_URL="+hd.URL())

	// Scheduler and executors.
	logDir := filepath.Join(o.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var procs []*child
	stopAll := func() {
		// Executors first: each finishes its page in flight.
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop(50 * time.Second)
		}
	}
	cleanups = append(cleanups, stopAll)
	sched, err := spawn(ctx, filepath.Join(bin, "scheduler"), env, "scheduler", logDir)
	if err != nil {
		return err
	}
	procs = append(procs, sched)
	for i := range o.executors {
		x, err := spawn(ctx, filepath.Join(bin, "executor"), env, "executor-"+strconv.Itoa(i+1), logDir)
		if err != nil {
			return err
		}
		procs = append(procs, x)
	}

	ctl := filepath.Join(bin, "ctl")
	if rel, err := filepath.Rel(mustWd(), ctl); err == nil && !strings.HasPrefix(rel, "..") {
		ctl = "./" + rel
	}
	addrFlag := ""
	if o.controlAddr != "127.0.0.1:7077" {
		addrFlag = " --addr " + o.controlAddr
	}
	fmt.Fprintf(os.Stderr, `
synq is running.
  Console:    http://%s/  (the web console: open it in a browser)
  Notion:     %s
  Demo API:   %s/v1/tickets
  Redis:      %s (%s)
  Logs:       %s/
Try:
  %s%s status
  %s%s trigger ticketsBackfill
  %s%s runs logs <run id> --follow
  %s%s pause customersSync
Ctrl-C stops everything.

`, o.consoleAddr, notionWhere, hd.URL(), redisconn.Redact(redisURL), redisKind, logDir, ctl, addrFlag, ctl, addrFlag, ctl, addrFlag, ctl, addrFlag)

	exited := make(chan *child, len(procs))
	for _, p := range procs {
		go func() { <-p.done; exited <- p }()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\nstopping…")
		return nil
	case p := <-exited:
		return fmt.Errorf("%s exited: %v (its log: %s)", p.name, p.err, p.logPath)
	}
}

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}

// binaries finds the scheduler, executor and ctl next to this binary, or
// builds them when dev runs with `go run`.
func binaries(dir string) (string, error) {
	if dir == "" {
		self, err := os.Executable()
		if err == nil {
			dir = filepath.Dir(self)
		}
	}
	ok := func(d string) bool {
		for _, b := range []string{"scheduler", "executor", "ctl"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				return false
			}
		}
		return true
	}
	if dir != "" && ok(dir) {
		return dir, nil
	}
	out := filepath.Join(".synq-dev", "bin")
	fmt.Fprintln(os.Stderr, "dev: building scheduler, executor and ctl into", out)
	cmd := exec.Command("go", "build", "-o", out+"/", "./cmd/scheduler", "./cmd/executor", "./cmd/ctl")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the binaries (run dev from the repository root, or use `make dev`): %w", err)
	}
	return out, nil
}

func startRedis(o options, log *slog.Logger) (url, kind string, stop func(), err error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u, "REDIS_URL", func() {}, nil
	}
	if path, lerr := exec.LookPath("redis-server"); lerr == nil {
		dir, _ := filepath.Abs(filepath.Join(o.dir, "redis"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.redisPort))
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return "", "", nil, fmt.Errorf("port %d is taken (another stack running?): pass --redis-port or set REDIS_URL", o.redisPort)
		}
		cmd := exec.Command(path, "--port", strconv.Itoa(o.redisPort), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--save", "", "--logfile", filepath.Join(dir, "redis.log"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return "", "", nil, fmt.Errorf("starting redis-server: %w", err)
		}
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if i > 50 {
				cmd.Process.Kill()
				return "", "", nil, fmt.Errorf("redis-server did not start on %s: see %s/redis.log", addr, dir)
			}
			time.Sleep(100 * time.Millisecond)
		}
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		return "redis://" + addr + "/0", "redis-server, data in " + dir, stop, nil
	}
	// No Redis at all: an embedded one keeps `make dev` working on a
	// machine with only Go. It keeps data in memory only.
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.redisPort))); err != nil {
		return "", "", nil, fmt.Errorf("embedded Redis: %w", err)
	}
	log.Warn("no redis-server installed: using an embedded Redis-compatible server (data in memory only); install redis-server for the real thing")
	return "redis://" + m.Addr() + "/0", "embedded miniredis, in memory", m.Close, nil
}

// child is a stack process whose output goes to a log file and, prefixed
// with its name, to the terminal.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func spawn(ctx context.Context, path string, env []string, name, logDir string) (*child, error) {
	logPath := filepath.Join(logDir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), env...)
	// Own process group: Ctrl-C reaches dev, which stops children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(lf, sc.Text())
			fmt.Fprintf(os.Stderr, "%-11s| %s\n", name, sc.Text())
		}
	})
	go func() {
		c.err = cmd.Wait()
		pw.Close()
		wg.Wait()
		lf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
