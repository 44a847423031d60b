package rdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/synqhq/synq/internal/redisconn"
)

// RDB is synq's access to Redis. It is safe for concurrent use.
type RDB struct {
	c redis.UniversalClient
}

// New wraps a go-redis client. The caller owns the client's lifetime.
func New(c redis.UniversalClient) *RDB { return &RDB{c: c} }

// Client returns the underlying client, for packages (asynq, redis_rate)
// that take one directly.
func (r *RDB) Client() redis.UniversalClient { return r.c }

// ErrUnavailable wraps every error that means Redis could not be reached,
// so callers can tell an outage (retry later, lose nothing) from a bug.
var ErrUnavailable = errors.New("redis unavailable")

// wrap adds the operation to a Redis error and marks outages.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rdb: %s: %w", op, err)
	}
	// A reply from the server means Redis is up and the command was wrong,
	// except the replies of a server that cannot serve yet (loading its
	// data, a master demoted by a failover).
	var rerr redis.Error
	if errors.As(err, &rerr) && !redisconn.IsUnreachable(err) {
		return fmt.Errorf("rdb: %s: %w", op, err)
	}
	return fmt.Errorf("rdb: %s: %w: %w", op, ErrUnavailable, err)
}
