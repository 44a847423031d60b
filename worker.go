package synq

import (
	"errors"
	"fmt"

	"github.com/synqhq/synq/internal/spec"
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Name identifies the worker in Redis: its manifest and its own task
	// queue. Executors of one deployment share a name; workers that share
	// a Redis need different names (and different sync and database keys).
	// Default WorkerNameDefault.
	Name string
}

// WorkerNameDefault is WorkerConfig.Name's default.
const WorkerNameDefault = "default"

// Worker holds the declarations of one deployment: databases, pacers and
// syncs. Declare everything before starting an executor; a Worker is not safe
// for concurrent declaration.
type Worker struct {
	name string

	databases    map[string]*Database
	dbOrder      []string
	pacers       map[string]*Pacer
	pacerOrder   []string
	syncs        map[string]*Sync
	syncOrder    []string
	webhooks     map[string]*webhookDecl
	webhookOrder []string

	// errs collects mistakes found while declaring; Validate reports them
	// with the cross-checks, so declaring never panics.
	errs []error
}

// NewWorker returns an empty worker.
func NewWorker(cfg WorkerConfig) *Worker {
	name := cfg.Name
	if name == "" {
		name = WorkerNameDefault
	}
	return &Worker{
		name:      name,
		databases: map[string]*Database{},
		pacers:    map[string]*Pacer{},
		syncs:     map[string]*Sync{},
	}
}

// Name returns the worker's name.
func (w *Worker) Name() string { return w.name }

func (w *Worker) checkKey(kind, key string, taken bool) {
	switch {
	case !spec.ValidKey(key):
		w.errs = append(w.errs, fmt.Errorf("%s key %q: use letters, digits, '_', '-' or '.', starting with a letter (at most 100)", kind, key))
	case taken:
		w.errs = append(w.errs, fmt.Errorf("%s key %q is declared twice: keys are unique within a worker, rename one", kind, key))
	}
}

// Validate reports every mistake in the worker's declarations, each naming
// the key and what to change. Executors call it at start-up and refuse to
// start on an error.
func (w *Worker) Validate() error {
	_, err := w.build()
	return err
}

// Spec returns the worker's validated declarations in the erased form
// synq's engine and runtime work on; NewExecutor hands them down itself.
//
// It is exported only so that synq's own packages outside this one
// (synqtest, the engine's and the end-to-end tests) can reach a worker's
// declarations without an init-time registration hook. Its argument and
// result are types of an internal package, which code outside the synq
// module cannot name: such code cannot write a call to Spec, and cannot
// come to depend on the erased form. Use Validate to check declarations
// and Manifest to read them.
func (w *Worker) Spec(spec.Access) (*spec.Set, error) { return w.build() }

// build validates the declarations and returns their erased form.
func (w *Worker) build() (*spec.Set, error) {
	errs := append([]error(nil), w.errs...)
	if !spec.ValidKey(w.name) {
		errs = append(errs, fmt.Errorf("worker name %q: use letters, digits, '_', '-' or '.', starting with a letter (at most 100)", w.name))
	}
	set := &spec.Set{
		Worker:    w.name,
		Databases: map[string]*spec.Database{},
		Syncs:     map[string]*spec.Sync{},
		Pacers:    map[string]*spec.Pacer{},
		Webhooks:  map[string]*spec.Webhook{},
	}
	for _, k := range w.dbOrder {
		d := w.databases[k]
		errs = append(errs, d.validate(w))
		set.Databases[k] = d.spec()
		set.DatabaseOrder = append(set.DatabaseOrder, k)
	}
	for _, k := range w.pacerOrder {
		p := w.pacers[k]
		errs = append(errs, p.validate())
		set.Pacers[k] = &spec.Pacer{Key: k, AllowedRequests: p.cfg.AllowedRequests, Interval: p.cfg.Interval}
		set.PacerOrder = append(set.PacerOrder, k)
	}
	for _, k := range w.syncOrder {
		s := w.syncs[k]
		sp, err := s.spec(w)
		errs = append(errs, err)
		if sp != nil {
			set.Syncs[k] = sp
			set.SyncOrder = append(set.SyncOrder, k)
		}
	}
	for _, k := range w.webhookOrder {
		h, err := w.webhooks[k].spec(w)
		errs = append(errs, err)
		if h != nil {
			set.Webhooks[k] = h
			set.WebhookOrder = append(set.WebhookOrder, k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("worker %q: invalid declarations:\n%w", w.name, err)
	}
	return set, nil
}

// Manifest returns the worker's declarations as the JSON manifest executors
// publish to Redis for the scheduler and the control API.
func (w *Worker) Manifest() ([]byte, error) {
	set, err := w.build()
	if err != nil {
		return nil, err
	}
	return jsonMarshal(set.Manifest())
}
