package ops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"

	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// ErrUnknownWebhook: no executor ever served the webhook.
var ErrUnknownWebhook = rdb.ErrUnknownWebhook

// webhookPath and webhookURLField mirror the executor's
// (internal/executor.WebhookPath, ExecutorWebhookURL), which ops does not
// import.
const (
	webhookPath     = "/webhooks/"
	webhookURLField = "webhook_url"
)

// WebhookView is a webhook as operators see it.
type WebhookView struct {
	rdb.WebhookState
	Database string
	// Declared says a live executor declares it.
	Declared bool
	// URL is where a live executor of its worker serves it ("" when none
	// serves webhooks: SYNQ_WEBHOOK_ADDR is not set).
	URL string
}

// Webhooks lists the webhooks the live builds declare, then any others
// Redis remembers, by key.
func (o *Ops) Webhooks(ctx context.Context) ([]WebhookView, error) {
	live, err := o.rdb.LiveBuilds(ctx)
	if err != nil {
		return nil, err
	}
	execs, err := o.rdb.Executors(ctx)
	if err != nil {
		return nil, err
	}
	base := map[string]string{} // worker → a live executor's webhook URL
	ids := make([]string, 0, len(execs))
	for id := range execs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := execs[id]
		if u := rec[webhookURLField]; u != "" && base[rec["worker"]] == "" {
			base[rec["worker"]] = u
		}
	}
	declared := map[string]spec.ManifestWebhook{}
	for _, lb := range live {
		m, err := spec.ParseManifest(lb.Manifest)
		if err != nil {
			continue
		}
		for _, h := range m.Webhooks {
			declared[h.Key] = h
		}
	}
	keys := make([]string, 0, len(declared))
	for k := range declared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]WebhookView, 0, len(keys))
	for _, k := range keys {
		st, err := o.rdb.Webhook(ctx, k)
		if err != nil {
			return nil, err
		}
		v := WebhookView{WebhookState: st, Database: declared[k].Database, Declared: true}
		if b := base[st.Worker]; b != "" && st.Token != "" {
			v.URL = b + webhookPath + k + "/" + st.Token
		}
		out = append(out, v)
	}
	return out, nil
}

// Webhook returns one webhook.
func (o *Ops) Webhook(ctx context.Context, key string) (WebhookView, error) {
	all, err := o.Webhooks(ctx)
	if err != nil {
		return WebhookView{}, err
	}
	for _, v := range all {
		if v.Key == key {
			return v, nil
		}
	}
	st, err := o.rdb.Webhook(ctx, key)
	if err != nil {
		return WebhookView{}, err
	}
	if !st.Exists {
		return WebhookView{}, o.unknownWebhook(key, all)
	}
	return WebhookView{WebhookState: st}, nil
}

func (o *Ops) unknownWebhook(key string, all []WebhookView) error {
	var names []string
	for _, v := range all {
		names = append(names, v.Key)
	}
	return fmt.Errorf("no webhook %q (declared: %v): `ctl webhooks list` shows them: %w", key, names, ErrUnknownWebhook)
}

// Deliveries lists a webhook's recent deliveries, newest first.
func (o *Ops) Deliveries(ctx context.Context, key string, limit int) ([]rdb.WebhookDeliveryRecord, error) {
	if _, err := o.Webhook(ctx, key); err != nil {
		return nil, err
	}
	return o.rdb.WebhookDeliveries(ctx, key, limit)
}

// RotateWebhook gives a webhook a new URL token: the old URL answers 404
// from then on. It returns the webhook with its new URL.
func (o *Ops) RotateWebhook(ctx context.Context, key string) (WebhookView, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return WebhookView{}, err
	}
	if err := o.rdb.RotateWebhookToken(ctx, key, base64.RawURLEncoding.EncodeToString(b)); err != nil {
		if errors.Is(err, rdb.ErrUnknownWebhook) {
			all, _ := o.Webhooks(ctx)
			return WebhookView{}, o.unknownWebhook(key, all)
		}
		return WebhookView{}, err
	}
	o.log.Info("webhook token rotated", "webhook", key)
	return o.Webhook(ctx, key)
}

// EnableWebhook makes a webhook disabled by verification failures live
// again.
func (o *Ops) EnableWebhook(ctx context.Context, key string) (WebhookView, error) {
	if err := o.rdb.EnableWebhook(ctx, key); err != nil {
		if errors.Is(err, rdb.ErrUnknownWebhook) {
			all, _ := o.Webhooks(ctx)
			return WebhookView{}, o.unknownWebhook(key, all)
		}
		return WebhookView{}, err
	}
	o.log.Info("webhook enabled", "webhook", key)
	return o.Webhook(ctx, key)
}
