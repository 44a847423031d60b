package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/queue"
)

// maxPreviewHandovers bounds how often a preview is passed on between
// builds before the executor answers that its sync is not declared.
const maxPreviewHandovers = 10

// handlePreview runs Execute once for an operator's preview and hands the
// result back through Redis. It writes nothing to Notion or the state.
func (x *Executor) handlePreview(ctx context.Context, p queue.PreviewPayload) error {
	res := ops.PreviewResult{}
	if _, ok := x.cfg.Set.Syncs[p.Sync]; !ok {
		// A rolling deploy: the worker's newest build may declare it.
		if _, newest, declares, err := x.newestDeclares(ctx, p.Sync); err == nil && declares && p.Handovers < maxPreviewHandovers {
			p.Handovers++
			if err := queue.NewClient(x.cfg.Redis).EnqueuePreview(ctx, p, x.queue, time.Minute); err != nil {
				return err
			}
			x.log.Info("handed a preview to the worker's newest build, which declares its sync", "sync", p.Sync, "build", newest)
			return nil
		}
		res.Error = fmt.Sprintf("sync %q is not declared by worker %q (build %s): deploy an executor that declares it", p.Sync, x.cfg.Set.Worker, x.manifest.Build)
	} else {
		pv, err := x.cfg.Engine.Preview(ctx, p.Sync, p.State, x.log.With("sync", p.Sync, "preview", p.ID))
		if err != nil {
			res.Error = err.Error()
		}
		res.HasMore, res.NextState = pv.HasMore, pv.NextState
		for _, c := range pv.Changes {
			res.Changes = append(res.Changes, ops.PreviewChange{Database: c.Database, Key: c.Key, Kind: string(c.Kind), Properties: c.Properties,
				Message: c.Message, Old: c.Old, OldError: c.OldError})
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode preview: %w", err)
	}
	return x.rdb.PutPreview(ctx, p.ID, b)
}
