package main

import (
	"context"
	"maps"
	"slices"
	"time"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// liveView keeps the syncs a WatchSyncs stream describes and draws them
// on every message, and again each time every passes. The stream sends changes only, so
// without the ticks a quiet stack would leave its "in 4m35s" and "35s ago"
// columns, and the clock above them, as they were when something last
// changed.
func liveView(ctx context.Context, recv func() (*synqv1.WatchSyncsResponse, error), every time.Duration, limit int, draw func(*synqv1.ListSyncsResponse) error) error {
	type received struct {
		msg *synqv1.WatchSyncsResponse
		err error
	}
	ch := make(chan received)
	go func() {
		for {
			m, err := recv()
			select {
			case ch <- received{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	shown := map[string]*synqv1.Sync{}
	var summary []*synqv1.HealthCount
	started := false
	for {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C
		case r := <-ch:
			if r.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return r.err
			}
			if r.msg.Full {
				clear(shown)
			}
			for _, s := range r.msg.Syncs {
				shown[s.Key] = s
			}
			for _, k := range r.msg.Removed {
				delete(shown, k)
			}
			summary = r.msg.Summary
			started = true
		case <-tick.C:
			if !started {
				continue
			}
		}
		list := &synqv1.ListSyncsResponse{Summary: summary, Matched: int32(len(shown))}
		for _, k := range slices.Sorted(maps.Keys(shown)) {
			if limit > 0 && len(list.Syncs) == limit {
				list.NextPageToken = k
				break
			}
			list.Syncs = append(list.Syncs, shown[k])
		}
		if err := draw(list); err != nil {
			return err
		}
	}
}
