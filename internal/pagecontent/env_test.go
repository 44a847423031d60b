package pagecontent_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/testutil/notiontest"
)

type env struct {
	emu *emulator.Server
	c   *notion.Client
	ds  string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	emu := notiontest.Start(tb, emulator.Config{})
	e := &env{emu: emu, c: newClient(tb, emu, nil)}
	db, err := e.c.CreateDatabase(context.Background(), notion.CreateDatabaseRequest{
		ParentPageID: notiontest.ParentPageID(), Title: "Tickets",
		Properties: map[string]notion.PropertySchema{"Key": {Type: notion.TypeTitle}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.ds = db.DataSources[0].ID
	return e
}

func newClient(tb testing.TB, emu *emulator.Server, rt http.RoundTripper) *notion.Client {
	tb.Helper()
	cfg := notion.Config{BaseURL: emu.URL(), Token: notiontest.Token, Timeout: 5 * time.Second,
		Backoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	c, err := notion.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *env) row(key string) notion.CreatePageRequest {
	return notion.CreatePageRequest{DataSourceID: e.ds, Properties: map[string]notion.PropertyValue{"Key": notion.TitleValue(notion.Text(key))}}
}

// calls is the number of requests the emulator served since the last reset.
func (e *env) calls() int64 {
	n := e.emu.Stats().Requests
	e.emu.ResetStats()
	return n
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// dying is a transport that dies like a killed process: after `writes`
// write requests it fails everything. The last write is sent and applied
// when afterSending is set (the answer is lost), not sent otherwise.
type dying struct {
	mu           sync.Mutex
	writes       int
	afterSending bool
	dead         bool
}

var errKilled = errors.New("killed")

func (d *dying) RoundTrip(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	if d.dead {
		d.mu.Unlock()
		return nil, errKilled
	}
	if r.Method != http.MethodGet {
		if d.writes == 0 {
			d.dead = true
			d.mu.Unlock()
			if d.afterSending {
				if resp, err := http.DefaultTransport.RoundTrip(r); err == nil {
					resp.Body.Close()
				}
			}
			return nil, errKilled
		}
		d.writes--
	}
	d.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}
