package control

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc/grpclog"
)

var grpcOnce sync.Once

// RouteGRPCLog sends gRPC's own log to slog.Default, so the scheduler's
// output stays in one format. Call it before any gRPC use.
func RouteGRPCLog() { grpcOnce.Do(func() { grpclog.SetLoggerV2(grpcLogger{}) }) }

// grpcLogger sends gRPC's internal log to slog.Default: its info and
// warning lines (connection state changes, retried dials) at debug, as
// gRPC's own default logger hides them; errors as errors.
type grpcLogger struct{}

func (grpcLogger) log(l slog.Level, args ...any) {
	slog.Default().Log(context.Background(), l, strings.TrimSpace(fmt.Sprint(args...)), "component", "grpc")
}
func (g grpcLogger) logf(l slog.Level, format string, args ...any) {
	slog.Default().Log(context.Background(), l, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "grpc")
}
func (g grpcLogger) Info(args ...any)                    { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Infoln(args ...any)                  { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Infof(format string, args ...any)    { g.logf(slog.LevelDebug, format, args...) }
func (g grpcLogger) Warning(args ...any)                 { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Warningln(args ...any)               { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Warningf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g grpcLogger) Error(args ...any)                   { g.log(slog.LevelError, args...) }
func (g grpcLogger) Errorln(args ...any)                 { g.log(slog.LevelError, args...) }
func (g grpcLogger) Errorf(format string, args ...any)   { g.logf(slog.LevelError, format, args...) }
func (g grpcLogger) Fatal(args ...any)                   { g.log(slog.LevelError, args...); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)                 { g.log(slog.LevelError, args...); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.logf(slog.LevelError, format, args...)
	os.Exit(1)
}
func (grpcLogger) V(l int) bool { return l <= 0 }
