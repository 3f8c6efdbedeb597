package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// versionDir copies examples/fraud to dir/name with version v; a broken
// copy has an unreadable bundle.json.
func versionDir(t *testing.T, dir, name, v string, broken bool) {
	t.Helper()
	dst := filepath.Join(dir, name)
	if err := os.CopyFS(dst, os.DirFS("../../examples/fraud")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"version": "1.0.0"`), []byte(`"version": "`+v+`"`), 1)
	if broken {
		b = b[:len(b)/2]
	}
	if err := os.WriteFile(filepath.Join(dst, "bundle.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, link, target string) {
	t.Helper()
	os.Remove(link + ".new")
	if err := os.Symlink(target, link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
}

// TestServiceReloadsModels runs the service from a config file on the
// embedded broker, with the HTTP door, and reloads through POST
// /admin/reload: a new live version (the `current` symlink flipped) with a
// canary added in the config file, then a broken bundle that must not
// serve. The stream, the door and /v1/models follow each swap.
func TestServiceReloadsModels(t *testing.T) {
	dir := t.TempDir()
	versionDir(t, dir, "v1", "1", false)
	versionDir(t, dir, "v2", "2", false)
	versionDir(t, dir, "broken", "9", true)
	current := filepath.Join(dir, "current")
	flip(t, current, "v1")
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	cfgPath := filepath.Join(dir, "config.yaml")
	keys := map[string]any{
		"kafka.brokers": "embedded", "kafka.embedded.data_dir": "", "kafka.embedded.port": 0, "kafka.embedded.partitions": 3,
		"input.topic": "in", "output.topic": "out", "dlq.topic": "dlq",
		"model.bundle": current, "http.admin_token_file": tokenFile, "model.watch": false,
		"http.listen": "127.0.0.1:0", "http.predict": true, "log.level": "warn", "processor.lag_refresh": "500ms",
	}
	writeCfg := func() {
		b, err := proctest.ConfigYAML(keys)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
		req, _ := http.NewRequest(http.MethodPost, base+"/admin/reload", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	models := func() map[string]string {
		resp, err := http.Get(base + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Models []struct{ Role, Version string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
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
			for _, h := range r.Headers {
				if h.Key == processor.HeaderModel && h.Value != nil && string(h.Value) != "fraud@"+p.Version {
					t.Errorf("header %s %s on a prediction of version %s", h.Key, h.Value, p.Version)
				}
			}
			got[p.Version]++
		}
		return got
	}
	doorVersion := func() string {
		event, _ := os.ReadFile(filepath.Join(dir, "v1", "reference.jsonl"))
		var row struct{ Event json.RawMessage }
		json.Unmarshal(event[:bytes.IndexByte(event, '\n')], &row)
		resp, err := http.Post(base+"/v1/predict", "application/json", bytes.NewReader(row.Event))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Version string `json:"model_version"`
		}
		json.NewDecoder(resp.Body).Decode(&p)
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

	flip(t, current, "v2")
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
	flip(t, current, "broken")
	if code, body := reloadReq("tok"); code != http.StatusUnprocessableEntity || !strings.Contains(body, filepath.Join(dir, "broken")) {
		t.Fatalf("reload of a broken bundle: %d %s, want 422 naming it", code, body)
	}
	if m := models(); m["live"] != "2" {
		t.Errorf("/v1/models after the failed reload: %v, want live 2", m)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`streamscore_model_load_failures_total{role="live"} 1`, `streamscore_model_swaps_total 1`,
		`streamscore_model_info{model="fraud",role="live",version="2"} 1`, `streamscore_model_info{model="fraud",role="canary",version="1"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if !strings.Contains(logBuf.String(), elsewhere) {
		t.Errorf("a reload after processor.linger changed did not log %q", elsewhere)
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
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	door := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[httpapi.Config]()) {
		door["http."+f.Tag.Get("config")] = true
	}
	def := defaultConfig()
	leaves, _ := walkConfig(&def)
	for _, prefix := range []string{"model.", "http."} {
		var got, want []string
		for _, m := range regexp.MustCompile("(?m)^\\| `("+regexp.QuoteMeta(prefix)+"[a-z_.]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(doc), -1) {
			got = append(got, m[1]+" "+strings.TrimSpace(m[2]))
		}
		for _, l := range leaves {
			if !strings.HasPrefix(l.key, prefix) || door[l.key] {
				continue
			}
			v := "`" + docValue(l) + "`"
			if l.key == "model.bundle" {
				v = "(required)"
			}
			want = append(want, l.key+" "+v)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("docs/operations.md %s keys:\n got  %q\n want %q", prefix, got, want)
		}
	}
}
