package synq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/spec"
	"github.com/synqhq/synq/schema"
)

type cursor struct {
	N int `json:"n"`
}

func okExecute(ctx context.Context, c *cursor) (synq.Result[cursor], error) {
	return synq.Result[cursor]{}, nil
}

func validDB(w *synq.Worker, key string) *synq.Database {
	return w.Database(key, synq.DatabaseConfig{
		InitialTitle: "T " + key,
		PrimaryKey:   "ID",
		Schema:       schema.Properties{"ID": schema.Title(), "Note": schema.RichText()},
	})
}

func TestDeclarationErrors(t *testing.T) {
	cases := []struct {
		name    string
		declare func(w *synq.Worker)
		want    []string
	}{
		{"duplicate database", func(w *synq.Worker) { validDB(w, "a"); validDB(w, "a") },
			[]string{`database key "a" is declared twice`}},
		{"duplicate sync", func(w *synq.Worker) {
			db := validDB(w, "a")
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: db, Execute: okExecute})
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: db, Execute: okExecute})
		}, []string{`sync key "s" is declared twice`}},
		{"duplicate pacer", func(w *synq.Worker) {
			w.Pacer("p", synq.PacerConfig{AllowedRequests: 1, Interval: time.Second})
			w.Pacer("p", synq.PacerConfig{AllowedRequests: 1, Interval: time.Second})
		}, []string{`pacer key "p" is declared twice`}},
		{"bad key", func(w *synq.Worker) { validDB(w, "a{b}") }, []string{`database key "a{b}": use letters`}},
		{"primary key not in schema", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "Key", Schema: schema.Properties{"Name": schema.Title()}})
		}, []string{`database "a": PrimaryKey "Key" is not in the schema`}},
		{"primary key empty", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", Schema: schema.Properties{"Name": schema.Title()}})
		}, []string{`PrimaryKey is empty`}},
		{"primary key wrong type", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "N", Schema: schema.Properties{"Name": schema.Title(), "N": schema.Number()}})
		}, []string{`PrimaryKey "N" is a number property`}},
		{"no title", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "N", Schema: schema.Properties{"N": schema.RichText()}})
		}, []string{`0 title properties`}},
		{"empty schema and title", func(w *synq.Worker) { w.Database("a", synq.DatabaseConfig{PrimaryKey: "N"}) },
			[]string{`InitialTitle is empty`, `Schema is empty`}},
		{"relation to undeclared database", func(w *synq.Worker) {
			w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "Project": schema.Relation("projetcs")}})
		}, []string{`property "Project" relates to database "projetcs", which is not declared`}},
		{"relation without database", func(w *synq.Worker) {
			w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "Project": {Type: schema.TypeRelation}}})
		}, []string{`relation without a related database`}},
		{"empty select option", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "Prio": schema.Select(schema.Options("high", "")...)}})
		}, []string{`property "Prio": option 1 has an empty name`}},
		{"duplicate option", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "Tags": schema.MultiSelect(schema.Options("x", "x")...)}})
		}, []string{`option "x" is declared twice`}},
		{"status group unknown option", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "S": schema.Status(schema.Options("New"), schema.StatusGroup{Name: "Complete", Options: []string{"Done"}})}})
		}, []string{`status group "Complete" lists option "Done"`}},
		{"unknown type", func(w *synq.Worker) {
			w.Database("a", synq.DatabaseConfig{InitialTitle: "A", PrimaryKey: "ID", Schema: schema.Properties{
				"ID": schema.Title(), "X": {Type: "formula"}}})
		}, []string{`property "X": unknown type "formula"`}},
		{"schedule too short", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Schedule: "1m", Execute: okExecute})
		}, []string{`sync "s": schedule "1m" is outside 5m–7d`}},
		{"schedule too long", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Schedule: "8d", Execute: okExecute})
		}, []string{`schedule "8d" is outside 5m–7d`}},
		{"schedule garbage", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Schedule: "hourly", Execute: okExecute})
		}, []string{`schedule "hourly": use "manual", "continuous" or an interval`}},
		{"nil database", func(w *synq.Worker) { synq.AddSync(w, "s", synq.SyncConfig[cursor]{Execute: okExecute}) },
			[]string{`sync "s": Database is nil`}},
		{"database of other worker", func(w *synq.Worker) {
			other := synq.NewWorker(synq.WorkerConfig{Name: "other"})
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(other, "a"), Execute: okExecute})
		}, []string{`Database "a" belongs to another worker`}},
		{"nil execute", func(w *synq.Worker) { synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a")}) },
			[]string{`sync "s": Execute is nil`}},
		{"bad mode", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Mode: synq.Mode(7), Execute: okExecute})
		}, []string{`unknown Mode 7`}},
		{"negative timeout and attempts", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Timeout: -1, MaxAttempts: -1, Execute: okExecute})
		}, []string{`Timeout is negative`, `MaxAttempts is negative`}},
		{"trash fraction outside (0, 1]", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), MaxTrashFraction: 1.5, Execute: okExecute})
			synq.AddSync(w, "t", synq.SyncConfig[cursor]{Database: validDB(w, "b"), MaxTrashFraction: -0.1, Execute: okExecute})
		}, []string{`sync "s": MaxTrashFraction 1.5 is not a fraction`, `sync "t": MaxTrashFraction -0.1 is not a fraction`}},
		{"unencodable state", func(w *synq.Worker) {
			synq.AddSync(w, "s", synq.SyncConfig[chan int]{Database: validDB(w, "a"),
				Execute: func(context.Context, *chan int) (synq.Result[chan int], error) { return synq.Result[chan int]{}, nil }})
		}, []string{`state type chan int cannot be encoded as JSON`}},
		{"bad pacer", func(w *synq.Worker) { w.Pacer("p", synq.PacerConfig{}) },
			[]string{`pacer "p": AllowedRequests is 0`, `pacer "p": Interval is 0s`}},
		{"undeclared pacer", func(w *synq.Worker) {
			other := synq.NewWorker(synq.WorkerConfig{})
			p := other.Pacer("p", synq.PacerConfig{AllowedRequests: 1, Interval: time.Second})
			synq.AddSync(w, "s", synq.SyncConfig[cursor]{Database: validDB(w, "a"), Execute: okExecute, Pacers: []*synq.Pacer{p}})
		}, []string{`pacer "p" is not declared on this worker`}},
	}
	t.Run("worker name", func(t *testing.T) {
		w := synq.NewWorker(synq.WorkerConfig{Name: "my team"})
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), `worker name "my team"`) {
			t.Fatalf("Validate() = %v", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := synq.NewWorker(synq.WorkerConfig{Name: "t"})
			tc.declare(w)
			err := w.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.want)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
				}
			}
			if _, err := w.Manifest(); err == nil {
				t.Error("Manifest() of an invalid worker succeeded")
			}
		})
	}
}

func seedWorker(execute func(context.Context, *cursor) (synq.Result[cursor], error)) (*synq.Worker, *synq.Database, *synq.Database) {
	w := synq.NewWorker(synq.WorkerConfig{Name: "t"})
	projects := w.Database("projects", synq.DatabaseConfig{InitialTitle: "Projects", PrimaryKey: "ID", Schema: schema.Properties{"ID": schema.Title()}})
	tasks := w.Database("tasks", synq.DatabaseConfig{InitialTitle: "Tasks", PrimaryKey: "ID", Schema: schema.Properties{
		"ID":      schema.Title(),
		"Project": schema.Relation("projects", schema.RelationConfig{TwoWay: true, RelatedPropertyName: "Tasks"}),
	}})
	p := w.Pacer("api", synq.PacerConfig{AllowedRequests: 1000, Interval: time.Second})
	synq.AddSync(w, "tasksSync", synq.SyncConfig[cursor]{Database: tasks, Mode: synq.Incremental, Schedule: "15m", Execute: execute, Pacers: []*synq.Pacer{p}})
	return w, projects, tasks
}

func TestExecuteErasesState(t *testing.T) {
	var got []int
	var projects *synq.Database
	w, projects, _ := seedWorker(func(ctx context.Context, c *cursor) (synq.Result[cursor], error) {
		got = append(got, c.N)
		switch c.N {
		case 0:
			return synq.Result[cursor]{HasMore: true, NextState: &cursor{N: 1}, Changes: []synq.Change{
				synq.Upsert("t1", builder.Properties{"Project": builder.Relation("p1")}).UpdatedAt(time.Unix(10, 0)).WithIcon("🧪"),
				synq.Upsert("p1", builder.Properties{"ID": builder.Title("p1")}).In(projects),
				synq.Delete("t0"),
			}}, nil
		case 1:
			return synq.Result[cursor]{}, nil // nil NextState keeps the state
		case 2:
			panic("boom")
		}
		return synq.Result[cursor]{}, &synq.RateLimitError{RetryAfter: time.Second}
	})
	set, err := w.Spec(spec.Access{})
	if err != nil {
		t.Fatal(err)
	}
	s := set.Syncs["tasksSync"]
	if s.Mode != spec.Incremental || s.Schedule.Interval != 15*time.Minute || s.Timeout != spec.TimeoutDefault || s.MaxAttempts != spec.MaxAttemptsDefault {
		t.Fatalf("sync spec = %+v", s)
	}
	page, err := s.Execute(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !page.HasMore || string(page.NextState) != `{"n":1}` || len(page.Changes) != 3 {
		t.Fatalf("page 0 = %+v", page)
	}
	c0, c1, c2 := page.Changes[0], page.Changes[1], page.Changes[2]
	if c0.Key != "t1" || c0.Database != "" || !c0.UpstreamUpdatedAt.Equal(time.Unix(10, 0)) || c0.Icon != "🧪" || c0.Properties["Project"].Keys[0] != "p1" {
		t.Errorf("change 0 = %+v", c0)
	}
	if c1.Database != "projects" || s.TargetDatabase(c1) != "projects" || s.TargetDatabase(c0) != "tasks" {
		t.Errorf("change 1 targets %q", c1.Database)
	}
	if !c2.Delete || c2.Key != "t0" {
		t.Errorf("change 2 = %+v", c2)
	}
	page, err = s.Execute(context.Background(), json.RawMessage(`{"n":1}`))
	if err != nil || page.NextState != nil || page.HasMore {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	_, err = s.Execute(context.Background(), json.RawMessage(`{"n":2}`))
	var pe *synq.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(pe.Stack, "synq_test") {
		t.Fatalf("panic: err = %v", err)
	}
	_, err = s.Execute(context.Background(), json.RawMessage(`{"n":3}`))
	var rl interface{ RetryAfterDuration() time.Duration }
	if !errors.As(err, &rl) || rl.RetryAfterDuration() != time.Second {
		t.Fatalf("rate limit: err = %v", err)
	}
	_, err = s.Execute(context.Background(), json.RawMessage(`{"n":"x"}`))
	var se *synq.StateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "ctl state reset tasksSync") {
		t.Fatalf("bad state: err = %v", err)
	}
	if want := []int{0, 1, 2, 3}; len(got) != 4 {
		t.Fatalf("Execute saw states %v, want %v", got, want)
	}
}

func TestExecuteRejectsBadChanges(t *testing.T) {
	other := synq.NewWorker(synq.WorkerConfig{})
	foreign := validDB(other, "x")
	w, _, _ := seedWorker(func(ctx context.Context, c *cursor) (synq.Result[cursor], error) {
		if c.N == 0 {
			return synq.Result[cursor]{Changes: []synq.Change{synq.Upsert("", nil)}}, nil
		}
		return synq.Result[cursor]{Changes: []synq.Change{synq.Upsert("k", nil).In(foreign)}}, nil
	})
	set, err := w.Spec(spec.Access{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Syncs["tasksSync"].Execute(context.Background(), nil)
	var ce *synq.ChangeError
	if !errors.As(err, &ce) || ce.Index != 0 || !strings.Contains(err.Error(), "empty key") {
		t.Fatalf("empty key: err = %v", err)
	}
	// Retrying cannot fix it: the executor fails the page at once.
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Fatalf("a ChangeError is not permanent: %v", err)
	}
	_, err = set.Syncs["tasksSync"].Execute(context.Background(), json.RawMessage(`{"n":1}`))
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `target database "x" belongs to another worker`) {
		t.Fatalf("foreign db: err = %v", err)
	}
}

func TestManifest(t *testing.T) {
	w, _, _ := seedWorker(okExecute)
	b, err := w.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := spec.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Worker != "t" || len(m.Databases) != 2 || len(m.Pacers) != 1 || len(m.Syncs) != 1 {
		t.Fatalf("manifest = %s", b)
	}
	s := m.Sync("tasksSync")
	if s == nil || s.Mode != spec.Incremental || s.Schedule.Text != "15m" || s.Schedule.Interval != 15*time.Minute || s.Database != "tasks" || s.Pacers[0] != "api" {
		t.Fatalf("manifest sync = %+v", s)
	}
	rel := m.Databases[1].Schema["Project"].Relation
	if rel == nil || rel.Database != "projects" || !rel.TwoWay || rel.RelatedPropertyName != "Tasks" {
		t.Fatalf("manifest relation = %+v", rel)
	}
	if m.Pacers[0].AllowedRequests != 1000 || m.Pacers[0].Interval != time.Second {
		t.Fatalf("manifest pacer = %+v", m.Pacers[0])
	}
}

type recordingWaiter struct{ got []string }

func (r *recordingWaiter) WaitPacer(ctx context.Context, p spec.Pacer, consumer string) error {
	r.got = append(r.got, p.Key+"/"+consumer)
	return nil
}

func TestPacerWait(t *testing.T) {
	w := synq.NewWorker(synq.WorkerConfig{})
	p := w.Pacer("api", synq.PacerConfig{AllowedRequests: 1, Interval: time.Hour})
	// Outside an executor the pacer is local: the first request passes, the
	// second would wait an hour, so a short deadline must end it.
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), `pacer "api"`) {
		t.Fatalf("second local Wait = %v, want an error naming the pacer", err)
	}
	// Inside an executor it goes to the shared pacer with the sync as consumer.
	rw := &recordingWaiter{}
	ectx := spec.WithExec(context.Background(), &spec.Exec{Sync: "ticketsDelta", Pacers: rw})
	for range 3 {
		if err := p.Wait(ectx); err != nil {
			t.Fatal(err)
		}
	}
	if len(rw.got) != 3 || rw.got[0] != "api/ticketsDelta" {
		t.Fatalf("shared waits = %v", rw.got)
	}
}

func TestParseSchedule(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 30 * time.Minute, "5m": 5 * time.Minute, "2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour, "continuous": spec.ContinuousFloor} {
		s, err := spec.ParseSchedule(in)
		if err != nil || s.Interval != want {
			t.Errorf("ParseSchedule(%q) = %+v, %v; want interval %v", in, s, err, want)
		}
	}
	if s, err := spec.ParseSchedule("manual"); err != nil || s.Kind != spec.Manual {
		t.Errorf("manual = %+v, %v", s, err)
	}
	for _, bad := range []string{"4m", "169h", "8d", "0m", "5s", "m", "-5m", "99999999999999999999m"} {
		if _, err := spec.ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
}

func TestLoggerOutsideExecute(t *testing.T) {
	if synq.Logger(context.Background()) == nil {
		t.Fatal("Logger outside Execute is nil")
	}
}

// sourced tags records with source, and has a user variant, like the
// executor's run log.
type sourced struct {
	slog.Handler
	source string
}

func (s sourced) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("source", s.source))
	return s.Handler.Handle(ctx, r)
}
func (s sourced) UserHandler() slog.Handler { return sourced{s.Handler, "user"} }

// Inside Execute, synq.Logger is the user's variant of the platform logger
// the executor hands in: user lines are never tagged as the platform's.
func TestLoggerInExecuteIsTheUsers(t *testing.T) {
	var out bytes.Buffer
	platform := slog.New(sourced{slog.NewTextHandler(&out, nil), "platform"})
	ctx := spec.WithExec(context.Background(), &spec.Exec{Sync: "s", Logger: platform})
	synq.Logger(ctx).Info("hello")
	platform.Info("engine")
	if got := out.String(); !strings.Contains(got, "msg=hello source=user") || !strings.Contains(got, "msg=engine source=platform") {
		t.Fatalf("lines:\n%s", got)
	}
}

// Healthcheck asks the metrics server's /healthz: 503 while the executor
// starts, with the reason; a wildcard address is asked on loopback.
func TestHealthcheck(t *testing.T) {
	ready := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			http.Error(w, "starting: provisioning the Notion databases", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("SYNQ_METRICS_ADDR", "0.0.0.0:"+port)
	if err := synq.Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "provisioning") {
		t.Fatalf("while starting: %v", err)
	}
	ready = true
	if err := synq.Healthcheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYNQ_METRICS_ADDR", "")
	if err := synq.Healthcheck(context.Background()); err == nil || !strings.Contains(err.Error(), "SYNQ_METRICS_ADDR is not set") {
		t.Fatalf("without an address: %v", err)
	}
}

// SYNQ_NOTION_RATE_LIMIT=0 is unpaced, like ExecutorConfig's Unlimited;
// the struct's zero value is the safe default.
func TestNotionRateLimitFromEnv(t *testing.T) {
	t.Setenv("SYNQ_NOTION_RATE_LIMIT", "0")
	cfg, err := synq.ExecutorConfigFromEnv()
	if err != nil || cfg.NotionRateLimit != synq.Unlimited {
		t.Fatalf("SYNQ_NOTION_RATE_LIMIT=0 → %d, %v; want Unlimited", cfg.NotionRateLimit, err)
	}
	t.Setenv("SYNQ_NOTION_RATE_LIMIT", "")
	if cfg, _ := synq.ExecutorConfigFromEnv(); cfg.NotionRateLimit != 0 || cfg.Logger == nil {
		t.Fatalf("unset → %d (want 0, the default 180), logger %v", cfg.NotionRateLimit, cfg.Logger)
	}
}

// SYNQ_WRITE_CONCURRENCY sets how many rows of a page are written at once;
// unset is the default, and anything but a whole number ≥ 1 is refused
// saying what it wants.
func TestWriteConcurrencyFromEnv(t *testing.T) {
	t.Setenv("SYNQ_WRITE_CONCURRENCY", "16")
	if cfg, err := synq.ExecutorConfigFromEnv(); err != nil || cfg.WriteConcurrency != 16 {
		t.Fatalf("SYNQ_WRITE_CONCURRENCY=16 → %d, %v", cfg.WriteConcurrency, err)
	}
	t.Setenv("SYNQ_WRITE_CONCURRENCY", "")
	if cfg, err := synq.ExecutorConfigFromEnv(); err != nil || cfg.WriteConcurrency != 0 {
		t.Fatalf("unset → %d, %v; want 0 (the default, %d)", cfg.WriteConcurrency, err, synq.WriteConcurrencyDefault)
	}
	for _, bad := range []string{"0", "-2", "eight"} {
		t.Setenv("SYNQ_WRITE_CONCURRENCY", bad)
		if _, err := synq.ExecutorConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "a whole number ≥ 1") {
			t.Errorf("SYNQ_WRITE_CONCURRENCY=%s: %v", bad, err)
		}
	}
}

func TestPollIntervalFromEnv(t *testing.T) {
	t.Setenv("SYNQ_POLL_INTERVAL", "200ms")
	if cfg, err := synq.ExecutorConfigFromEnv(); err != nil || cfg.PollInterval != 200*time.Millisecond {
		t.Fatalf("SYNQ_POLL_INTERVAL=200ms → %v, %v", cfg.PollInterval, err)
	}
	t.Setenv("SYNQ_POLL_INTERVAL", "")
	if cfg, err := synq.ExecutorConfigFromEnv(); err != nil || cfg.PollInterval != 0 {
		t.Fatalf("unset → %v, %v; want 0 (the default, %v)", cfg.PollInterval, err, synq.PollIntervalDefault)
	}
	for _, bad := range []string{"0", "-1s", "fast", "2m"} {
		t.Setenv("SYNQ_POLL_INTERVAL", bad)
		if _, err := synq.ExecutorConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "from 1ms to 1m") {
			t.Errorf("SYNQ_POLL_INTERVAL=%s: %v", bad, err)
		}
	}
}
