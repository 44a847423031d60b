package control_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/control"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// Issue 20, scenario 6: `ctl runs logs --follow` keeps up with a run
// whose log passes its cap (the oldest lines are trimmed while it runs).
func TestFollowKeepsUpPastTheLogCap(t *testing.T) {
	r := redistest.Start(t)
	log := slog.New(slog.DiscardHandler)
	op, err := ops.New(ops.Config{Redis: r.Client(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, control.Config{Ops: op, Logger: log})
	ctx := context.Background()
	db := rdb.New(r.Client())
	run := ops.NewRunID("s", time.Now())
	if res, err := db.StartRun(ctx, rdb.StartRun{Sync: "s", Run: run, Trigger: "manual", Worker: "w", Queue: "synq:w", Task: run + ":0"}); err != nil || !res.Started {
		t.Fatalf("start: %+v %v", res, err)
	}
	const logCap, rounds, perRound = 20, 12, 5
	// The run logs five lines at a time, to three times its cap, then
	// ends.
	go func() {
		n := 0
		for range rounds {
			for range perRound {
				_ = db.AppendLog(ctx, "s", run, logCap, rdb.LogLine{Time: time.Now(), Level: "INFO", Source: "platform", Message: strconv.Itoa(n)})
				n++
			}
			time.Sleep(150 * time.Millisecond)
		}
		_, _, _ = db.CancelRun(ctx, "s", run, "done", logCap, rdb.LogLine{Time: time.Now(), Level: "INFO", Source: "platform", Message: "end"})
	}()
	stream, err := c.GetRunLogs(ctx, &synqv1.GetRunLogsRequest{RunId: run, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range msg.GetLines() {
			got = append(got, l.GetMessage())
		}
	}
	// Lines trimmed before the follower read them are gone; every line it
	// did get is new, in order, and it saw the run's last lines.
	last := -1
	for _, m := range got[:len(got)-1] {
		n, err := strconv.Atoi(m)
		if err != nil || n <= last {
			t.Fatalf("the follower got %q after %d: %v", m, last, got)
		}
		last = n
	}
	if last != rounds*perRound-1 || got[len(got)-1] != "end" {
		t.Fatalf("the follower's last lines are %v, want ... %d end (it went silent past the cap of %d)", got[max(0, len(got)-3):], rounds*perRound-1, logCap)
	}
	if len(got) < logCap {
		t.Fatalf("the follower got %d lines: %v", len(got), got)
	}
}
