package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/schema"
)

// BenchmarkWebhook measures webhooks on one in-process executor against
// the unpaced emulator:
//
//   - latency: deliveries sent one every 20 ms, each upserting its own
//     row; receive→handled is the delivery record's received (the 202)
//     to handled (after the row is written to Notion): p50_ms, p99_ms;
//   - throughput: deliveries sent as fast as 32 senders can, each a row;
//     accepted_per_s is 202s a second of sending; every one accepted must
//     become a row (lost must be 0).
func BenchmarkWebhook(b *testing.B) {
	b.Setenv("BENCH_WEBHOOK_SECRET", webhookSecret)
	s := newStack(b)
	w := synq.NewWorker(synq.WorkerConfig{Name: "bench"})
	db := w.Database("bench", synq.DatabaseConfig{InitialTitle: "Bench", PrimaryKey: "Key",
		Schema: schema.Properties{"Key": schema.Title(), "N": schema.Number()}})
	synq.AddWebhook(w, "bench", synq.WebhookConfig{
		Verify:   synq.VerifyHMACSHA256("X-Signature", "sha256=", "BENCH_WEBHOOK_SECRET"),
		Database: db,
		Handle: func(ctx context.Context, d *synq.WebhookDelivery) (synq.WebhookResult, error) {
			var ev hookEvent
			if err := d.JSON(&ev); err != nil {
				return synq.WebhookResult{}, err
			}
			return synq.WebhookResult{Changes: []synq.Change{synq.Upsert(ev.Key, builder.Properties{"N": builder.Int(ev.N)})}}, nil
		},
	})
	x, err := synq.NewExecutor(context.Background(), w, synq.ExecutorConfig{
		RedisURL: s.redis.URL(), NotionToken: notiontest.Token, NotionBaseURL: s.emu.URL(),
		NotionParentPageID: notiontest.ParentPageID(), NotionRateLimit: synq.Unlimited, Concurrency: 8,
		WebhookAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := x.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Stop(context.Background()) })
	st, err := s.rdb.Webhook(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + x.WebhookAddr() + "/webhooks/bench/" + st.Token
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	send := func(id string, n int64) int {
		body := fmt.Appendf(nil, `{"key":%q,"n":%d}`, id, n)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("X-Signature", "sha256="+synq.SignHMACSHA256(webhookSecret, body))
		req.Header.Set("X-Delivery-Id", id)
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	handled := func() int64 {
		st, _ := s.rdb.Webhook(context.Background(), "bench")
		return st.Handled
	}
	const latencyN, burstN = 200, 3000
	var p50, p99, rate float64
	var lost int64
	for i := range b.N {
		// Latency, at a steady 50 a second.
		base := handled()
		for k := range latencyN {
			if c := send(fmt.Sprintf("lat-%d-%d", i, k), int64(k)); c != http.StatusAccepted {
				b.Fatalf("delivery answered %d", c)
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.waitFor(2*time.Minute, "the latency deliveries handled", func() bool { return handled() >= base+latencyN })
		ds, err := s.rdb.WebhookDeliveries(context.Background(), "bench", latencyN)
		if err != nil {
			b.Fatal(err)
		}
		var ms []float64
		for _, d := range ds {
			ms = append(ms, float64(d.Handled.Sub(d.Received).Milliseconds()))
		}
		slices.Sort(ms)
		p50, p99 = pct(ms, 0.50), pct(ms, 0.99)

		// Throughput: as fast as 32 senders go.
		base = handled()
		var accepted atomic.Int64
		ids := make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		for range 32 {
			wg.Go(func() {
				for k := range ids {
					if send(fmt.Sprintf("burst-%d-%d", i, k), int64(k)) == http.StatusAccepted {
						accepted.Add(1)
					}
				}
			})
		}
		for k := range burstN {
			ids <- k
		}
		close(ids)
		wg.Wait()
		took := time.Since(start)
		rate = float64(accepted.Load()) / took.Seconds()
		s.waitFor(5*time.Minute, "the burst handled", func() bool { return handled() >= base+accepted.Load() })
		rows := s.rowsOf("bench")
		lost = 0
		for k := range burstN {
			if rows[fmt.Sprintf("burst-%d-%d", i, k)] == nil {
				lost++
			}
		}
		if a := accepted.Load(); a != burstN {
			b.Logf("%d of %d burst deliveries accepted", a, burstN)
		}
	}
	b.ReportMetric(p50, "p50_ms")
	b.ReportMetric(p99, "p99_ms")
	b.ReportMetric(rate, "accepted_per_s")
	b.ReportMetric(float64(lost), "lost")
}
