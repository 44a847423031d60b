package alerts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/defaults"
	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
)

// Defaults of Config.
const (
	EveryDefault              = 2 * time.Second
	FleetEveryDefault         = 30 * time.Second
	ExecutorsAbsentForDefault = 5 * time.Minute
	SendTimeoutDefault        = 10 * time.Second
	RetryBaseDefault          = 2 * time.Second
	RetryMaxDefault           = time.Minute
	GiveUpAfterDefault        = 24 * time.Hour
)

// Config configures a Service.
type Config struct {
	Ops *ops.Ops
	// Leader says whether this scheduler leads: only the leader detects
	// and sends.
	Leader func() bool
	// Destinations receive every notification (none: notifications are
	// recorded, for ctl and the console, and sent nowhere).
	Destinations []Destination
	// Secret, when set, signs every delivery (HeaderSignature).
	Secret []byte
	// ConsoleURL is the console's address as people reach it, for links
	// ("" for none).
	ConsoleURL string
	// Every is how often the detector and the sender run (default
	// EveryDefault); FleetEvery how often the fleet is looked at (default
	// FleetEveryDefault).
	Every, FleetEvery time.Duration
	// ExecutorsAbsentFor is how long a worker with syncs may have no live
	// executor before an alert (default ExecutorsAbsentForDefault).
	ExecutorsAbsentFor time.Duration
	// SendTimeout bounds one delivery attempt (default
	// SendTimeoutDefault); failed attempts are retried after RetryBase,
	// doubling up to RetryMax, until GiveUpAfter since the notification.
	SendTimeout, RetryBase, RetryMax, GiveUpAfter time.Duration
	// HTTPClient sends deliveries (default one with SendTimeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	Metrics    *metrics.Metrics
}

func (c Config) withDefaults() Config {
	c.Every = defaults.Positive(c.Every, EveryDefault)
	c.FleetEvery = defaults.Positive(c.FleetEvery, FleetEveryDefault)
	c.ExecutorsAbsentFor = defaults.Positive(c.ExecutorsAbsentFor, ExecutorsAbsentForDefault)
	c.SendTimeout = defaults.Positive(c.SendTimeout, SendTimeoutDefault)
	c.RetryBase = defaults.Positive(c.RetryBase, RetryBaseDefault)
	c.RetryMax = defaults.Positive(c.RetryMax, RetryMaxDefault)
	c.GiveUpAfter = defaults.Positive(c.GiveUpAfter, GiveUpAfterDefault)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.SendTimeout}
	}
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Service detects and delivers notifications while its scheduler leads.
type Service struct {
	cfg     Config
	rdb     *rdb.RDB
	log     *slog.Logger
	fleetAt time.Time

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Ops == nil {
		return nil, errors.New("alerts: Config.Ops is required")
	}
	if cfg.Leader == nil {
		return nil, errors.New("alerts: Config.Leader is required")
	}
	cfg = cfg.withDefaults()
	return &Service{cfg: cfg, rdb: cfg.Ops.RDB(), log: cfg.Logger.With("component", "alerts")}, nil
}

// Destinations returns the configured destinations.
func (d *Service) Destinations() []Destination { return d.cfg.Destinations }

// Start detects and sends in the background until Stop. The two loops
// are apart so a slow destination never delays detection, and neither
// runs in the scheduler's tick.
func (d *Service) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done != nil {
		return errors.New("alerts: already started")
	}
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.loop(ctx, "detect", d.Detect) }()
	go func() { defer wg.Done(); d.loop(ctx, "send", d.Send) }()
	go func() { wg.Wait(); close(d.done) }()
	return nil
}

// Stop ends both loops; a delivery in flight is abandoned (its claim
// expires and the next leader sends it).
func (d *Service) Stop(ctx context.Context) error {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Service) loop(ctx context.Context, what string, f func(context.Context) error) {
	t := time.NewTicker(d.cfg.Every)
	defer t.Stop()
	for {
		if d.cfg.Leader() {
			if err := f(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, rdb.ErrUnavailable) {
				// An outage is logged once by the Redis monitor.
				d.log.Warn("alerts: "+what+" failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Send delivers the due deliveries: destinations concurrently, each
// destination's in the order they were recorded, so that a receiver sees
// a WARNING before the HEALTHY that follows it. After a failed delivery a
// destination's later ones wait for the next pass.
func (d *Service) Send(ctx context.Context) error {
	lease := d.cfg.SendTimeout + 5*time.Second
	ds, err := d.rdb.ClaimDeliveries(ctx, lease, 50)
	if err != nil || len(ds) == 0 {
		return err
	}
	slices.SortStableFunc(ds, func(a, b rdb.Delivery) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	byDest := map[string][]rdb.Delivery{}
	for _, del := range ds {
		byDest[del.Dest] = append(byDest[del.Dest], del)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, queue := range byDest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, del := range queue {
				ok, err := d.deliver(ctx, del)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				if !ok {
					d.postpone(ctx, queue[i+1:])
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// postpone hands claimed deliveries back, due again in RetryBase.
func (d *Service) postpone(ctx context.Context, ds []rdb.Delivery) {
	if len(ds) == 0 || ctx.Err() != nil {
		return
	}
	octx := context.WithoutCancel(ctx)
	now, err := d.rdb.ServerTime(octx)
	if err != nil {
		return
	}
	for _, del := range ds {
		_ = d.rdb.DeliveryOutcome(octx, del, "retrying", "waiting for an earlier notification to this destination", now.Add(d.cfg.RetryBase))
	}
}

func (d *Service) destination(id string) (Destination, bool) {
	for _, x := range d.cfg.Destinations {
		if x.ID() == id {
			return x, true
		}
	}
	return Destination{}, false
}

// deliver makes one attempt and records its outcome; ok says it was
// delivered (or is given up).
func (d *Service) deliver(ctx context.Context, del rdb.Delivery) (ok bool, err error) {
	octx := context.WithoutCancel(ctx)
	dst, found := d.destination(del.Dest)
	if !found {
		return true, d.rdb.DeliveryOutcome(octx, del, "failed", "destination no longer configured on the leader scheduler", time.Time{})
	}
	n, err := Decode(del.Payload)
	if err != nil {
		return true, d.rdb.DeliveryOutcome(octx, del, "failed", err.Error(), time.Time{})
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	err = dst.send(sctx, d.cfg.HTTPClient, d.cfg.Secret, n, time.Now())
	cancel()
	if ctx.Err() != nil {
		return false, nil // stopping: the claim expires and the next leader sends it
	}
	if err == nil {
		d.count(dst, "delivered")
		return true, d.rdb.DeliveryOutcome(octx, del, "delivered", "", time.Time{})
	}
	now, terr := d.rdb.ServerTime(octx)
	if terr != nil {
		return false, terr
	}
	if now.Sub(del.Created) >= d.cfg.GiveUpAfter {
		d.count(dst, "failed")
		d.log.Error("alerts: gave up delivering a notification", "id", n.ID, "title", n.Title, "destination", dst.String(), "attempts", del.Attempts, "err", err)
		return true, d.rdb.DeliveryOutcome(octx, del, "failed", err.Error(), time.Time{})
	}
	d.count(dst, "retried")
	wait := d.backoff(del.Attempts)
	d.log.Warn("alerts: delivery failed; retrying", "id", n.ID, "destination", dst.String(), "attempt", del.Attempts, "retry_in", wait, "err", err)
	return false, d.rdb.DeliveryOutcome(octx, del, "retrying", err.Error(), now.Add(wait))
}

// backoff after the attempt-th failure: RetryBase doubling up to
// RetryMax, with up to 20 % jitter so a receiver back from an outage is
// not hit by every notification at once.
func (d *Service) backoff(attempt int) time.Duration {
	w := d.cfg.RetryBase
	for i := 1; i < attempt && w < d.cfg.RetryMax; i++ {
		w *= 2
	}
	w = min(w, d.cfg.RetryMax)
	return w - time.Duration(rand.Int64N(int64(w)/5+1))
}

func (d *Service) count(dst Destination, outcome string) {
	if m := d.cfg.Metrics; m != nil {
		m.AlertDeliveries.WithLabelValues(string(dst.Format), outcome).Inc()
	}
}

// TestResult is one destination's answer to a test notification.
type TestResult struct {
	Destination Destination
	Err         error
}

// SendTest records a test notification and sends it to every destination
// at once, from this replica, saying how each answered. A test is never
// retried.
func (d *Service) SendTest(ctx context.Context, by string) (Notification, []TestResult, error) {
	if len(d.cfg.Destinations) == 0 {
		return Notification{}, nil, errors.New("no alert destinations: set SYNQ_ALERT_WEBHOOK_URL (Slack-compatible) or SYNQ_ALERT_JSON_URL on the scheduler")
	}
	now, err := d.rdb.ServerTime(ctx)
	if err != nil {
		return Notification{}, nil, err
	}
	n := Notification{ID: "test-" + strconv.FormatInt(now.UnixNano(), 36), Kind: KindTest, Severity: SeverityInfo,
		Title: "synq test notification", URL: d.consoleURL("alerts", ""), Time: now}
	n.finish(fmt.Sprintf("Sent by %s: alerts from this synq reach this channel.", cmp.Or(by, "`ctl alerts test`")))
	b, err := json.Marshal(n)
	if err != nil {
		return n, nil, err
	}
	dests := make([]string, len(d.cfg.Destinations))
	for i, x := range d.cfg.Destinations {
		dests[i] = x.ID()
	}
	// Recorded not yet due, so the leader's sender leaves it to us.
	if _, err := d.rdb.RecordAlerts(ctx, nil, []rdb.NewAlert{{ID: n.ID, Kind: string(n.Kind), Payload: b, Dests: dests, Hold: time.Minute}}); err != nil {
		return n, nil, err
	}
	out := make([]TestResult, len(d.cfg.Destinations))
	var wg sync.WaitGroup
	for i, dst := range d.cfg.Destinations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
			defer cancel()
			err := dst.send(sctx, d.cfg.HTTPClient, d.cfg.Secret, n, time.Now())
			out[i] = TestResult{Destination: dst, Err: err}
			status, msg := "delivered", ""
			if err != nil {
				status, msg = "failed", err.Error()
			}
			d.count(dst, status)
			_ = d.rdb.DeliveryOutcome(context.WithoutCancel(ctx), rdb.Delivery{ID: n.ID, Dest: dst.ID()}, status, msg, time.Time{})
		}()
	}
	wg.Wait()
	return n, out, nil
}
