package synqtest

import (
	"fmt"
	"os"
	"testing"
)

type testingTB = testing.TB

// adapter is a testing.TB made of a TB, for the internal helpers that
// take a testing.TB. It implements the methods they call; the embedded
// testing.TB is nil, so a call to another one panics (a helper that
// starts calling it needs it added here).
type adapter struct {
	testing.TB
	t TB
}

func (a *adapter) Helper()                           { a.t.Helper() }
func (a *adapter) Cleanup(f func())                  { a.t.Cleanup(f) }
func (a *adapter) Fatalf(format string, args ...any) { a.t.Fatalf(format, args...) }
func (a *adapter) Fatal(args ...any)                 { a.t.Fatalf("%s", fmt.Sprint(args...)) }
func (a *adapter) Errorf(format string, args ...any) { a.t.Fatalf(format, args...) }
func (a *adapter) Logf(format string, args ...any)   { a.t.Logf(format, args...) }
func (a *adapter) Log(args ...any)                   { a.t.Logf("%s", fmt.Sprint(args...)) }
func (a *adapter) Name() string                      { return "synqtest" }

// TempDir is a new directory removed at cleanup, as testing's.
func (a *adapter) TempDir() string {
	dir, err := os.MkdirTemp("", "synqtest-")
	if err != nil {
		a.t.Fatalf("synqtest: %v", err)
	}
	a.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
