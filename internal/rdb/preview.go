package rdb

import (
	"context"
	"errors"
	"time"
)

// ErrPreviewTimeout means no executor answered a preview in time.
var ErrPreviewTimeout = errors.New("rdb: no executor answered the preview in time")

// PutPreview hands a preview's result to the waiting requester; the result
// expires if nobody reads it.
func (r *RDB) PutPreview(ctx context.Context, id string, result []byte) error {
	p := r.c.TxPipeline()
	p.RPush(ctx, PreviewKey(id), result)
	p.Expire(ctx, PreviewKey(id), 5*time.Minute)
	_, err := p.Exec(ctx)
	return wrap("store preview "+id, err)
}

// WaitPreview blocks until the result of preview id arrives or timeout.
func (r *RDB) WaitPreview(ctx context.Context, id string, timeout time.Duration) ([]byte, error) {
	res, err := r.c.BLPop(ctx, timeout, PreviewKey(id)).Result()
	if IsNil(err) {
		return nil, ErrPreviewTimeout
	}
	if err != nil {
		return nil, wrap("wait for preview "+id, err)
	}
	return []byte(res[1]), nil
}
