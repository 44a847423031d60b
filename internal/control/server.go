// Package control serves synq.v1.ControlService: the operator's API over
// the operations of package ops, behind go-grpc-middleware interceptors
// (recovery, slog logging, bearer-token auth, request validation).
package control

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/synqhq/synq/internal/alerts"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// Config configures the control service.
type Config struct {
	Ops *ops.Ops
	// Pacer reads pacer figures for GetSync (optional).
	Pacer *pacer.Pacer
	// Token, when set, is required as "authorization: Bearer <token>".
	Token string
	// Alerts sends `ctl alerts test` (optional: without it TestAlert is
	// refused).
	Alerts *alerts.Service
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Service implements synqv1.ControlServiceServer.
type Service struct {
	synqv1.UnimplementedControlServiceServer
	cfg Config
	ops *ops.Ops
	log *slog.Logger
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Ops == nil {
		return nil, errors.New("control: Config.Ops is required")
	}
	cfg = cfg.withDefaults()
	return &Service{cfg: cfg, ops: cfg.Ops, log: cfg.Logger}, nil
}

// NewGRPCServer returns a gRPC server with the service, the standard
// health service and the interceptor chain registered.
func (s *Service) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(CallLevel)}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		s.log.Error("control API handler panicked", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error: the scheduler logged the details")
	})
	authFn := s.authenticate
	opts = append(opts,
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recoverOpt),
			logging.UnaryServerInterceptor(interceptorLogger(s.log), logOpts...),
			auth.UnaryServerInterceptor(authFn),
			validator.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recoverOpt),
			logging.StreamServerInterceptor(interceptorLogger(s.log), logOpts...),
			auth.StreamServerInterceptor(authFn),
			validator.StreamServerInterceptor(),
		),
	)
	srv := grpc.NewServer(opts...)
	synqv1.RegisterControlServiceServer(srv, s)
	hs := health.NewServer()
	hs.SetServingStatus(synqv1.ControlService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return srv
}

// authenticate checks the bearer token in constant time. Health checks
// pass without one: load balancers and compose probe them.
func (s *Service) authenticate(ctx context.Context) (context.Context, error) {
	if s.cfg.Token == "" {
		return ctx, nil
	}
	if method, ok := grpc.Method(ctx); ok && strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return ctx, nil
	}
	tok, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token: pass --token or set SYNQ_TOKEN to the scheduler's SYNQ_CONTROL_TOKEN")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		return nil, status.Error(codes.Unauthenticated, "wrong token: pass the scheduler's SYNQ_CONTROL_TOKEN with --token or SYNQ_TOKEN")
	}
	return ctx, nil
}

// CallLevel is the level a finished gRPC call is logged at: debug for
// every call that went as the client asked or failed on the client's
// mistake (ctl status every second is no news), warn for a refused token
// or an unavailable Redis, error for the server's own faults.
func CallLevel(c codes.Code) logging.Level {
	switch c {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unavailable, codes.ResourceExhausted:
		return logging.LevelWarn
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return logging.LevelError
	}
	return logging.LevelDebug
}

func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// toStatus maps operation errors to gRPC codes, keeping their message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ops.ErrUnknownSync), errors.Is(err, ops.ErrUnknownRun), errors.Is(err, ops.ErrUnknownWebhook):
		code = codes.NotFound
	case errors.Is(err, ops.ErrRunActive), errors.Is(err, ops.ErrPaused), errors.Is(err, ops.ErrNotActive),
		errors.Is(err, ops.ErrUndeclared), errors.Is(err, ops.ErrDeclared), errors.Is(err, ops.ErrSweeping):
		code = codes.FailedPrecondition
	case errors.Is(err, ops.ErrInvalidState):
		code = codes.InvalidArgument
	case errors.Is(err, ops.ErrNoExecutor), errors.Is(err, rdb.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func errf(code codes.Code, format string, a ...any) error {
	return status.Error(code, fmt.Sprintf(format, a...))
}
