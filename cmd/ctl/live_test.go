package main

import (
	"context"
	"errors"
	"testing"
	"time"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// quietStream sends its messages, then blocks as a quiet stack's stream
// does, until ctx ends.
func quietStream(ctx context.Context, msgs ...*synqv1.WatchSyncsResponse) func() (*synqv1.WatchSyncsResponse, error) {
	return func() (*synqv1.WatchSyncsResponse, error) {
		if len(msgs) > 0 {
			m := msgs[0]
			msgs = msgs[1:]
			return m, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// A live view redraws while nothing changes, so its relative times and
// clock move; it applies changes and removals over the first full list.
func TestLiveViewRedrawsAQuietStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recv := quietStream(ctx,
		&synqv1.WatchSyncsResponse{Full: true, Syncs: []*synqv1.Sync{{Key: "b"}, {Key: "a"}, {Key: "c"}}},
		&synqv1.WatchSyncsResponse{Syncs: []*synqv1.Sync{{Key: "d"}}, Removed: []string{"c"}},
	)
	var draws []*synqv1.ListSyncsResponse
	errEnough := errors.New("enough")
	err := liveView(ctx, recv, 5*time.Millisecond, 2, func(l *synqv1.ListSyncsResponse) error {
		draws = append(draws, l)
		if len(draws) == 5 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("liveView = %v after %d draws; want five draws of two messages (a quiet stream must still be redrawn)", err, len(draws))
	}
	last := draws[len(draws)-1]
	var keys []string
	for _, s := range last.Syncs {
		keys = append(keys, s.Key)
	}
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "b" || last.Matched != 3 || last.NextPageToken != "d" {
		t.Fatalf("last draw: keys %v, matched %d, next %q; want [a b] of 3 (a b d), next d", keys, last.Matched, last.NextPageToken)
	}
}

// Ctrl-C ends the view without an error; a stream error ends it with that
// error.
func TestLiveViewEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := liveView(ctx, quietStream(ctx, &synqv1.WatchSyncsResponse{Full: true}), time.Millisecond, 0, func(*synqv1.ListSyncsResponse) error { return nil })
	if err != nil {
		t.Fatalf("cancelled view = %v, want nil", err)
	}
	boom := errors.New("scheduler went away")
	err = liveView(context.Background(), func() (*synqv1.WatchSyncsResponse, error) { return nil, boom }, time.Millisecond, 0, func(*synqv1.ListSyncsResponse) error {
		t.Error("drew before any message")
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("stream error: liveView = %v, want %v", err, boom)
	}
}
