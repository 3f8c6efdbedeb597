package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/bundletest"
	"github.com/streamscore/streamscore/internal/doctest"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// TestServiceReloadsModels runs the service from a config file on the
// embedded broker, with the HTTP door, and reloads through POST
// /admin/reload: a new live version (the `current` symlink flipped) with a
// canary added in the config file, then a broken bundle that must not
// serve. The stream, the door and /v1/models follow each swap.
func TestServiceReloadsModels(t *testing.T) {
	dir := t.TempDir()
	const fraud = "../../examples/fraud"
	bundletest.Copy(t, fraud, dir, "v1", "1")
	bundletest.Copy(t, fraud, dir, "v2", "2")
	bundletest.Copy(t, fraud, dir, "broken", "9", bundletest.TruncateManifest)
	current := filepath.Join(dir, "current")
	bundletest.Flip(t, current, "v1")
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	cfgPath := filepath.Join(dir, "config.yaml")
	keys := map[string]any{
		"kafka.brokers": "embedded", "kafka.embedded.data_dir": "", "kafka.embedded.port": 0, "kafka.embedded.partitions": 3,
		"input.topic": "in", "output.topic": "out", "dlq.topic": "dlq",
		"model.bundle": current, "http.admin_token_file": tokenFile, "model.watch": false,
		"http.listen": "127.0.0.1:0", "http.predict": true, "log.level": "warn", "processor.lag_refresh": "500ms",
	}
	writeCfg := func() { proctest.WriteConfigFile(t, cfgPath, keys) }
	writeCfg()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	flags := addConfigFlags(fs, defaultConfig(), serviceSections...)
	if err := fs.Parse([]string{"--config", cfgPath}); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logBuf proctest.LogBuffer
	svc, err := startService(ctx, cfg, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-svc.done })
	base := "http://" + svc.httpAddr()
	brokers := []string{svc.brokers}

	reloadReq := func(token string) (int, string) {
		resp, b := proctest.HTTP(t, nil, http.MethodPost, base+"/admin/reload", nil, "Authorization", "Bearer "+token)
		return resp.StatusCode, string(b)
	}
	models := func() map[string]string {
		_, body := proctest.HTTP(t, nil, http.MethodGet, base+"/v1/models", nil)
		var doc struct {
			Models []struct{ Role, Version string }
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range doc.Models {
			out[m.Role] = m.Version
		}
		return out
	}
	g := gen.NewFraud(3, 200)
	seen := 0
	stream := func(n int) map[string]int {
		now := time.Now()
		var recs []*kgo.Record
		for range n {
			k, v := g.Next(nil, now)
			recs = append(recs, &kgo.Record{Topic: "in", Key: k, Value: v, Timestamp: now})
		}
		kafkatest.ProduceRecords(t, brokers, recs)
		seen += n
		outs := kafkatest.ConsumeN(t, brokers, "out", seen)
		got := map[string]int{}
		for _, r := range outs[seen-n:] {
			var p struct {
				Version string `json:"model_version"`
			}
			json.Unmarshal(r.Value, &p)
			if h := kafkatest.Header(r, processor.HeaderModel); h != "" && h != "fraud@"+p.Version {
				t.Errorf("header %s %s on a prediction of version %s", processor.HeaderModel, h, p.Version)
			}
			got[p.Version]++
		}
		return got
	}
	doorVersion := func() string {
		event, _ := os.ReadFile(filepath.Join(dir, "v1", "reference.jsonl"))
		var row struct{ Event json.RawMessage }
		json.Unmarshal(event[:bytes.IndexByte(event, '\n')], &row)
		_, answer := proctest.HTTP(t, nil, http.MethodPost, base+"/v1/predict", bytes.NewReader(row.Event), "Content-Type", "application/json")
		var p struct {
			Version string `json:"model_version"`
		}
		json.Unmarshal(answer, &p)
		return p.Version
	}

	if m := models(); m["live"] != "1" || len(m) != 1 {
		t.Fatalf("/v1/models at start: %v, want live 1", m)
	}
	if got := stream(200); got["1"] != 200 {
		t.Fatalf("before the reload: %v, want 200 of version 1", got)
	}
	if code, body := reloadReq("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("reload with a wrong token: %d %s, want 401", code, body)
	}

	bundletest.Flip(t, current, "v2")
	keys["model.canary"], keys["model.canary_percent"] = filepath.Join(dir, "v1"), 50
	writeCfg()
	if code, body := reloadReq("tok"); code != http.StatusOK || !strings.Contains(body, `"swapped": true`) {
		t.Fatalf("reload: %d %s, want 200 and a swap", code, body)
	}
	if m := models(); m["live"] != "2" || m["canary"] != "1" {
		t.Errorf("/v1/models after the reload: %v, want live 2 and canary 1", m)
	}
	if got := stream(400); got["2"] == 0 || got["1"] == 0 || got["2"]+got["1"] != 400 {
		t.Errorf("after the reload: %v, want versions 2 (live) and 1 (canary, half the keys)", got)
	}
	if v := doorVersion(); v != "2" {
		t.Errorf("HTTP door scores with version %s after the reload, want 2", v)
	}

	const elsewhere = "the configuration changed outside the model section"
	if strings.Contains(logBuf.String(), elsewhere) {
		t.Errorf("a reload that changed only the model section logged %q", elsewhere)
	}
	keys["processor.linger"] = "7ms"
	writeCfg()
	bundletest.Flip(t, current, "broken")
	if code, body := reloadReq("tok"); code != http.StatusUnprocessableEntity || !strings.Contains(body, filepath.Join(dir, "broken")) {
		t.Fatalf("reload of a broken bundle: %d %s, want 422 naming it", code, body)
	}
	if m := models(); m["live"] != "2" {
		t.Errorf("/v1/models after the failed reload: %v, want live 2", m)
	}
	_, metrics := proctest.HTTP(t, nil, http.MethodGet, base+"/metrics", nil)
	for _, want := range []string{`streamscore_model_load_failures_total{role="live"} 1`, `streamscore_model_swaps_total 1`,
		`streamscore_model_info{model="fraud",role="live",version="2"} 1`, `streamscore_model_info{model="fraud",role="canary",version="1"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	// Both doors count into one prediction_score family, told apart by door:
	// the stream's predictions per version as the output holds them, the
	// door's one prediction by 2.
	produced := map[string]int{}
	for _, r := range kafkatest.ConsumeN(t, brokers, "out", seen) {
		var p struct {
			Version string `json:"model_version"`
		}
		json.Unmarshal(r.Value, &p)
		produced[p.Version]++
	}
	scraped := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(metrics))
		return slices.Collect(maps.Values(fams)), err
	})
	for _, c := range []struct {
		door, version string
		want          int
	}{{"stream", "1", produced["1"]}, {"stream", "2", produced["2"]}, {"http", "1", 0}, {"http", "2", 1}} {
		if n, _, ok := metrictest.Histogram(t, scraped, "streamscore_prediction_score", "door", c.door, "version", c.version); !ok || n != uint64(c.want) {
			t.Errorf("streamscore_prediction_score{door=%q, version=%q}: %d predictions (found %v), want %d", c.door, c.version, n, ok, c.want)
		}
	}
	// The reloader reads the configuration more than once per reload (the
	// watcher again after it): the change is one warning naming the key.
	reloadReq("tok")
	if n := strings.Count(logBuf.String(), elsewhere); n != 1 || !strings.Contains(logBuf.String(), "keys=processor.linger") {
		t.Errorf("two reloads after processor.linger changed logged %q %d times, want once with keys processor.linger; log:\n%s", elsewhere, n, logBuf.String())
	}
	if got := stream(100); got["9"] != 0 {
		t.Errorf("the broken bundle's version scored %d records", got["9"])
	}
}

// TestOperationsKeyTables keeps docs/operations.md's tables of the model
// section and of the HTTP listeners (the http section without the door's
// keys, which docs/http.md lists) equal to the tree: every key, its default
// (model.bundle, which has none, reads "(required)").
func TestOperationsKeyTables(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "operations.md")
	door := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[httpapi.Config]()) {
		door["http."+f.Tag.Get("config")] = true
	}
	def := defaultConfig()
	leaves, _ := walkConfig(&def)
	for _, tc := range []struct{ prefix, heading string }{
		{"model.", "## Rolling out a new model bundle"},
		{"http.", "## HTTP listeners: admin endpoints, tokens and TLS"},
	} {
		var got, want []string
		for _, r := range doctest.TableRows(t, path+" "+tc.heading, doctest.Section(t, path, tc.heading), "| key | default |") {
			c := doctest.Cells(r)
			got = append(got, c[0]+" "+c[1])
		}
		for _, l := range leaves {
			if !strings.HasPrefix(l.key, tc.prefix) || door[l.key] {
				continue
			}
			v := docValue(l)
			if l.key == "model.bundle" {
				v = "(required)"
			}
			want = append(want, l.key+" "+v)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("docs/operations.md %s keys:\n got  %q\n want %q", tc.prefix, got, want)
		}
	}
}
