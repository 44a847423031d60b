// Package deploy_test checks what deploy/ ships for people who run
// Prometheus and Grafana: the alerting rules pass promtool's checks and
// unit tests, and every synq metric the rules and the dashboard name exists
// in synq's registries, so a renamed metric cannot silently break them.
package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synqhq/synq/internal/metrics"
	"github.com/synqhq/synq/internal/scheduler"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed: it checks deploy/prometheus (Debian: apt-get install prometheus; .ci/run installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPrometheusRulesCheck(t *testing.T) { promtool(t, "check", "rules", "alerts.yml") }

func TestPrometheusRulesUnitTests(t *testing.T) { promtool(t, "test", "rules", "alerts_test.yml") }

// registered returns the name of every metric synq's processes export.
func registered(t *testing.T) []string {
	m := metrics.New()
	m.WatchRedis(func() bool { return true })
	// The fleet series exist only on the leader: described, not gathered.
	fc := scheduler.NewFleetCollector(nil, func() bool { return false })
	descs := make(chan *prometheus.Desc, 64)
	fc.Describe(descs)
	close(descs)
	var names []string
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		names = append(names, re.FindStringSubmatch(d.String())[1])
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	// Vectors without children are not gathered: describe every field.
	for _, c := range []prometheus.Collector{m.Runs, m.Pages, m.Rows, m.PageDuration, m.NotionCalls, m.NotionLatency, m.PacerWait,
		m.QueueLag, m.NotionBudget, m.RunsStarted, m.SkippedTicks, m.RunsReaped, m.Leader, m.Alerts, m.AlertDeliveries} {
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			names = append(names, re.FindStringSubmatch(d.String())[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var metricName = regexp.MustCompile(`\bsynq_[a-z0-9_]+`)

// used returns the synq metric names an expression text names, with a
// histogram's _bucket, _sum and _count mapped to the histogram.
func used(text string, known []string) []string {
	var out []string
	for _, n := range metricName.FindAllString(text, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suf); ok && slices.Contains(known, base) {
				n = base
			}
		}
		out = append(out, n)
	}
	return out
}

func TestRulesAndDashboardNameRealMetrics(t *testing.T) {
	known := registered(t)
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, line := range strings.Split(string(rules), "\n") {
		// Annotations may mention commands and variables; expressions are
		// what Prometheus evaluates.
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.Contains(line, "summary:") || strings.Contains(line, "description:") {
			continue
		}
		exprs = append(exprs, line)
	}
	dash, err := os.ReadFile("grafana/synq.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("grafana/synq.json: %v", err)
	}
	if len(d.Panels) < 8 {
		t.Fatalf("the dashboard has %d panels", len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	names := used(strings.Join(exprs, "\n"), known)
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in the rules and dashboard: %v", len(names), names)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Errorf("%s is used by deploy/ but no synq process exports it (known: %s)", n, strings.Join(known, ", "))
		}
	}
}

func TestUsedFindsRenamedMetrics(t *testing.T) {
	known := []string{"synq_queue_lag_seconds", "synq_runs_finished_total"}
	got := used(`rate(synq_queue_lag_seconds_bucket[5m]) + synq_runs_total`, known)
	if !slices.Equal(got, []string{"synq_queue_lag_seconds", "synq_runs_total"}) {
		t.Fatalf("used = %v", got)
	}
}
