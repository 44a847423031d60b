package rdb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/testutil/redistest"
)

// RecentAlerts lists the newest first, each with its own deliveries, and
// leaves out one that expired between the list and its record (the
// deliveries of those after it must not shift onto it).
func TestRecentAlertsKeepEachDeliveryWithItsAlert(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	r := rdb.New(srv.Client())
	for i := range 4 {
		dests := []string{"slack"}
		if i%2 == 1 {
			dests = append(dests, "json")
		}
		ok, err := r.RecordAlerts(ctx, nil, []rdb.NewAlert{{ID: fmt.Sprintf("a%d", i), Kind: "k", Payload: []byte(fmt.Sprint(i)), Dests: dests, Hold: time.Hour}})
		if !ok || err != nil {
			t.Fatalf("record a%d: %v %v", i, ok, err)
		}
	}
	if err := r.DeliveryOutcome(ctx, rdb.Delivery{ID: "a3", Dest: "json"}, "delivered", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := r.DeliveryOutcome(ctx, rdb.Delivery{ID: "a0", Dest: "slack"}, "failed", "410 Gone", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Del(ctx, rdb.AlertKey("a2")).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := r.RecentAlerts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id    string
		dests string
	}{{"a3", "slack:pending json:delivered"}, {"a1", "slack:pending json:pending"}, {"a0", "slack:failed"}}
	if len(got) != len(want) {
		t.Fatalf("got %d alerts %+v, want a3, a1, a0 (a2 expired)", len(got), got)
	}
	for i, w := range want {
		ds := ""
		for _, d := range got[i].Deliveries {
			if ds != "" {
				ds += " "
			}
			ds += d.Dest + ":" + d.Status
		}
		if got[i].ID != w.id || ds != w.dests {
			t.Errorf("alert %d: %s with %q, want %s with %q", i, got[i].ID, ds, w.id, w.dests)
		}
	}
	if got[2].Deliveries[0].LastError != "410 Gone" || string(got[0].Payload) != "3" {
		t.Errorf("a0's delivery %+v, a3's payload %q", got[2].Deliveries[0], got[0].Payload)
	}
	if none, err := rdb.New(redistest.Start(t).Client()).RecentAlerts(ctx, 10); err != nil || len(none) != 0 {
		t.Errorf("no alerts: %v %v", none, err)
	}
}
