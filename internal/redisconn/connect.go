package redisconn

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// Conn is a long-running process's Redis: the client, checked at start-up,
// the Monitor that watches it (not started yet), and the process's logger
// wrapped so that the repeats of an outage the Monitor reports are dropped.
type Conn struct {
	Client  *redis.Client
	Monitor *Monitor
	Target  *Target
	// Logger is the logger given to Connect, behind Monitor.Handler.
	Logger *slog.Logger
}

// Connect parses url (REDIS_URL; "" is URLDefault), opens it as Open does
// and sets up its Monitor, which also watches every command of the client
// (Config.WatchCommands). Closing Client is the caller's job.
func Connect(ctx context.Context, url string, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	t, err := Parse(url)
	if err != nil {
		return nil, err
	}
	c, err := t.Open(ctx)
	if err != nil {
		return nil, err
	}
	mon, err := NewMonitor(Config{Client: c, Where: t.Where(), Logger: log, WatchCommands: true})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &Conn{Client: c, Monitor: mon, Target: t, Logger: slog.New(mon.Handler(log.Handler()))}, nil
}
