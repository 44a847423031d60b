// Package logging builds the slog loggers of every synq process, so that
// the executor, the scheduler, the emulator, the demo API and dev all log
// in one format: text on a terminal (for people), JSON lines otherwise
// (for log collectors, and for dev, which tags each child's lines).
//
// SYNQ_LOG_FORMAT=text|json overrides the choice; SYNQ_LOG_LEVEL sets the
// level (debug, info, warn, error).
package logging

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// Environment variables read by FromEnv.
const (
	FormatVar = "SYNQ_LOG_FORMAT"
	LevelVar  = "SYNQ_LOG_LEVEL"
)

// Formats.
const (
	Text = "text"
	JSON = "json"
)

// IsTerminal reports whether w is a terminal (not a pipe, a file or
// /dev/null, which is a character device but no terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// ParseFormat checks a format name; "" or "auto" picks text when w is a
// terminal and JSON otherwise.
func ParseFormat(s string, w io.Writer) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		if IsTerminal(w) {
			return Text, nil
		}
		return JSON, nil
	case Text:
		return Text, nil
	case JSON:
		return JSON, nil
	}
	return "", fmt.Errorf("%s=%q: use text, json or auto", FormatVar, s)
}

// ParseLevel reads a level name ("" is info).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// New returns a logger writing format (Text or JSON; "" decides by w) to w.
func New(w io.Writer, level slog.Leveler, format string) *slog.Logger {
	if format == "" {
		format, _ = ParseFormat("", w)
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// FromEnv returns a logger on w with SYNQ_LOG_FORMAT and, unless level is
// not empty, SYNQ_LOG_LEVEL. Errors name the variable.
func FromEnv(w io.Writer, level string) (*slog.Logger, error) {
	if level == "" {
		level = os.Getenv(LevelVar)
	}
	l, err := ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", LevelVar, err)
	}
	f, err := ParseFormat(os.Getenv(FormatVar), w)
	if err != nil {
		return nil, err
	}
	return New(w, l, f), nil
}

// Install makes l the process's default logger: slog.Default and the
// standard library's log package (lines from net/http and other
// libraries, go-redis through redisconn) go through it. restore puts the
// previous defaults back (slog.SetDefault alone does not give the log
// package its output and flags back).
func Install(l *slog.Logger) (restore func()) {
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(l)
	return func() {
		slog.SetDefault(prev)
		log.SetOutput(out)
		log.SetFlags(flags)
	}
}
