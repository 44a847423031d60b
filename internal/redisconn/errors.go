package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Kind classifies a start-up failure.
type Kind int

const (
	// BadURL: REDIS_URL cannot be parsed.
	BadURL Kind = iota + 1
	// Unreachable: nothing answers at the address (or the master a
	// Sentinel names).
	Unreachable
	// AuthRefused: the server (or a Sentinel) refused the credentials, or
	// asked for some that REDIS_URL does not give.
	AuthRefused
	// NoSentinel: none of the Sentinels answers.
	NoSentinel
	// UnknownMaster: the Sentinels answer but monitor no master by that
	// name.
	UnknownMaster
	// WrongRole: the address is a Sentinel or a read-only replica, not a
	// writable Redis; or a "Sentinel" is a plain Redis.
	WrongRole
	// Failed: the server answered with another error.
	Failed
)

// Error is a start-up failure as one line: REDIS_URL, the problem, and what
// to do. It never holds a password.
type Error struct {
	Kind Kind
	// URL is REDIS_URL with its passwords hidden.
	URL     string
	Problem string
	Fix     string
	// Err is the driver's error, for errors.Is/As; it is not part of the
	// message.
	Err error
}

func (e *Error) Error() string {
	return Var + "=" + e.URL + ": " + e.Problem + "; " + e.Fix
}

func (e *Error) Unwrap() error { return e.Err }

// IsUnreachable reports whether err says Redis cannot be reached right now
// (a refused or dropped connection, a timeout, a server that is loading its
// data, a master that is being failed over) rather than that a command was
// wrong. Errors that asynq flattened into text are recognised by their
// wording.
func IsUnreachable(err error) bool {
	// A caller's own deadline or cancellation says nothing about Redis: a
	// hung server shows as the driver's read timeout (a net.Error).
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrPoolTimeout) ||
		redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) {
		return true
	}
	return MentionsUnreachable(err.Error())
}

// unreachableWords are how go-redis, the net package and Redis word an
// outage once an error has been turned into text.
var unreachableWords = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout",
	"no route to host", "network is unreachable", "no such host", "EOF",
	"connection pool timeout", "all sentinels", "use of closed network connection",
	"LOADING ", "READONLY ", "MASTERDOWN ",
}

// MentionsUnreachable reports whether a log line or error text is about
// Redis being unreachable, by its wording (see IsUnreachable).
func MentionsUnreachable(text string) bool {
	for _, w := range unreachableWords {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

func isAuth(err error) bool {
	if redis.IsAuthError(err) {
		return true
	}
	for _, p := range []string{"NOAUTH", "WRONGPASS", "ERR invalid password", "ERR AUTH", "invalid username-password"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}

// cause is the innermost useful words of a driver error: "connection
// refused", "i/o timeout", or Redis's own reply.
func cause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	msg := err.Error()
	// go-redis joins the errors of every Sentinel; the first says enough.
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimPrefix(msg, "redis: ")
}
