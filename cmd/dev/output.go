package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/synqhq/synq/internal/logging"
)

// output is dev's stderr: its own log lines, the children's lines tagged
// with their name, and the banner. Text on a terminal; JSON lines
// otherwise, each child line gaining a "process" member. A write that
// finds the reader gone (EPIPE) stops dev instead of killing it.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	format string
	logger *slog.Logger
	width  int
	gone   bool
	onGone func()

	hurryOnce sync.Once
	hurried   chan struct{}
}

func newOutput(w io.Writer, format string) *output {
	o := &output{w: w, format: format, hurried: make(chan struct{}), width: 9}
	o.logger = logging.New(writerFunc(o.write), slog.LevelInfo, format)
	return o
}

type ctxKey struct{}

func withOutput(ctx context.Context, o *output) context.Context {
	return context.WithValue(ctx, ctxKey{}, o)
}

// outputFrom returns the output main set up (tests call run with a bare
// context: their output is stderr as text).
func outputFrom(ctx context.Context) *output {
	if o, ok := ctx.Value(ctxKey{}).(*output); ok {
		return o
	}
	return newOutput(os.Stderr, logging.Text)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (o *output) write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return len(p), nil
	}
	if _, err := o.w.Write(p); err != nil && errors.Is(err, syscall.EPIPE) {
		o.gone = true
		if o.onGone != nil {
			go o.onGone()
		}
	}
	return len(p), nil
}

// line is one of dev's own messages.
func (o *output) line(s string) {
	if o.format == logging.JSON {
		o.logger.Info(strings.TrimSpace(s))
		return
	}
	_, _ = o.write([]byte(s + "\n"))
}

// fail is dev's last message when the stack stops on an error.
func (o *output) fail(s string) {
	if o.format == logging.JSON {
		o.logger.Error(strings.TrimSpace(s))
		return
	}
	_, _ = o.write([]byte(s + "\n"))
}

// child passes on one line of a child process.
func (o *output) child(name, line string) {
	if o.format == logging.JSON {
		if strings.HasPrefix(line, "{") {
			_, _ = o.write([]byte(`{"process":"` + name + `",` + line[1:] + "\n"))
			return
		}
		// Children log JSON: a line that is not is what a process
		// printed as it died (its start-up error, a panic).
		o.logger.Error(line, "process", name)
		return
	}
	_, _ = o.write(fmt.Appendf(nil, "%-*s| %s\n", o.width, name, line))
}

// banner prints what runs where; in JSON it is one record whose members
// scripts can read (the exports among them).
func (o *output) banner(b bannerInfo) {
	if o.format == logging.JSON {
		o.logger.Info("synq is running", "notion", b.notion, "demo_api", b.demoAPI, "redis", b.redis, "control_addr", b.control, "console", b.console,
			"metrics", b.metrics, "logs", b.logs, "exports", b.exports, "try", b.try)
		return
	}
	_, _ = o.write([]byte(b.text))
}

// hurry makes the children's stop a kill (a second Ctrl-C).
func (o *output) hurry() { o.hurryOnce.Do(func() { close(o.hurried) }) }

// watchReader notices the reader of a pipe going away while dev is quiet:
// a pipe whose read end closed polls as an error. Other outputs (a
// terminal, a file) are left alone: a closed terminal sends SIGHUP.
func watchReader(done <-chan struct{}, f *os.File, gone func()) {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: 0}}
			if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				gone()
				return
			}
		}
	}
}
