package control

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/synqhq/synq/internal/alerts"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// TestAlert sends a test notification from this replica.
func (s *Service) TestAlert(ctx context.Context, r *synqv1.TestAlertRequest) (*synqv1.TestAlertResponse, error) {
	if s.cfg.Alerts == nil {
		return nil, errf(codes.FailedPrecondition, "this scheduler does not send alerts")
	}
	if len(s.cfg.Alerts.Destinations()) == 0 {
		return nil, errf(codes.FailedPrecondition, "no alert destinations: set SYNQ_ALERT_WEBHOOK_URL (Slack-compatible) or SYNQ_ALERT_JSON_URL on the scheduler, restart it, then run `ctl alerts test` again")
	}
	n, res, err := s.cfg.Alerts.SendTest(ctx, r.GetBy())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.TestAlertResponse{AlertId: n.ID}
	for _, x := range res {
		d := &synqv1.AlertDestinationResult{Destination: x.Destination.String(), Delivered: x.Err == nil}
		if x.Err != nil {
			d.Error = x.Err.Error()
		}
		out.Results = append(out.Results, d)
	}
	return out, nil
}

// ListAlerts lists the newest notifications.
func (s *Service) ListAlerts(ctx context.Context, r *synqv1.ListAlertsRequest) (*synqv1.ListAlertsResponse, error) {
	limit := int(r.GetLimit())
	if limit < 0 {
		return nil, errf(codes.InvalidArgument, "limit must not be negative (got %d)", limit)
	}
	if limit == 0 {
		limit = 50
	}
	recs, err := s.ops.RDB().RecentAlerts(ctx, min(limit, 200))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.ListAlertsResponse{}
	for _, rec := range recs {
		n, err := alerts.Decode(rec.Payload)
		if err != nil {
			continue
		}
		a := &synqv1.Alert{Id: rec.ID, Kind: rec.Kind, Severity: n.Severity, Title: n.Title, Text: n.Text, Sync: n.Sync,
			Worker: n.Worker, RunId: n.Run, Created: timestamppb.New(rec.Created)}
		for _, d := range rec.Deliveries {
			ad := &synqv1.AlertDelivery{Destination: d.Dest, Status: d.Status, Attempts: int32(d.Attempts), LastError: d.LastError}
			if !d.Delivered.IsZero() {
				ad.Delivered = timestamppb.New(d.Delivered)
			}
			a.Deliveries = append(a.Deliveries, ad)
		}
		out.Alerts = append(out.Alerts, a)
	}
	return out, nil
}
