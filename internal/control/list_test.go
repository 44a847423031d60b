package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/internal/testutil/redistest"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// ListSyncs pages and filters on the server; WatchSyncs sends everything
// once, then only what changed.
func TestListSyncsPagesFiltersAndWatchSendsChanges(t *testing.T) {
	r := redistest.Start(t)
	quiet := slog.New(slog.DiscardHandler)
	op, err := ops.New(ops.Config{Redis: r.Client(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer tok")
	for _, w := range []string{"alpha", "beta"} {
		m := spec.Manifest{Worker: w}
		for i := range 30 {
			m.Syncs = append(m.Syncs, spec.ManifestSync{Key: fmt.Sprintf("%s-%02d", w, i), Database: w, Mode: spec.Incremental,
				Schedule: spec.Schedule{Kind: spec.Manual, Text: "manual"}, MaxAttempts: 1, Timeout: time.Minute})
		}
		m.Build = m.BuildID()
		b, _ := json.Marshal(m)
		if _, err := op.RDB().PublishBuild(ctx, w, m.Build, b, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c := serve(t, control.Config{Ops: op, Token: "tok", Logger: quiet})

	var keys []string
	token := ""
	for {
		p, err := c.ListSyncs(ctx, &synqv1.ListSyncsRequest{PageSize: 25, PageToken: token, Worker: "beta"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Matched != 30 || len(p.Summary) != 5 {
			t.Fatalf("matched %d, summary %v; want 30 and five healths", p.Matched, p.Summary)
		}
		for _, s := range p.Syncs {
			keys = append(keys, s.Key)
		}
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if len(keys) != 30 || keys[0] != "beta-00" || keys[29] != "beta-29" {
		t.Fatalf("pages of worker beta listed %d keys (%v … %v), want beta-00 … beta-29", len(keys), keys[0], keys[len(keys)-1])
	}
	g, err := c.ListSyncs(ctx, &synqv1.ListSyncsRequest{Key: "alpha-1?"})
	if err != nil || len(g.Syncs) != 10 || g.Syncs[0].Key != "alpha-10" {
		t.Fatalf("glob alpha-1? = %v, %v", g, err)
	}
	if err := op.Pause(ctx, "alpha-03"); err != nil {
		t.Fatal(err)
	}
	h, err := c.ListSyncs(ctx, &synqv1.ListSyncsRequest{Health: []synqv1.Health{synqv1.Health_HEALTH_DISABLED}})
	if err != nil || len(h.Syncs) != 1 || h.Syncs[0].Key != "alpha-03" || h.Matched != 1 {
		t.Fatalf("DISABLED syncs = %v, %v", h, err)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := c.WatchSyncs(wctx, &synqv1.WatchSyncsRequest{Interval: durationpbMs(200)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || !first.Full || len(first.Syncs) != 60 {
		t.Fatalf("first watch message: full %v, %d syncs, %v; want all 60", first.GetFull(), len(first.GetSyncs()), err)
	}
	if _, err := op.Resume(ctx, "alpha-03"); err != nil {
		t.Fatal(err)
	}
	next, err := watch.Recv()
	if err != nil || next.Full || len(next.Syncs) != 1 || next.Syncs[0].Key != "alpha-03" || next.Syncs[0].Paused {
		t.Fatalf("watch after a resume: %v, %v; want only alpha-03, unpaused", next, err)
	}
}

func durationpbMs(ms int) *durationpb.Duration {
	return durationpb.New(time.Duration(ms) * time.Millisecond)
}
