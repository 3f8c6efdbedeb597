package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/drift/drifttest"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// driftAlerts are the alert rules this test makes fire.
var driftAlerts = []string{"StreamscoreFeatureDrift", "StreamscoreScoreDrift"}

// driftRules writes a test copy of deploy/prometheus/alerts.yml holding the
// drift alerts only, with their expressions as they are and `for:`
// shortened from 30m to forDur, and returns its path.
func driftRules(t *testing.T, forDur string) string {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	readAlertsYAML(t, &f)
	var rules []map[string]any
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if name, _ := r["alert"].(string); slices.Contains(driftAlerts, name) {
				if r["for"] != "30m" {
					t.Fatalf("%s: for %v in alerts.yml; this test shortens 30m", name, r["for"])
				}
				r["for"] = forDur
				rules = append(rules, r)
			}
		}
	}
	if len(rules) != len(driftAlerts) {
		t.Fatalf("alerts.yml has %d of the drift alerts %v", len(rules), driftAlerts)
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "streamscore.drift-test", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drift-alerts.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// firing returns, per drift alert, the label sets (feature, or "" for the
// score) of its firing alerts in Prometheus.
func firing(prom *promServer) (map[string][]string, error) {
	v, err := prom.query(`ALERTS{alertname=~"StreamscoreFeatureDrift|StreamscoreScoreDrift", alertstate="firing"}`)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, s := range v {
		out[s.Metric["alertname"]] = append(out[s.Metric["alertname"]], s.Metric["feature"])
	}
	for _, fs := range out {
		sort.Strings(fs)
	}
	return out, nil
}

// driftRecords are the events as records for the input topic, keyed by card.
func driftRecords(t *testing.T, topic string, values [][]byte) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		var ev struct {
			CardID string `json:"card_id"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(ev.CardID), Value: v}
	}
	return recs
}

// TestDriftAlertsFire runs `streamscore run` with a 40 s drift window, a real
// Prometheus scraping it with the drift alert rules of alerts.yml (their
// expressions unchanged, `for:` shortened to 3s in a test copy) and two
// streams of the fraud example's held-out events (reference.jsonl):
//
//  1. as they are: the service's PSI of every input and of the score equals
//     numpy's on the same events (drift/testdata/psi_golden.json, "reference
//     events", to 1e-12), every PSI is far below 0.2 and no drift alert
//     pends; then the window slides past them (its event count drops to 0);
//  2. drifted: every amount x5 and every merchant category one never seen in
//     training ("jewelry"): amount's and merchant_category's PSI exceed 0.2,
//     the other inputs' stay below it, and StreamscoreFeatureDrift fires for
//     exactly those two inputs, StreamscoreScoreDrift for the score.
func TestDriftAlertsFire(t *testing.T) {
	g := drifttest.Load(t, repoRoot)
	ref := g.Windows[0]
	if ref.Name != "reference events" || ref.Change != nil {
		t.Fatalf("golden window 0 is %q, want the unchanged reference events", ref.Name)
	}
	clean := g.Events(t, ref)
	drifted := g.Events(t, drifttest.Window{Name: "amount x5 and an unseen merchant", Rows: ref.Rows, Every: 1,
		Change: &drifttest.Change{Scale: map[string]float64{"amount": 5}, Set: map[string]string{"merchant_category": "jewelry"}}})
	n := len(clean)
	features := slices.Sorted(maps.Keys(ref.Inputs))

	k := newKafkaSetup(t, 2)
	httpAddr := freeAddr(t)
	cfg := k.serviceConfig(httpAddr)
	cfg.Extra = map[string]any{"monitor.drift_window": "40s"}
	svc := startService(t, "streamscore run", cfg)
	waitReady(t, svc) // joined: no rebalance replays records into the window
	prom := startPrometheusRules(t, httpAddr, driftRules(t, "3s"))
	brokers := strings.Split(svc.brokers, ",")

	// ---- 1. the training distribution's own events.
	kafkatest.ProduceRecords(t, brokers, driftRecords(t, k.in, clean))
	var psi map[string]float64
	proctest.Eventually(t, 60*time.Second, fmt.Sprintf("the drift window holds the %d reference events", n), func() error {
		fams, err := scrape(httpAddr)
		if err != nil {
			return err
		}
		events, _ := metricValue(fams, "streamscore_drift_window_events", nil)
		scores, _ := metricValue(fams, "streamscore_drift_window_scores", nil)
		if events > float64(n) {
			t.Fatalf("the window holds %g events for %d produced", events, n)
		}
		if events != float64(n) || scores != float64(n) {
			return fmt.Errorf("window: %g events, %g scores", events, scores)
		}
		psi = map[string]float64{}
		for _, f := range features {
			v, ok := metricValue(fams, "streamscore_feature_psi", map[string]string{"feature": f})
			if !ok {
				return fmt.Errorf("no streamscore_feature_psi{feature=%q}", f)
			}
			psi[f] = v
		}
		psi[""], _ = metricValue(fams, "streamscore_score_psi", nil)
		return nil
	}, svc.Proc)
	for _, f := range features {
		if want := ref.Inputs[f].Value(); !drifttest.Near(psi[f], want) || psi[f] >= 0.05 {
			t.Errorf("streamscore_feature_psi{feature=%q} = %.17g, numpy %.17g (and below 0.05)", f, psi[f], want)
		}
	}
	if want := ref.Score.Value(); !drifttest.Near(psi[""], want) {
		t.Errorf("streamscore_score_psi = %.17g, numpy %.17g", psi[""], want)
	}
	t.Logf("reference events: PSI %v (equal to numpy's)", psi)

	proctest.Eventually(t, 30*time.Second, "Prometheus has seen the full window for 5s", func() error {
		v, err := prom.single("min_over_time(streamscore_drift_window_events[5s])")
		if err != nil {
			return err
		}
		if v != float64(n) {
			return fmt.Errorf("min over 5s = %g", v)
		}
		return nil
	}, svc.Proc, prom.Proc)
	rules, err := prom.rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules["streamscore.drift-test"] {
		if r.Health != "ok" || r.State != "inactive" {
			t.Errorf("on the reference events, rule %s is %s (health %s %s), want inactive", r.Name, r.State, r.Health, r.LastError)
		}
	}
	if len(rules["streamscore.drift-test"]) != len(driftAlerts) {
		t.Errorf("Prometheus loaded %d drift rules, want %d", len(rules["streamscore.drift-test"]), len(driftAlerts))
	}

	proctest.Eventually(t, 90*time.Second, "the window slides past the reference events", func() error {
		fams, err := scrape(httpAddr)
		if err != nil {
			return err
		}
		if v, _ := metricValue(fams, "streamscore_drift_window_events", nil); v != 0 {
			return fmt.Errorf("%g events still in the window", v)
		}
		if v, _ := metricValue(fams, "streamscore_score_psi", nil); !math.IsNaN(v) {
			return fmt.Errorf("score PSI %g over an empty window, want NaN", v)
		}
		return nil
	}, svc.Proc)

	// ---- 2. a drifted stream.
	kafkatest.ProduceRecords(t, brokers, driftRecords(t, k.in, drifted))
	wantFiring := map[string][]string{"StreamscoreFeatureDrift": {"amount", "merchant_category"}, "StreamscoreScoreDrift": {""}}
	proctest.Eventually(t, 30*time.Second, "the drift alerts fire for amount, merchant_category and the score", func() error {
		got, err := firing(prom)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(wantFiring) {
			return fmt.Errorf("firing %v, want %v", got, wantFiring)
		}
		return nil
	}, svc.Proc, prom.Proc)
	vals, err := prom.query("streamscore_feature_psi")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, s := range vals {
		seen[s.Metric["feature"]] = s.Value
	}
	for _, f := range features {
		v, ok := seen[f]
		drifts := f == "amount" || f == "merchant_category"
		switch {
		case !ok:
			t.Errorf("Prometheus has no streamscore_feature_psi{feature=%q}", f)
		case drifts && !(v > 0.2):
			t.Errorf("streamscore_feature_psi{feature=%q} = %g on the drifted stream, want > 0.2", f, v)
		case !drifts && !(v < 0.2):
			t.Errorf("streamscore_feature_psi{feature=%q} = %g, want < 0.2: this input did not drift", f, v)
		}
	}
	score, err := prom.single("streamscore_score_psi")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drifted stream: feature PSI %v, score PSI %.3f; firing %q", seen, score, wantFiring)
}
