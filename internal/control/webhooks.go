package control

import (
	"context"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// ListWebhooks lists the declared webhooks.
func (s *Service) ListWebhooks(ctx context.Context, _ *synqv1.ListWebhooksRequest) (*synqv1.ListWebhooksResponse, error) {
	vs, err := s.ops.Webhooks(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.ListWebhooksResponse{}
	for _, v := range vs {
		out.Webhooks = append(out.Webhooks, webhookPB(v))
	}
	return out, nil
}

// ListDeliveries lists a webhook's recent deliveries.
func (s *Service) ListDeliveries(ctx context.Context, r *synqv1.ListDeliveriesRequest) (*synqv1.ListDeliveriesResponse, error) {
	ds, err := s.ops.Deliveries(ctx, r.GetKey(), int(r.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.ListDeliveriesResponse{}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, deliveryPB(d))
	}
	return out, nil
}

// RotateWebhookToken gives a webhook a new URL token.
func (s *Service) RotateWebhookToken(ctx context.Context, r *synqv1.RotateWebhookTokenRequest) (*synqv1.RotateWebhookTokenResponse, error) {
	v, err := s.ops.RotateWebhook(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.RotateWebhookTokenResponse{Webhook: webhookPB(v)}, nil
}

// EnableWebhook makes a disabled webhook live again.
func (s *Service) EnableWebhook(ctx context.Context, r *synqv1.EnableWebhookRequest) (*synqv1.EnableWebhookResponse, error) {
	v, err := s.ops.EnableWebhook(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.EnableWebhookResponse{Webhook: webhookPB(v)}, nil
}

func webhookPB(v ops.WebhookView) *synqv1.Webhook {
	w := &synqv1.Webhook{Key: v.Key, Worker: v.Worker, Database: v.Database, Url: v.URL, Declared: v.Declared,
		Disabled: v.Disabled, VerifyFailuresInRow: v.BadInRow, Received: v.Received, Rejected: v.Rejected,
		Handled: v.Handled, Failed: v.Failed}
	if !v.DisabledAt.IsZero() {
		w.DisabledAt = timestamppb.New(v.DisabledAt)
	}
	return w
}

func deliveryPB(d rdb.WebhookDeliveryRecord) *synqv1.Delivery {
	out := &synqv1.Delivery{Id: d.ID, Status: d.Status, Attempts: d.Attempts, Rows: d.Rows, Triggered: d.Triggered, Error: d.Error}
	if !d.Received.IsZero() {
		out.Received = timestamppb.New(d.Received)
	}
	if !d.Handled.IsZero() {
		out.Handled = timestamppb.New(d.Handled)
		out.Latency = durationpb.New(d.Latency)
	}
	return out
}
