package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/proctest"
)

// served is a running `streamscore serve`.
type served struct {
	*proctest.Proc
	predict string // host:port of the prediction API
}

// startServe writes a config file, starts `streamscore serve --config FILE`
// and waits for its "streamscore serving" log line.
func startServe(t testing.TB, extra map[string]any) *served {
	t.Helper()
	kv := map[string]any{
		"model.bundle": filepath.Join(repoRoot, "examples", "fraud"),
		"http.listen":  "127.0.0.1:0",
		"log.format":   "json",
		"log.level":    "info",
	}
	for k, v := range extra {
		kv[k] = v
	}
	p, addr := startCommand(t, "serve", kv, "streamscore serving", "predict")
	return &served{Proc: p, predict: addr}
}

// checkPinned fails unless the venv has the versions of train/requirements.txt.
func checkPinned(t testing.TB, py string, names ...string) {
	t.Helper()
	var imports []string
	for _, pin := range names {
		imports = append(imports, fmt.Sprintf("importlib.metadata.version(%q)", strings.SplitN(pin, "[", 2)[0]))
	}
	want, err := pinnedVersions(names...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(context.Background(), py, "-c",
		"import importlib.metadata; print(' '.join(["+strings.Join(imports, ",")+"]))").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", py, err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("venv has %v = %v, want %v (train/requirements.txt)", names, got, want)
	}
}

// TestOIPClient: tritonclient's HTTP client (the Open Inference Protocol v2
// client of KServe and Triton users) against the built binary's `serve`:
// health, server and model metadata, inference with binary and JSON tensors
// on every complete scored fraud reference row, compared with XGBoost's own
// probabilities, and errors as client exceptions.
func TestOIPClient(t *testing.T) {
	py := python(t)
	checkPinned(t, py, "tritonclient[http]")
	s := startServe(t, nil)
	out, _ := runTool(t, nil, nil, py, pyScript("oip_client.py"), s.predict,
		filepath.Join(repoRoot, "examples", "fraud", "reference.jsonl"))
	var sum struct {
		Rows       int     `json:"rows"`
		Calls      int     `json:"infer_calls"`
		MaxAbsDiff float64 `json:"max_abs_diff"`
		Errors     int     `json:"errors_checked"`
	}
	if err := json.Unmarshal([]byte(proctest.LastLines(string(out), 1)), &sum); err != nil {
		t.Fatalf("oip_client.py summary: %v\n%s", err, out)
	}
	if sum.Rows < 1000 || sum.Calls < 2 || sum.Errors != 2 || !(sum.MaxAbsDiff <= probTol) {
		t.Fatalf("oip_client.py: %+v", sum)
	}
	t.Logf("tritonclient: %d rows in %d infer calls, worst |diff| vs XGBoost %.3g, %d errors as exceptions", sum.Rows, sum.Calls, sum.MaxAbsDiff, sum.Errors)
	if code := s.Stop(); code != 0 {
		t.Fatalf("streamscore serve exited %d after SIGTERM, want 0", code)
	}
	for _, l := range s.Stderr.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["level"] == "ERROR" {
			t.Errorf("streamscore serve logged an error: %s", l)
		}
	}
}

// TestOpenAPIValidates: openapi-spec-validator accepts GET /openapi.json of
// the built binary and the committed docs/openapi-fraud.json (equal), and
// real answers validate against its schemas.
func TestOpenAPIValidates(t *testing.T) {
	py := python(t)
	checkPinned(t, py, "openapi-spec-validator")
	s := startServe(t, nil)
	ev := loadReference(t)[0].Event
	out, _ := runTool(t, nil, nil, py, pyScript("openapi_check.py"), s.predict,
		filepath.Join(repoRoot, "docs", "openapi-fraud.json"), string(ev))
	t.Logf("openapi_check.py: %s", strings.TrimSpace(proctest.LastLines(string(out), 1)))
	if code := s.Stop(); code != 0 {
		t.Fatalf("streamscore serve exited %d after SIGTERM, want 0", code)
	}
}
