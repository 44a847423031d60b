// Package engine turns the changes an Execute returns into Notion writes,
// exactly once, with as few Notion calls as possible.
//
// Notion allows about three requests a second per integration, so every
// call counts: a per-database index in Redis (key → page id, content hash,
// upstream updated-at) makes an unchanged row cost nothing, a new row one
// create and a changed row one update. A page of changes is validated
// before anything is written and committed atomically with the sync's
// state, so a page is never applied twice.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
)

// Config configures an Engine.
type Config struct {
	Redis  *rdb.RDB
	Notion *notion.Client
	// ParentPageID is the Notion page managed databases are created under
	// (NOTION_PARENT_PAGE_ID).
	ParentPageID string
	Set          *spec.Set
	Logger       *slog.Logger
	// ClaimTTL bounds how long a crashed writer's per-key claim blocks other
	// writers of that key (default ClaimTTLDefault).
	ClaimTTL time.Duration
	// UsersTTL is how long the workspace's email → user id map is cached
	// (default UsersTTLDefault).
	UsersTTL time.Duration
	// UsersMissRefresh is how old the cached user list must be before an
	// email it lacks makes it be listed again (a member who just joined);
	// default UsersMissRefreshDefault, so unknown emails cost at most one
	// listing a minute.
	UsersMissRefresh time.Duration
	// SettleDelay is how long a write whose outcome is unknown (a timeout,
	// a 500) is given to show up in a query before it is sent again
	// (default SettleDelayDefault).
	SettleDelay time.Duration
	// ProvisionBackoff is the first wait between provisioning attempts
	// after a transient error, doubled up to a minute (default
	// ProvisionBackoffDefault).
	ProvisionBackoff time.Duration
	// PendingTTL is how long a relation waits for related rows that are
	// not written yet before it is given up (default PendingTTLDefault).
	PendingTTL time.Duration
	// DoubtFirst is when a key left in doubt (a write of it that its
	// writer gave up on may still land: see rdb.Doubt) is first checked
	// again; later checks come DoubtFactor times later each, until
	// DoubtWindow after the doubt was recorded (defaults DoubtFirstDefault,
	// DoubtFactorDefault, DoubtWindowDefault).
	DoubtFirst  time.Duration
	DoubtFactor float64
	DoubtWindow time.Duration
	// WriteConcurrency is how many rows of a page are written to Notion at
	// once (default WriteConcurrencyDefault; 1 writes them one after
	// another). Notion answers a write in a few hundred milliseconds, so
	// one writer at a time uses a fraction of the token's budget; the
	// pacer bounds the calls of all writers together either way.
	WriteConcurrency int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Engine applies pages of changes. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	rdb    *rdb.RDB
	notion *notion.Client
	set    *spec.Set
	log    *slog.Logger
	token  string // identifies this engine's claims

	provMu      sync.Mutex
	provisioned map[string]rdb.DatabaseIDs
	// createdNow names the databases the running provision created
	// (guarded by provMu like provisioned).
	createdNow map[string]bool

	usersMu     sync.Mutex
	users       map[string]string
	usersAt     time.Time
	usersFlight singleflight.Group
	claims      atomic.Int64 // numbers the claim tokens
	indexMu     sync.Mutex
	indexing    map[string]*sync.Mutex
}

// Defaults of Config.
const (
	ClaimTTLDefault         = 30 * time.Second
	UsersTTLDefault         = 10 * time.Minute
	UsersMissRefreshDefault = time.Minute
	SettleDelayDefault      = 2 * time.Second
	ProvisionBackoffDefault = time.Second
	PendingTTLDefault       = 24 * time.Hour
	DoubtFirstDefault       = 2 * time.Second
	DoubtFactorDefault      = 2
	DoubtWindowDefault      = time.Hour
	// WriteConcurrencyDefault fills a 600 requests/min budget (Notion's
	// Business plan) at 300 ms a call with room to spare: 8 writes in
	// flight are about 1,600 a minute.
	WriteConcurrencyDefault = 8
)

func (c Config) validate() error {
	var errs []error
	if c.Redis == nil {
		errs = append(errs, errors.New("engine: Config.Redis is nil"))
	}
	if c.Notion == nil {
		errs = append(errs, errors.New("engine: Config.Notion is nil"))
	}
	if c.Set == nil {
		errs = append(errs, errors.New("engine: Config.Set is nil"))
	}
	if c.ParentPageID == "" && c.Set != nil && managesDatabases(c.Set) {
		errs = append(errs, errors.New("engine: no parent page: set NOTION_PARENT_PAGE_ID to the id of the Notion page managed databases are created under"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.ClaimTTL = defaults.Positive(c.ClaimTTL, ClaimTTLDefault)
	c.UsersTTL = defaults.Positive(c.UsersTTL, UsersTTLDefault)
	c.UsersMissRefresh = defaults.Positive(c.UsersMissRefresh, UsersMissRefreshDefault)
	c.SettleDelay = defaults.Positive(c.SettleDelay, SettleDelayDefault)
	c.ProvisionBackoff = defaults.Positive(c.ProvisionBackoff, ProvisionBackoffDefault)
	c.PendingTTL = defaults.Positive(c.PendingTTL, PendingTTLDefault)
	c.DoubtFirst = defaults.Positive(c.DoubtFirst, DoubtFirstDefault)
	c.DoubtWindow = defaults.Positive(c.DoubtWindow, DoubtWindowDefault)
	c.WriteConcurrency = defaults.Positive(c.WriteConcurrency, WriteConcurrencyDefault)
	if c.DoubtFactor < 1 {
		c.DoubtFactor = DoubtFactorDefault
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// managesDatabases says whether set declares a database synq creates (not
// only databases people already have, which need no parent page).
func managesDatabases(set *spec.Set) bool {
	for _, d := range set.Databases {
		if !d.IsExisting() {
			return true
		}
	}
	return false
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Engine{
		cfg:         cfg,
		rdb:         cfg.Redis,
		notion:      cfg.Notion,
		set:         cfg.Set,
		log:         cfg.Logger,
		token:       uuid.NewString(),
		provisioned: map[string]rdb.DatabaseIDs{},
		indexing:    map[string]*sync.Mutex{},
	}, nil
}

// Set returns the declarations the engine serves.
func (e *Engine) Set() *spec.Set { return e.set }

func (e *Engine) sync(key string) (*spec.Sync, error) {
	s, ok := e.set.Syncs[key]
	if !ok {
		return nil, fmt.Errorf("sync %q is not declared by worker %q (declared: %v)", key, e.set.Worker, e.set.SyncOrder)
	}
	return s, nil
}

func (e *Engine) indexLock(db string) *sync.Mutex {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	m, ok := e.indexing[db]
	if !ok {
		m = &sync.Mutex{}
		e.indexing[db] = m
	}
	return m
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
