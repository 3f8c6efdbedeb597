package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/kafkatest"
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
	kv := proctest.MergeKeys(proctest.BaseKeys(filepath.Join(repoRoot, "examples", "fraud")), extra)
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
	s.StopClean()
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

// TestRunWithHTTPPredict: `streamscore run` with http.predict serves the HTTP
// door beside the stream on the metrics listener, and with
// http.log_to_topic its predictions land in the output topic next to the
// stream's. kcat reads both back: the one the stream made for an event kcat
// wrote (key = the card id) and the one /v1/predict made for the same event
// (key from input.key_field, header streamscore-door: http) are the same
// record, the scored and event times aside.
func TestRunWithHTTPPredict(t *testing.T) {
	t.Parallel()
	kcatPath(t)
	brokers := kafkatest.Brokers(t)
	in, out, dlq := kafkatest.Topic(t, brokers, 3), kafkatest.Topic(t, brokers, 3), kafkatest.Topic(t, brokers, 1)
	svc := startService(t, serviceConfig{Brokers: brokers, Input: in, Output: out, DLQ: dlq, Extra: map[string]any{
		"input.format": "json", "output.format": "json",
		"http.predict": true, "http.log_to_topic": true, "input.key_field": "card_id",
	}})
	ev := loadReference(t)[0]
	var card struct {
		CardID string `json:"card_id"`
	}
	if err := json.Unmarshal(ev.Event, &card); err != nil || card.CardID == "" {
		t.Fatalf("reference event without card_id: %s", ev.Event)
	}
	resp, answer := proctest.HTTP(t, nil, "POST", "http://"+svc.http+"/v1/predict", bytes.NewReader(ev.Event), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/predict on run: %d %s", resp.StatusCode, answer)
	}
	kcatProduce(t, brokers, in, []string{card.CardID + "|" + string(ev.Event)})
	counter := newRecordCounter(t, brokers, out)
	counter.waitFor(t, "the stream's and the HTTP door's prediction", map[string]int{out: 2}, svc.Proc)
	checkMissingPerDoor(t, svc.http)
	svc.StopClean()

	times := regexp.MustCompile(`"(scored_time|event_time)":\d+`)
	norm := func(s string) string { return times.ReplaceAllString(strings.TrimSpace(s), `"$1":0`) }
	var door, stream []string
	for _, m := range kcatConsumeJSON(t, brokers, out) {
		if m.Key == nil || *m.Key != card.CardID || m.Payload == nil {
			t.Fatalf("output record %d/%d: key %v, want %q", m.Partition, m.Offset, m.Key, card.CardID)
		}
		if d := m.header("streamscore-door"); len(d) == 1 && d[0] == "http" {
			door = append(door, *m.Payload)
		} else {
			stream = append(stream, *m.Payload)
		}
	}
	if len(door) != 1 || len(stream) != 1 {
		t.Fatalf("%d HTTP and %d stream predictions in the output topic, want one each", len(door), len(stream))
	}
	if door[0] != strings.TrimSpace(string(answer)) {
		t.Errorf("logged record differs from the answer:\n logged %s\n answer %s", door[0], answer)
	}
	if norm(door[0]) != norm(stream[0]) {
		t.Errorf("HTTP and stream records differ:\n http   %s\n stream %s", door[0], stream[0])
	}
}

// checkMissingPerDoor: after the same event through each door, /metrics
// has streamscore_input_missing_total for every bundle input under both
// door labels, with the same counts, and a drift window for each door.
func checkMissingPerDoor(t *testing.T, addr string) {
	t.Helper()
	_, metrics := proctest.HTTP(t, nil, "GET", "http://"+addr+"/metrics", nil)
	series := regexp.MustCompile(`(?m)^streamscore_input_missing_total\{door="(\w+)",input="(\w+)"\} (\S+)$`)
	byDoor := map[string]map[string]string{}
	for _, m := range series.FindAllStringSubmatch(string(metrics), -1) {
		if byDoor[m[1]] == nil {
			byDoor[m[1]] = map[string]string{}
		}
		byDoor[m[1]][m[2]] = m[3]
	}
	if len(byDoor["http"]) == 0 || !maps.Equal(byDoor["http"], byDoor["stream"]) {
		t.Errorf("input_missing_total per door: http %v, stream %v; want the same inputs and counts", byDoor["http"], byDoor["stream"])
	}
	for _, door := range []string{"http", "stream"} {
		if !strings.Contains(string(metrics), `streamscore_drift_window_events{door="`+door+`"}`) {
			t.Errorf("/metrics has no drift window of the %s door", door)
		}
	}
}

// TestServeSeparateListeners: with http.predict_listen the prediction routes
// have a listener of their own; /metrics stays on http.listen and counts
// them by route pattern.
func TestServeSeparateListeners(t *testing.T) {
	t.Parallel()
	p, admin := startCommand(t, "serve", proctest.MergeKeys(proctest.BaseKeys(filepath.Join(repoRoot, "examples", "fraud")),
		map[string]any{"http.predict_listen": "127.0.0.1:0"}), "streamscore serving", "http")
	predictAddr, _ := p.LogLine("streamscore serving")["predict"].(string)
	if predictAddr == admin || !strings.HasPrefix(predictAddr, "127.0.0.1:") {
		t.Fatalf("predict listener %q, admin %q: want two 127.0.0.1 listeners", predictAddr, admin)
	}
	get := func(method, url string, body []byte) (int, string) {
		t.Helper()
		resp, b := proctest.HTTP(t, nil, method, url, bytes.NewReader(body), "Content-Type", "application/json")
		return resp.StatusCode, string(b)
	}
	ev := loadReference(t)[0].Event
	if code, body := get("POST", "http://"+predictAddr+"/v1/predict", ev); code != 200 {
		t.Fatalf("/v1/predict on the predict listener: %d %s", code, body)
	}
	if code, _ := get("POST", "http://"+admin+"/v1/predict", ev); code != 404 {
		t.Errorf("/v1/predict on the admin listener: %d, want 404", code)
	}
	if code, _ := get("GET", "http://"+admin+"/readyz", nil); code != 200 {
		t.Errorf("/readyz: %d, want 200", code)
	}
	code, metrics := get("GET", "http://"+admin+"/metrics", nil)
	want := `streamscore_http_requests_total{code="200",route="/v1/predict"} 1`
	if code != 200 || !strings.Contains(metrics, want) {
		t.Errorf("/metrics (%d) lacks %s", code, want)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("streamscore serve exited %d after SIGTERM, want 0", code)
	}
}
