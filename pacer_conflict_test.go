package synq_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/emulator"
	"github.com/synqhq/synq/internal/testutil/notiontest"
	"github.com/synqhq/synq/internal/testutil/redistest"
	"github.com/synqhq/synq/schema"
)

// recorder keeps the messages of WARN records and above.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) find(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			out = append(out, m)
		}
	}
	return out
}

func pacerWorker(name string, perSecond int) *synq.Worker {
	w := synq.NewWorker(synq.WorkerConfig{Name: name})
	db := w.Database(name+"Db", synq.DatabaseConfig{InitialTitle: name, PrimaryKey: "Key", Schema: schema.Properties{"Key": schema.Title()}})
	api := w.Pacer("sharedApi", synq.PacerConfig{AllowedRequests: perSecond, Interval: time.Second})
	synq.AddSync(w, name+"Sync", synq.SyncConfig[struct{}]{Database: db, Schedule: "manual", Pacers: []*synq.Pacer{api},
		Execute: func(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
			return synq.Result[struct{}]{Changes: []synq.Change{synq.Upsert("k", builder.Properties{})}}, nil
		}})
	return w
}

// Two workers may share a pacer key (one budget), but declaring it with
// two budgets is logged at start-up, naming both; the same budget is not.
func TestPacerKeyWithAnotherBudgetWarns(t *testing.T) {
	r := redistest.Start(t)
	emu := notiontest.Start(t, emulator.Config{})
	ctx := context.Background()
	start := func(w *synq.Worker, log *slog.Logger) {
		x, err := synq.NewExecutor(ctx, w, synq.ExecutorConfig{RedisURL: r.URL(), NotionToken: notiontest.Token, NotionBaseURL: emu.URL(),
			NotionParentPageID: notiontest.ParentPageID(), NotionRateLimit: synq.Unlimited, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = x.Stop(sctx)
		})
	}
	start(pacerWorker("first", 10), slog.New(slog.DiscardHandler))
	same := &recorder{}
	start(pacerWorker("second", 10), slog.New(same))
	if got := same.find(`pacer "sharedApi"`); len(got) != 0 {
		t.Errorf("the same budget was warned about: %q", got)
	}
	other := &recorder{}
	start(pacerWorker("third", 2), slog.New(other))
	got := other.find(`pacer "sharedApi" is declared by worker`)
	if len(got) == 0 {
		t.Fatalf("no warning for a pacer key declared with another budget; warnings: %q", other.msgs)
	}
	if !strings.Contains(got[0], "10 requests per 1s there, 2 per 1s here") {
		t.Errorf("the warning does not give both budgets: %q", got[0])
	}
}
