package notion

import (
	"log/slog"
	"time"
)

const levelInfo = slog.LevelInfo

// levelFor logs rate limiting at Info (expected under load) and other
// retried failures at Warn.
func levelFor(rateLimited bool) slog.Level {
	if rateLimited {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// slogAttrs describes a failed attempt. The token and request body are
// never logged.
func slogAttrs(cl call, status, attempt int, wait time.Duration, err error) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("route", cl.route),
		slog.String("path", cl.path),
		slog.Int("status", status),
		slog.String("error", err.Error()),
	}
	if attempt > 0 {
		attrs = append(attrs, slog.Int("retry", attempt), slog.Duration("wait", wait))
	}
	return attrs
}
