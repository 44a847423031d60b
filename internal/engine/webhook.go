package engine

import (
	"context"
	"log/slog"

	"github.com/synqhq/synq/internal/spec"
)

// DeliveryRequest is the changes one webhook delivery returned.
type DeliveryRequest struct {
	// Webhook is the webhook's key; Delivery the delivery's id.
	Webhook, Delivery string
	// Database is the webhook's default target database ("": each change
	// names its own).
	Database string
	Changes  []spec.Change
	Logger   *slog.Logger
	// Attempt identifies this attempt at the delivery (the task id and
	// its retry count), as PageRequest.Attempt does a page's: the claims
	// it left behind in a Redis outage are its own to take over.
	Attempt string
}

// ApplyDelivery writes a webhook delivery's changes to Notion through the
// same path a sync's page takes: validated as a whole before anything is
// written, then the key index, the per-key claims, the stale rule by
// UpstreamUpdatedAt, relations (waiting for rows not written yet) and
// bodies, with the Notion calls paced under the webhook's name. Upserts
// are idempotent by key, so applying a delivery again (a retry after a
// failure part-way) writes only what is missing. This is the webhooks'
// only way into the engine.
func (e *Engine) ApplyDelivery(ctx context.Context, req DeliveryRequest) (Counters, error) {
	// A webhook acts as an incremental sync without state: the engine's
	// rules and error messages name it like one.
	s := &spec.Sync{Key: "webhook:" + req.Webhook, Database: req.Database, Mode: spec.Incremental}
	log := req.Logger
	if log == nil {
		log = e.log.With("webhook", req.Webhook, "delivery", req.Delivery)
	}
	ctx = spec.WithExec(ctx, &spec.Exec{Sync: s.Key, Run: req.Delivery, Logger: log})
	ctx, _ = withPageInfo(ctx, false, log)
	ctx = withAttempt(ctx, req.Attempt)
	rows, err := prepare(e.set, s, req.Changes)
	if err != nil {
		return nil, err
	}
	counters, _, err := e.applyRows(ctx, s.Key, req.Delivery, rows, log)
	if err != nil {
		return counters, err
	}
	if err := e.settleRelations(ctx, s, rows, false, log, counters); err != nil {
		log.Warn("could not settle relations waiting for rows; they stay waiting", "err", err)
	}
	return counters, nil
}
