package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/bundletest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// TestModelLoadFailureAlertFires pushes a broken bundle to a running
// service (its `current` symlink flipped to a copy of the fraud bundle with
// half a bundle.json) with a real Prometheus scraping it and the
// repository's alert rules loaded: StreamscoreModelLoadFailure fires for
// the instance and role live, while the old model keeps serving (model_info
// unchanged, predictions still produced) and the log line names the bundle.
func TestModelLoadFailureAlertFires(t *testing.T) {
	k := newKafkaSetup(t, 2)
	dir := t.TempDir()
	src := filepath.Join(repoRoot, "examples", "fraud")
	good := bundletest.Copy(t, src, dir, "fraud-1.0.0", "1.0.0")
	broken := bundletest.Copy(t, src, dir, "fraud-broken", "1.0.0", bundletest.TruncateManifest)
	current := filepath.Join(dir, "current")
	bundletest.Flip(t, current, filepath.Base(good))

	httpAddr := freeAddr(t)
	cfg := k.serviceConfig(httpAddr)
	cfg.Extra = map[string]any{"model.bundle": current, "model.watch_debounce": "200ms"}
	svc := startService(t, "streamscore run", cfg)
	waitReady(t, svc)
	prom := startPrometheus(t, httpAddr)
	proctest.Eventually(t, 60*time.Second, "Prometheus scrapes the failure counter at 0", func() error {
		v, err := prom.single(`streamscore_model_load_failures_total{job="streamscore", role="live"}`)
		if err != nil {
			return err
		}
		if v != 0 {
			return fmt.Errorf("= %g, want 0 before the push", v)
		}
		return nil
	}, svc.Proc, prom.Proc)
	want := repoRules(t)
	// Right after Prometheus starts, StreamscoreAbsent may be pending until
	// the first scrape is evaluated: wait for every rule to settle.
	proctest.Eventually(t, 60*time.Second, "alert rules quiet before the push", func() error { return checkRules(prom, want) }, svc.Proc, prom.Proc)

	// Push the broken bundle: the watcher reloads, the load fails.
	bundletest.Flip(t, current, filepath.Base(broken))
	line := svc.WaitLog(30*time.Second, "model reload failed; the old model keeps serving")
	if line["role"] != "live" || line["bundle"] != current || !strings.HasSuffix(fmt.Sprint(line["dir"]), "fraud-broken") ||
		!strings.Contains(fmt.Sprint(line["err"]), "bundle.json") {
		t.Errorf("failure log line %v: want role live, the bundle path, its directory and the reason", line)
	}
	proctest.Eventually(t, 60*time.Second, "StreamscoreModelLoadFailure firing", func() error {
		rules, err := prom.rules()
		if err != nil {
			return err
		}
		for _, r := range rules["streamscore.alerts"] {
			if r.Name != "StreamscoreModelLoadFailure" {
				continue
			}
			if r.Health != "ok" {
				return fmt.Errorf("rule health %q: %s", r.Health, r.LastError)
			}
			for _, a := range r.Alerts {
				if a.State == "firing" && a.Labels["role"] == "live" && a.Labels["instance"] == httpAddr && a.Labels["severity"] == "warning" {
					return nil
				}
			}
			return fmt.Errorf("state %s, alerts %+v", r.State, r.Alerts)
		}
		return fmt.Errorf("rule StreamscoreModelLoadFailure not loaded")
	}, svc.Proc, prom.Proc)

	// The old model still serves: model_info is the good bundle's, and
	// new events are scored.
	if err := checkInfo(prom, httpAddr); err != nil {
		t.Errorf("after the failed reload: %v", err)
	}
	prod := produce(t, svc.brokers, k.in, 200, 0, 5)
	waitProduced(t, prod, 200, k.in)
	proctest.Eventually(t, 60*time.Second, "the old model scores the new events", func() error {
		fams, err := scrape(httpAddr)
		if err != nil {
			return err
		}
		if v, _ := metricValue(fams, "streamscore_predictions_produced_total", map[string]string{"topic": k.out}); v < 200 {
			return fmt.Errorf("predictions %g, want 200", v)
		}
		if v, _ := metricValue(fams, "streamscore_model_info", map[string]string{"version": "1.0.0", "role": "live"}); v != 1 {
			return fmt.Errorf("model_info{version=1.0.0,role=live} = %g, want 1", v)
		}
		return nil
	}, svc.Proc)
	if code := svc.Stop(); code != 0 {
		t.Fatalf("exited %d after SIGTERM, want 0", code)
	}
}
