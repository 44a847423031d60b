package synq

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/synqhq/synq/internal/spec"
)

// Logger returns the logger for user code in Execute. Its lines go to the
// executor's log and to the run's log (`ctl runs logs RUN`), tagged with the
// sync, run and page, and source=user (synq's own lines are
// source=platform). Outside Execute it returns slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if e := spec.ExecFrom(ctx); e != nil && e.Logger != nil {
		// The executor hands Execute its platform logger; user lines are
		// told apart by the handler's user variant.
		if h, ok := e.Logger.Handler().(interface{ UserHandler() slog.Handler }); ok {
			return slog.New(h.UserHandler())
		}
		return e.Logger
	}
	return slog.Default()
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
