// Package notiontest starts a Notion emulator for a test.
package notiontest

import (
	"context"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
)

// Token is the integration token the test emulator accepts.
const Token = "secret_synq_test_token"

// ParentPageID is a page of the emulated workspace to create databases
// under (any well-formed id is accepted; this one is fixed for tests).
func ParentPageID() string { return "2a0c7f3e-1b2d-4c5e-8f90-a1b2c3d4e5f6" }

// Start runs an emulator on a free loopback port until the test ends.
// Tokens defaults to Token; rate limiting is off unless cfg sets it.
func Start(tb testing.TB, cfg emulator.Config) *emulator.Server {
	tb.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = []string{Token}
	}
	cfg.Addr = "127.0.0.1:0"
	s, err := emulator.New(cfg)
	if err != nil {
		tb.Fatalf("notiontest: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("notiontest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			tb.Logf("notiontest: stopping the emulator: %v", err)
		}
	})
	return s
}
