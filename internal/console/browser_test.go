package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium starts a headless Chromium for the test: Debian's chromium,
// no sandbox (tests run as root in CI), no GPU, no network of its own, a
// fresh profile. A machine without chromium fails the test: `.ci/run`
// installs it.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("SYNQ_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("chromium is not installed: the console's browser tests need it (Debian: apt-get install chromium; .ci/run installs it), or set SYNQ_CHROMIUM to a Chromium binary")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// screenshot saves the page as a PNG under the test's temporary directory;
// with SYNQ_CONSOLE_SCREENSHOTS=1 the README's go to docs/<name>, and with
// SYNQ_CONSOLE_SCREENSHOTS=<directory> every one goes there.
func screenshot(t *testing.T, ctx context.Context, name string, readme bool) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("SYNQ_CONSOLE_SCREENSHOTS"); dir != "" && (readme || dir != "1") {
		if dir == "1" {
			_, file, _, _ := runtime.Caller(0)
			dir = filepath.Join(filepath.Dir(file), "..", "..", "docs")
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", dst)
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("%s: %v\n(at %s)\n%s", what, err, loc, body)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func poll(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))
}

// A person logs in, opens the overview, triggers a sync from its page and
// watches the run's page counter move without reloading, pauses and
// resumes the sync, and reads a preview as a diff. Along the way the test
// takes the README's screenshots.
func TestConsoleInBrowser(t *testing.T) {
	s := newStack(t, stackOptions{token: token, pause: 700 * time.Millisecond, pages: 8})
	ctx := chromium(t)
	base := s.srv.URL
	// Some history for the overview: a failed run and a finished one.
	bg := context.Background()
	fail, err := s.ops.Trigger(bg, "failSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	notes, err := s.ops.Trigger(bg, "notesSync", "manual")
	if err != nil {
		t.Fatal(err)
	}
	s.waitRun(fail, 30*time.Second)
	s.waitRun(notes, 30*time.Second)

	// Log in: the login form, then back where we were going.
	do(t, ctx, "log in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	screenshot(t, ctx, "console-login.png", false)
	do(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#ov-health")),
	)
	if got := text(t, ctx, "h1"); got != "Overview" {
		t.Fatalf("after login: %q", got)
	}

	// Trigger from the sync's page; the run's page follows the run live.
	do(t, ctx, "trigger",
		chromedp.Navigate(base+"/syncs/slowSync"),
		chromedp.WaitVisible(chromedp.CSS("#trigger")),
		chromedp.Click(chromedp.CSS("#trigger")),
		chromedp.WaitVisible(chromedp.CSS("#run-page")),
	)
	if flash := text(t, ctx, ".flash"); !strings.Contains(flash, "Run started") {
		t.Fatalf("flash after trigger: %q", flash)
	}
	// A mark on the window: a reload would lose it.
	do(t, ctx, "mark the page", chromedp.Poll[chromedp.Void]("(window.__synqMark = 42)"))
	start := text(t, ctx, "#run-pages-done")
	do(t, ctx, "watch the page counter move",
		poll(`window.__synqMark === 42 && Number(document.getElementById("run-pages-done").textContent) >= 3`, 60*time.Second))
	if start == text(t, ctx, "#run-pages-done") {
		t.Fatal("the page counter did not move")
	}
	do(t, ctx, "log lines arrive live", poll(`window.__synqMark === 42 && document.querySelectorAll("#run-log tr").length >= 3`, 30*time.Second))
	screenshot(t, ctx, "console-run.png", true)

	// Pause and resume from the sync's page.
	do(t, ctx, "pause",
		chromedp.Navigate(base+"/syncs/slowSync"),
		chromedp.WaitVisible(chromedp.CSS("#pause")),
		chromedp.Click(chromedp.CSS("#pause")),
		chromedp.WaitVisible(chromedp.CSS("#resume")),
	)
	if flash := text(t, ctx, ".flash"); !strings.Contains(flash, "Sync paused") {
		t.Fatalf("flash after pause: %q", flash)
	}
	if h := text(t, ctx, "h1 .badge"); !strings.Contains(h, "DISABLED") {
		t.Fatalf("health after pause: %q", h)
	}
	do(t, ctx, "resume",
		chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS("#pause")),
	)
	if flash := text(t, ctx, ".flash"); !strings.Contains(flash, "Sync resumed") {
		t.Fatalf("flash after resume: %q", flash)
	}

	// A preview reads as a diff.
	s.source.mu.Lock()
	s.source.items["b"] = "beta, edited"
	s.source.items["d"] = "delta"
	s.source.mu.Unlock()
	do(t, ctx, "preview",
		chromedp.Navigate(base+"/syncs/notesSync"),
		chromedp.WaitVisible(chromedp.CSS("#preview")),
		chromedp.Click(chromedp.CSS("#preview")),
		chromedp.WaitVisible(chromedp.CSS("#run-preview")),
		chromedp.Click(chromedp.CSS("#run-preview")),
		chromedp.WaitVisible(chromedp.CSS("#preview-result")),
	)
	if old, nw := text(t, ctx, `.diff-row[data-key="b"] td.old`), text(t, ctx, `.diff-row[data-key="b"] td.new`); old != "beta" || nw != "beta, edited" {
		t.Fatalf("the diff of row b reads %q → %q", old, nw)
	}
	if got := text(t, ctx, "#preview-result .lead"); !strings.Contains(got, "1 created") || !strings.Contains(got, "1 updated") || !strings.Contains(got, "2 unchanged") {
		t.Fatalf("preview counts: %q", got)
	}
	screenshot(t, ctx, "console-preview.png", false)

	// The overview, with the run going on, for the README; then at phone
	// width, where nothing may overflow the screen.
	do(t, ctx, "overview",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#ov-active")),
		poll(`document.querySelector("#ov-failures").textContent.includes("upstream says no")`, 10*time.Second),
	)
	screenshot(t, ctx, "console-overview.png", true)
	for _, path := range []string{"/", "/syncs", "/syncs/slowSync", "/pacers", "/executors"} {
		do(t, ctx, "phone width "+path,
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(base+path),
			chromedp.WaitVisible(chromedp.CSS("main")),
			poll(`document.documentElement.scrollWidth <= 390`, 5*time.Second),
		)
		screenshot(t, ctx, "console-phone"+strings.ReplaceAll(path, "/", "-")+".png", false)
	}
}
