package engine_test

import (
	"context"
	"sync"

	"github.com/synqhq/synq"
	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/schema"
)

// linkFeed serves rows of the "links" database, each naming rows of the
// "targets" database by key, 100 changes a page.
type linkFeed struct {
	mu      sync.Mutex
	changes []synq.Change
}

func (f *linkFeed) add(k string, targets ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, synq.Upsert(k, builder.Properties{"Target": builder.Relation(targets...)}))
}

func (f *linkFeed) execute(ctx context.Context, _ *struct{}) (synq.Result[struct{}], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(100, len(f.changes))
	c := f.changes[:n]
	f.changes = f.changes[n:]
	return synq.Result[struct{}]{Changes: c, HasMore: len(f.changes) > 0}, nil
}

// linksWorker declares "targets" and "links" (links.Target → targets) with
// an incremental sync for each; targetFeed may be nil.
func linksWorker(links, targets *linkFeed) *synq.Worker {
	if targets == nil {
		targets = &linkFeed{}
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "links"})
	tdb := w.Database("targets", synq.DatabaseConfig{InitialTitle: "Targets", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":    schema.Title(),
		"Target": schema.Relation("targets"), // unused by targets' rows
	}})
	ldb := w.Database("links", synq.DatabaseConfig{InitialTitle: "Links", PrimaryKey: "Key", Schema: schema.Properties{
		"Key":    schema.Title(),
		"Target": schema.Relation("targets"),
	}})
	synq.AddSync(w, "targetsSync", synq.SyncConfig[struct{}]{Database: tdb, Mode: synq.Incremental, Schedule: "manual", Execute: targets.execute})
	synq.AddSync(w, "linksSync", synq.SyncConfig[struct{}]{Database: ldb, Mode: synq.Incremental, Schedule: "manual", Execute: links.execute})
	return w
}
