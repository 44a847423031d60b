// Command dev runs a complete local synq stack in one terminal — what
// `make dev` starts:
//
//   - Redis: REDIS_URL if set (checked at once); else a redis-server started here if one is
//     installed; else an embedded Redis-compatible server (miniredis);
//   - the Notion emulator (unless NOTION_API_TOKEN is set: then real
//     Notion, with NOTION_PARENT_PAGE_ID), unpaced unless --notion-rate;
//   - the demo helpdesk API;
//   - a scheduler (serving the control API for ctl) and executors — the
//     demo's (unless --no-demo) and the worker modules given with --worker
//     (`make dev WORKER=DIR`), built here — as child processes.
//
// Ctrl-C stops everything, executors first so pages in flight finish; so do
// SIGTERM, SIGHUP and the reader of dev's output going away (`make dev |
// tee log` interrupted). The children also die with dev if it is killed
// outright (Linux: the parent-death signal).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/synqhq/synq/examples/helpdesk"
	"github.com/synqhq/synq/examples/helpdesk/api"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/executor"
	"github.com/synqhq/synq/internal/logging"
	"github.com/synqhq/synq/internal/rdb"
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
	workers      []string
	noDemo       bool
	notionRate   int
	// notionRateSet: --notion-rate was given (0 is a valid rate: unpaced).
	notionRateSet bool
	// fresh removes the emulator's and Redis's data before starting.
	fresh bool
	// notionLatency is the emulator's --latency (how long each call takes).
	notionLatency string
	metricsPort   int
	// webhookPort is the demo executors' SYNQ_WEBHOOK_ADDR port (the
	// first; the others take the next ones); 0 turns webhooks off.
	webhookPort int
}

// demoWebhook is the demo worker's webhook (examples/helpdesk).
const demoWebhook = "helpdeskEvents"

// demoWorker is cmd/executor's worker name.
const demoWorker = "synq-demo"

// demoWebhookToken records the demo webhook's URL token in Redis (or
// reads the one an earlier run recorded).
func demoWebhookToken(ctx context.Context, redisURL string) (string, error) {
	c, err := redisconn.Open(ctx, redisURL)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return rdb.New(c).EnsureWebhook(ctx, demoWebhook, demoWorker, executor.NewWebhookToken())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// localToken is what the executors send to the local emulator.
const localToken = "secret_local_emulator"

// localParent is the page the demo databases are created under in the
// emulator (any well-formed id is accepted there).
const localParent = "00000000-0000-4000-8000-000000000001"

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a complete local synq stack: Redis, Notion emulator, demo API, scheduler and executors",
		Long: `dev runs a complete local synq stack in one terminal: Redis, the Notion emulator, the
demo helpdesk API, a scheduler, the demo's executors and, with --worker, worker modules
of your own (scaffold one with ctl new DIR). It prints the exports to run an executor by
hand against the stack. Ctrl-C stops everything.

Against the emulator executors do not pace Notion calls (--notion-rate 180 emulates
real Notion's budget).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.executors < 1 && !o.noDemo {
				return fmt.Errorf("--executors %d: run at least one (or --no-demo)", o.executors)
			}
			if o.noDemo && len(o.workers) == 0 {
				return errors.New("--no-demo without --worker runs no executor at all: give --worker DIR (make dev WORKER=DIR)")
			}
			if o.notionRate < 0 {
				return fmt.Errorf("--notion-rate %d: requests per minute, 0 for unpaced", o.notionRate)
			}
			o.notionRateSet = cmd.Flags().Changed("notion-rate")
			if !cmd.Flags().Changed("metrics-port") {
				if a := os.Getenv("SYNQ_METRICS_ADDR"); a != "" {
					// Every process binding one address would kill the
					// stack: it is the first of a range instead.
					if _, p, err := net.SplitHostPort(a); err == nil {
						o.metricsPort, _ = strconv.Atoi(p)
					}
				}
			}
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".synq-dev", "where Redis and the emulator keep their data, the logs and built workers")
	f.BoolVar(&o.fresh, "fresh", false, "start clean: remove the emulator's and Redis's data in --dir first (make dev-reset)")
	f.StringVar(&o.notionAddr, "notion-addr", emulator.AddrDefault, "Notion emulator address")
	f.StringVar(&o.helpdeskAddr, "helpdesk-addr", api.AddrDefault, "demo helpdesk API address")
	f.StringVar(&o.controlAddr, "control-addr", "127.0.0.1:7077", "control API address (ctl's --addr)")
	f.StringVar(&o.consoleAddr, "console-addr", "127.0.0.1:7078", "web console address")
	f.IntVar(&o.redisPort, "redis-port", 6390, "port of the redis-server started here (when REDIS_URL is not set)")
	f.IntVar(&o.executors, "executors", 1, "executor processes of the demo (and of each --worker)")
	f.IntVar(&o.tickets, "tickets", 300, "tickets in the demo API")
	f.Float64Var(&o.changeRate, "change-rate", 0.5, "changes a second in the demo API")
	f.StringVar(&o.binDir, "bin", "", "directory with the scheduler, executor and ctl binaries (default: next to this one)")
	f.StringArrayVar(&o.workers, "worker", nil, "a worker module to build and run as executors (repeatable; `make dev WORKER=DIR`)")
	f.BoolVar(&o.noDemo, "no-demo", false, "run no demo executor: only the --worker modules (the demo API still runs)")
	f.IntVar(&o.notionRate, "notion-rate", 0, "Notion requests per minute executors allow themselves (SYNQ_NOTION_RATE_LIMIT); against the emulator the default is 0, unpaced; 180 emulates real Notion")
	f.StringVar(&o.notionLatency, "notion-latency", "", `how long each emulator call takes, like api.notion.com ("300ms" or "200ms-400ms"); default answers at once`)
	f.IntVar(&o.webhookPort, "webhook-port", 7088, "the demo executors serve webhooks on this port (the first; the others on the next ones) and the demo API sends its signed ticket events there; 0 turns webhooks off")
	f.IntVar(&o.metricsPort, "metrics-port", 9464, "Prometheus /metrics of the scheduler on this port, executors on the next ones; 0 turns them off (default from SYNQ_METRICS_ADDR's port)")

	logFormat, err := logging.ParseFormat(os.Getenv(logging.FormatVar), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(2)
	}
	out := newOutput(os.Stderr, logFormat)
	ctx, cancel := context.WithCancelCause(context.Background())
	stopSignals := watchExits(ctx, cancel, out)
	defer stopSignals()
	if err := cmd.ExecuteContext(withOutput(ctx, out)); err != nil {
		out.fail("dev: " + err.Error())
		stopSignals()
		os.Exit(1)
	}
}

// errReaderGone ends dev when nobody reads its output any more.
var errReaderGone = errors.New("the reader of dev's output went away")

// watchExits turns every way a person or a pipeline ends dev into a
// cancellation of ctx: SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal
// closed) and SIGPIPE or a closed pipe on stderr (`make dev | tee log`
// with tee gone). A second signal while stopping kills the children at
// once. Without SIGPIPE handled, Go would die on the first write to a
// closed pipe and leave the children behind.
func watchExits(ctx context.Context, cancel context.CancelCauseFunc, out *output) (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	out.onGone = func() { cancel(errReaderGone) }
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == syscall.SIGPIPE {
					cancel(errReaderGone)
					continue
				}
				if ctx.Err() != nil {
					out.hurry()
					continue
				}
				cancel(fmt.Errorf("%v", s))
			}
		}
	}()
	go watchReader(done, os.Stderr, func() { cancel(errReaderGone) })
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
		})
	}
}

func run(ctx context.Context, o options) error {
	out := outputFrom(ctx)
	log := out.logger
	// A REDIS_URL of the user's is checked before anything starts, so that
	// a typo is one line rather than a scheduler that exits.
	if u := os.Getenv(redisconn.Var); u != "" {
		c, err := redisconn.Open(ctx, u)
		if err != nil {
			return err
		}
		_ = c.Close()
	}
	if o.fresh {
		if err := resetData(o.dir); err != nil {
			return err
		}
		out.line("dev: --fresh: removed the emulator's and Redis's data in " + o.dir)
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	bin, err := binaries(o.binDir, out)
	if err != nil {
		return err
	}
	workers, err := buildWorkers(ctx, o, out)
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
	if redisKind == embeddedRedis && os.Getenv("NOTION_API_TOKEN") == "" {
		// The embedded Redis keeps nothing between starts: an emulator
		// that kept its rows would meet an empty index (every row
		// rewritten, "Redis lost synq's data" warnings). Both start
		// clean together; redis-server keeps both.
		if err := os.RemoveAll(filepath.Join(o.dir, "notion")); err != nil {
			return err
		}
		log.Warn("embedded Redis keeps nothing between starts, so the emulator's data starts empty too; install redis-server to keep both")
	}

	// Notion. env is what the children get on top of dev's environment;
	// exports what the banner shows for an executor started by hand.
	env := []string{"REDIS_URL=" + redisURL}
	exports := []string{"REDIS_URL=" + redisURL}
	notionWhere := ""
	realNotion := os.Getenv("NOTION_API_TOKEN") != ""
	if realNotion {
		if os.Getenv("NOTION_PARENT_PAGE_ID") == "" {
			return errors.New("NOTION_API_TOKEN is set but NOTION_PARENT_PAGE_ID is not: share a page with your integration and set its id")
		}
		notionWhere = "real Notion, under page " + os.Getenv("NOTION_PARENT_PAGE_ID")
		exports = append(exports, "NOTION_API_TOKEN=<your integration token>", "NOTION_API_BASE_URL="+cmpOr(os.Getenv("NOTION_API_BASE_URL"), "https://api.notion.com"),
			"NOTION_PARENT_PAGE_ID="+os.Getenv("NOTION_PARENT_PAGE_ID"))
		if o.notionRateSet {
			env = append(env, "SYNQ_NOTION_RATE_LIMIT="+strconv.Itoa(o.notionRate))
			exports = append(exports, "SYNQ_NOTION_RATE_LIMIT="+strconv.Itoa(o.notionRate))
		}
	} else {
		lat, err := emulator.ParseLatency(o.notionLatency)
		if err != nil {
			return fmt.Errorf("--notion-latency: %w", err)
		}
		emu, err := emulator.New(emulator.Config{Addr: o.notionAddr, DataDir: filepath.Join(o.dir, "notion"), Latency: lat, Logger: log.With("process", "notion-emulator")})
		if err != nil {
			return err
		}
		if err := emu.Start(ctx); err != nil {
			return fmt.Errorf("%w (another stack running? pass --notion-addr)", err)
		}
		cleanups = append(cleanups, func() { _ = emu.Stop(context.Background()) })
		// The emulator has no limit of its own here, and executors do not
		// pace against it unless --notion-rate (or SYNQ_NOTION_RATE_LIMIT)
		// asks them to: Notion's 180 a minute would make a 100-row page
		// take most of a minute.
		rate := 0
		if v := os.Getenv("SYNQ_NOTION_RATE_LIMIT"); v != "" && !o.notionRateSet {
			rate, _ = strconv.Atoi(v)
		} else if o.notionRateSet {
			rate = o.notionRate
		}
		local := []string{"NOTION_API_TOKEN=" + localToken, "NOTION_API_BASE_URL=" + emu.URL(), "NOTION_PARENT_PAGE_ID=" + localParent,
			"SYNQ_NOTION_RATE_LIMIT=" + strconv.Itoa(rate)}
		env = append(env, local...)
		exports = append(exports, local...)
		notionWhere = emu.URL() + "/  (the Notion emulator: open it in a browser)"
		if rate == 0 {
			notionWhere += "; executors unpaced (--notion-rate 180 emulates Notion)"
		} else {
			notionWhere += fmt.Sprintf("; executors paced at %d requests a minute", rate)
		}
	}

	// Webhooks: the demo executors serve helpdeskEvents; the demo API
	// signs its ticket events with a secret made here and sends them to
	// the webhook's URL, whose token is recorded now (the executors keep
	// it) so that the API knows the URL before they start.
	hdCfg := api.Config{Addr: o.helpdeskAddr, Tickets: o.tickets, ChangeRate: o.changeRate, Logger: log.With("process", "helpdesk")}
	webhookURL := ""
	if o.webhookPort > 0 && !o.noDemo {
		secret := randomHex(16)
		token, err := demoWebhookToken(ctx, redisURL)
		if err != nil {
			return err
		}
		webhookURL = fmt.Sprintf("http://127.0.0.1:%d%s%s/%s", o.webhookPort, executor.WebhookPath, demoWebhook, token)
		hdCfg.WebhookURL, hdCfg.WebhookSecret = webhookURL, secret
		env = append(env, helpdesk.WebhookSecretEnv+"="+secret)
	}

	// Demo API.
	hd, err := api.New(hdCfg)
	if err != nil {
		return err
	}
	if err := hd.Start(ctx); err != nil {
		return fmt.Errorf("%w (another stack running? pass --helpdesk-addr)", err)
	}
	cleanups = append(cleanups, func() { _ = hd.Stop(context.Background()) })
	env = append(env, "HELPDESK_API_URL="+hd.URL())
	exports = append(exports, "HELPDESK_API_URL="+hd.URL())

	// Scheduler and executors.
	logDir := filepath.Join(o.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	childEnv := append([]string{"SYNQ_CONTROL_ADDR=" + o.controlAddr, "SYNQ_CONSOLE_ADDR=" + o.consoleAddr, logging.FormatVar + "=" + out.format}, env...)
	type spec struct{ name, path string }
	specs := []spec{{"scheduler", filepath.Join(bin, "scheduler")}}
	if !o.noDemo {
		for i := range o.executors {
			specs = append(specs, spec{"executor-" + strconv.Itoa(i+1), filepath.Join(bin, "executor")})
		}
	}
	for _, w := range workers {
		for i := range max(o.executors, 1) {
			name := w.name
			if o.executors > 1 {
				name += "-" + strconv.Itoa(i+1)
			}
			specs = append(specs, spec{name, w.bin})
		}
	}
	for _, s := range specs {
		out.width = max(out.width, len(s.name))
	}
	var procs []*child
	var metricsURLs []string
	stopAll := func() {
		// Executors first, all at once: each finishes its page in flight;
		// then the scheduler.
		var wg sync.WaitGroup
		for _, p := range procs[1:] {
			wg.Go(func() { p.stop(50*time.Second, out.hurried) })
		}
		wg.Wait()
		procs[0].stop(15*time.Second, out.hurried)
	}
	for i, s := range specs {
		env := slicesClone(childEnv)
		if webhookURL != "" && strings.HasPrefix(s.name, "executor-") {
			env = append(env, "SYNQ_WEBHOOK_ADDR="+net.JoinHostPort("127.0.0.1", strconv.Itoa(o.webhookPort+i-1)))
		}
		if o.metricsPort > 0 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.metricsPort+i))
			env = append(env, "SYNQ_METRICS_ADDR="+addr)
			metricsURLs = append(metricsURLs, fmt.Sprintf("%s http://%s/metrics", s.name, addr))
		} else {
			env = append(env, "SYNQ_METRICS_ADDR=")
		}
		p, err := spawn(s.path, env, s.name, logDir, out)
		if err != nil {
			if len(procs) > 0 {
				stopAll()
			}
			return err
		}
		procs = append(procs, p)
		if i == 0 {
			cleanups = append(cleanups, stopAll)
		}
	}

	if webhookURL != "" {
		out.line("dev: the demo API sends signed ticket events to the helpdeskEvents webhook: " + webhookURL)
	}
	out.banner(banner(o, bin, hd.URL(), notionWhere, redisURL, redisKind, logDir, exports, metricsURLs, workers))

	exited := make(chan *child, len(procs))
	for _, p := range procs {
		go func() { <-p.done; exited <- p }()
	}
	select {
	case <-ctx.Done():
		cause := context.Cause(ctx)
		out.line(fmt.Sprintf("\nstopping (%v)…", cause))
		return nil
	case p := <-exited:
		return fmt.Errorf("%s exited: %v (its log: %s)", p.name, p.err, p.logPath)
	}
}

// bannerInfo is what the banner says, as text and as members of a JSON
// record.
type bannerInfo struct {
	text                                           string
	notion, demoAPI, redis, control, console, logs string
	metrics, exports, try                          []string
}

func banner(o options, bin, helpdesk, notionWhere, redisURL, redisKind, logDir string, exports, metrics []string, workers []worker) bannerInfo {
	ctl := filepath.Join(bin, "ctl")
	if rel, err := filepath.Rel(mustWd(), ctl); err == nil && !strings.HasPrefix(rel, "..") {
		ctl = "./" + rel
	}
	if o.controlAddr != "127.0.0.1:7077" {
		ctl += " --addr " + o.controlAddr
	}
	info := bannerInfo{notion: notionWhere, demoAPI: helpdesk, redis: redisconn.Redact(redisURL), control: o.controlAddr, logs: logDir, metrics: metrics}
	if o.consoleAddr != "" && o.consoleAddr != "off" {
		info.console = "http://" + o.consoleAddr + "/"
	}
	for _, e := range exports {
		k, v, _ := strings.Cut(e, "=")
		info.exports = append(info.exports, "export "+k+"="+shellQuote(v))
	}
	if o.controlAddr != "127.0.0.1:7077" {
		info.exports = append(info.exports, "export SYNQ_ADDR="+o.controlAddr)
	}
	for _, w := range workers {
		for _, k := range w.syncs {
			info.try = append(info.try, ctl+" trigger "+k+" --follow")
		}
	}
	info.try = append(info.try, ctl+" status")
	if !o.noDemo {
		info.try = append(info.try, ctl+" trigger ticketsBackfill --follow", ctl+" runs logs ticketsDelta", ctl+" pause customersSync")
	}

	var b strings.Builder
	b.WriteString("\nsynq is running.\n")
	if info.console != "" {
		fmt.Fprintf(&b, "  Console:    %s  (the web console: open it in a browser)\n", info.console)
	}
	fmt.Fprintf(&b, "  Notion:     %s\n  Demo API:   %s/  (what it serves)\n  Redis:      %s (%s)\n  Control:    %s (ctl)\n",
		notionWhere, helpdesk, info.redis, redisKind, o.controlAddr)
	for _, w := range workers {
		fmt.Fprintf(&b, "  Worker:     %s (built from %s)\n", w.name, w.dir)
	}
	if len(metrics) > 0 {
		fmt.Fprintf(&b, "  Metrics:    %s\n", strings.Join(metrics, "\n              "))
	}
	fmt.Fprintf(&b, "  Logs:       %s/\nTry:\n", logDir)
	for _, t := range info.try {
		fmt.Fprintf(&b, "  %s\n", t)
	}
	b.WriteString("Your own executor by hand, against this stack (in another terminal):\n")
	for _, e := range info.exports {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	b.WriteString("  go run ./your-worker     (or scaffold one with ctl new DIR; make dev WORKER=DIR builds and runs it here)\n")
	b.WriteString("Ctrl-C stops everything.\n\n")
	info.text = b.String()
	return info
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}

// binaries finds the scheduler, executor and ctl: in --bin (which must
// hold all three), else next to this binary, else it builds them (dev run
// with `go run`).
func binaries(dir string, out *output) (string, error) {
	need := []string{"scheduler", "executor", "ctl"}
	missing := func(d string) []string {
		var m []string
		for _, b := range need {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				m = append(m, b)
			}
		}
		return m
	}
	if dir != "" {
		if m := missing(dir); len(m) > 0 {
			return "", fmt.Errorf("--bin %s lacks %s: it needs the scheduler, executor and ctl binaries (make build puts them in ./bin)", dir, strings.Join(m, ", "))
		}
		return dir, nil
	}
	if self, err := os.Executable(); err == nil {
		if d := filepath.Dir(self); len(missing(d)) == 0 {
			return d, nil
		}
	}
	bin := filepath.Join(".synq-dev", "bin")
	out.line("dev: building scheduler, executor and ctl into " + bin)
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/scheduler", "./cmd/executor", "./cmd/ctl")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the binaries (run dev from the repository root, or use `make dev`): %w", err)
	}
	return bin, nil
}

// worker is a worker module built for this stack.
type worker struct {
	name, dir, bin string
	syncs          []string
}

// buildWorkers builds each --worker module into the dev directory.
func buildWorkers(ctx context.Context, o options, out *output) ([]worker, error) {
	var ws []worker
	seen := map[string]bool{}
	for _, d := range o.workers {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return nil, fmt.Errorf("--worker %s: no go.mod there: give the directory of a worker module (ctl new DIR scaffolds one)", d)
		}
		name := filepath.Base(abs)
		if seen[name] {
			return nil, fmt.Errorf("--worker %s: two workers named %s", d, name)
		}
		seen[name] = true
		binDir, err := filepath.Abs(filepath.Join(o.dir, "workers"))
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(binDir, name)
		out.line(fmt.Sprintf("dev: building worker %s (%s)", name, abs))
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = abs
		b, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("--worker %s: go build: %v\n%s", d, err, strings.TrimSpace(string(b)))
		}
		ws = append(ws, worker{name: name, dir: abs, bin: bin, syncs: declaredSyncs(abs)})
	}
	return ws, nil
}

// declaredSyncs finds the sync keys a worker's sources declare
// (synq.AddSync(w, "key", …)), for the banner's examples.
func declaredSyncs(dir string) []string {
	var keys []string
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, part := range strings.Split(string(b), "synq.AddSync(")[1:] {
			if _, rest, ok := strings.Cut(part, `"`); ok {
				if k, _, ok := strings.Cut(rest, `"`); ok {
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
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
			return "", "", nil, fmt.Errorf("port %d is taken (another stack running, or one that was killed: `redis-cli -p %d shutdown`): pass --redis-port or set REDIS_URL", o.redisPort, o.redisPort)
		}
		cmd := exec.Command(path, "--port", strconv.Itoa(o.redisPort), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--save", "", "--logfile", filepath.Join(dir, "redis.log"))
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			return "", "", nil, fmt.Errorf("starting redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if i > 50 {
				_ = cmd.Process.Kill()
				<-exited
				return "", "", nil, fmt.Errorf("redis-server did not start on %s: see %s/redis.log", addr, dir)
			}
			time.Sleep(100 * time.Millisecond)
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
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
	return "redis://" + m.Addr() + "/0", embeddedRedis, m.Close, nil
}

// embeddedRedis is startRedis's kind for the in-memory Redis.
const embeddedRedis = "embedded miniredis, in memory"

// resetData removes what dev keeps between starts, the emulator's rows
// and Redis's data, together: one without the other would disagree.
func resetData(dir string) error {
	for _, d := range []string{"notion", "redis"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("--fresh: %w", err)
		}
	}
	return nil
}

// child is a stack process whose output goes to a log file and, tagged
// with its name, to dev's output.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func spawn(path string, env []string, name, logDir string, out *output) (*child, error) {
	logPath := filepath.Join(logDir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that Ctrl-C reaches dev alone and dev stops
	// the children in order; the parent-death signal stops them if dev is
	// killed without a chance to.
	cmd.SysProcAttr = childAttr()
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
			out.child(name, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
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

// stop asks the child to stop (SIGTERM) and kills it after grace, or at
// once when hurry closes (a second Ctrl-C).
func (c *child) stop(grace time.Duration, hurry <-chan struct{}) {
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
	case <-hurry:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
