package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/schemas/srtest"
)

// envRegistry names the schema registry of the interop tests: the URL of a
// Confluent-compatible API. `make test` starts Apicurio Registry
// (deploy/registry) and sets it.
const envRegistry = "STREAMSCORE_TEST_REGISTRY_URL"

// TestConfluentAvroPythonSchemaEvolution: Confluent-Avro interop with Python
// (confluent-kafka's producer, consumer, SchemaRegistryClient, AvroSerializer
// and AvroDeserializer) through a real schema registry (Apicurio Registry's
// Confluent-compatible API, STREAMSCORE_TEST_REGISTRY_URL), and schema
// evolution without a restart.
//
//  1. py/produce_avro.py registers schemas/avro/fraud_transaction.avsc (v1)
//     under <in>-value with SchemaRegistryClient and produces every
//     reference event that v1 can carry, serialised by AvroSerializer
//     (magic 0 + schema id + Avro body). streamscore (input.format
//     confluent, output.format confluent, exactly-once) resolves the id in
//     the registry and scores them.
//  2. Once those predictions are out, the same producer registers v2 (v1
//     without the optional `country`, plus an optional `merchant_name` with a
//     default) mid-stream and produces the events again with the v2 id, mixed
//     with more v1 records. The service keeps running.
//  3. py/consume_avro.py (read_committed) decodes each prediction with
//     AvroDeserializer, which fetches the writer schema that streamscore
//     registered under <out>-value by id (and again with fastavro): every
//     input has exactly one prediction under its key; v1 predictions equal
//     XGBoost's reference scores within 1e-6; v2 predictions equal the Go
//     scorer's for the event without country, and XGBoost's reference where
//     the reference event has no country; the DLQ is empty.
//  4. kcat reads the same predictions byte for byte: count, keys, partition
//     and offset equal Python's, the values are the exact bytes Python
//     decoded, and each is framed with the prediction schema's id. (kcat has
//     no Avro decoder without a registry-aware build, so it does not check
//     the fields.)
func TestConfluentAvroPythonSchemaEvolution(t *testing.T) {
	t.Parallel()
	py := python(t)
	kcatPath(t)
	b := loadFraud(t)
	refs := loadReference(t)
	brokers := kafkatest.Brokers(t)
	in, out, dlq := kafkatest.Topic(t, brokers, 3), kafkatest.Topic(t, brokers, 3), kafkatest.Topic(t, brokers, 1)
	reg := registryURL(t)
	dir := t.TempDir()

	// The two writer schemas.
	v1Path := filepath.Join(repoRoot, "schemas", "avro", "fraud_transaction.avsc")
	v2Path := filepath.Join(dir, "fraud_transaction_v2.avsc")
	const dropped, added = "country", "merchant_name"
	writeV2Schema(t, v1Path, v2Path, dropped, added)
	for _, in := range b.Manifest.Inputs {
		if in.Name == dropped && in.Required {
			t.Fatalf("the bundle requires %s: dropping it would send every v2 record to the DLQ", dropped)
		}
	}

	// The plan: v1 events, a pause, then v2 events mixed with v1 ones.
	type step struct {
		Key    string         `json:"key,omitempty"`
		Schema int            `json:"schema,omitempty"`
		Event  map[string]any `json:"event,omitempty"`
		Pause  string         `json:"pause,omitempty"`
	}
	var steps []step
	want := map[string]expected{}
	v2Changed, v2Reference := 0, 0
	var rows []*refRow
	for i := range refs {
		if fitsV1(refs[i]) {
			rows = append(rows, &refs[i])
		}
	}
	if len(rows) < len(refs)/2 {
		t.Fatalf("only %d of %d reference rows fit the v1 schema", len(rows), len(refs))
	}
	for _, r := range rows {
		key := fmt.Sprintf("v1-%04d", r.line)
		steps = append(steps, step{Key: key, Schema: 1, Event: r.ev})
		want[key] = expected{key: key, eventID: eventID(r.ev), probs: r.Scores, label: *r.Label}
	}
	phase1 := len(steps)
	steps = append(steps, step{Pause: "v1 produced"})
	for i, r := range rows {
		ev := map[string]any{}
		for k, v := range r.ev {
			if k != dropped {
				ev[k] = v
			}
		}
		if i%2 == 0 {
			ev[added] = fmt.Sprintf("Shop %d", i)
		}
		key := fmt.Sprintf("v2-%04d", r.line)
		probs, label, reject := goExpected(t, b, ev)
		if reject != "" {
			t.Fatalf("line %d without %s: the Go scorer rejects it (%s)", r.line, dropped, reject)
		}
		if r.ev[dropped] == nil {
			// The reference event has no country: XGBoost's own scores apply.
			v2Reference++
			probs, label = r.Scores, *r.Label
		} else if math.Abs(probs[1]-r.Scores[1]) > probTol {
			v2Changed++
		}
		steps = append(steps, step{Key: key, Schema: 2, Event: ev})
		want[key] = expected{key: key, eventID: eventID(r.ev), probs: probs, label: label}
		if i%10 == 0 {
			// An old-schema record after the new schema appeared.
			key := fmt.Sprintf("v1b-%04d", r.line)
			steps = append(steps, step{Key: key, Schema: 1, Event: r.ev})
			want[key] = expected{key: key, eventID: eventID(r.ev), probs: r.Scores, label: *r.Label}
		}
	}
	if v2Changed == 0 || v2Reference == 0 {
		t.Fatalf("weak plan: %d v2 events score differently without %s, %d have an XGBoost reference without it",
			v2Changed, dropped, v2Reference)
	}
	total := len(steps) - 1
	var plan bytes.Buffer
	enc := json.NewEncoder(&plan)
	for _, s := range steps {
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
	}
	eventsPath := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(eventsPath, plan.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %d v1 records, then v2 registered mid-stream: %d v2 records (%d score differently than with %s, %d with an XGBoost reference) and %d more v1",
		phase1, len(rows), v2Changed, dropped, v2Reference, total-phase1-len(rows))

	svc := startService(t, serviceConfig{Brokers: brokers, Input: in, Output: out, DLQ: dlq,
		Extra: map[string]any{
			"input.format":         "confluent",
			"output.format":        "confluent",
			"registry.url":         reg,
			"processor.delivery":   "exactly-once",
			"processor.linger":     "5ms",
			"input.event_id_field": "transaction_id",
		}})
	counter := newRecordCounter(t, brokers, out, dlq)

	inSubject := in + "-value"
	prod := proctest.Start(t, "produce_avro.py", proctest.Options{Dir: dir, Separate: true, Stdin: true}, py, pyScript("produce_avro.py"),
		"--bootstrap", strings.Join(brokers, ","), "--registry", reg, "--topic", in, "--subject", inSubject,
		"--schema", "1="+v1Path, "--schema", "2="+v2Path, "--events", eventsPath)
	statusLine := func(field string) (map[string]any, error) {
		for _, l := range prod.Stdout.Lines() {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m[field] != nil {
				return m, nil
			}
		}
		return nil, fmt.Errorf("produce_avro.py printed no %q line yet", field)
	}
	proctest.Eventually(t, flowTimeout, "phase 1 produced", func() error { _, err := statusLine("paused"); return err }, prod)
	counter.waitFor(t, "v1 predictions", map[string]int{out: phase1}, svc.Proc, prod)
	if got := subjectVersions(t, reg, inSubject); len(got) != 1 {
		t.Fatalf("%s has versions %v before the pause ended, want [1]", inSubject, got)
	}

	// Mid-stream: the producer registers v2 and goes on.
	if _, err := io.WriteString(prod.Stdin, "continue\n"); err != nil {
		t.Fatalf("write to produce_avro.py: %v", err)
	}
	if code := prod.Wait(toolTimeout); code != 0 {
		t.Fatalf("produce_avro.py exited %d", code)
	}
	done, err := statusLine("done")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("produce_avro.py: %v", done)
	ids, _ := done["ids"].(map[string]any)
	if n, _ := done["acked"].(float64); int(n) != total || ids["1"] == nil || ids["2"] == nil || ids["1"] == ids["2"] {
		t.Fatalf("produce_avro.py: %v; want %d records acknowledged under two distinct schema ids", done, total)
	}
	if got := subjectVersions(t, reg, inSubject); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("%s versions %v, want [1 2]", inSubject, got)
	}
	counter.waitFor(t, "all predictions", map[string]int{out: total}, svc.Proc)
	svc.StopClean()
	// That the service resolved both writer schemas by id in the registry is
	// shown by the predictions checked below: a v2 record cannot be decoded
	// (nor scored as the Go scorer scores it without country) without v2.
	outID := latestID(t, reg, out+"-value")

	// Python reads the predictions.
	stdout, stderr := runTool(t, nil, nil, py, pyScript("consume_avro.py"),
		"--bootstrap", strings.Join(brokers, ","), "--registry", reg, "--topic", out, "--timeout", "60")
	t.Logf("consume_avro.py: %s", strings.TrimSpace(string(stderr)))
	type pyMsg struct {
		Partition int32           `json:"partition"`
		Offset    int64           `json:"offset"`
		Timestamp int64           `json:"timestamp"`
		Key       *string         `json:"key"`
		SchemaID  int             `json:"schema_id"`
		ValueHex  string          `json:"value_hex"`
		Record    json.RawMessage `json:"record"`
	}
	var pyMsgs []pyMsg
	for _, l := range bytes.Split(bytes.TrimSpace(stdout), []byte("\n")) {
		var m pyMsg
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("consume_avro.py line %q: %v", l, err)
		}
		pyMsgs = append(pyMsgs, m)
	}
	errs := newErrorList(t, "prediction read by Python")
	seen := map[string]bool{}
	byPos := map[[2]int64]pyMsg{}
	for _, m := range pyMsgs {
		byPos[[2]int64{int64(m.Partition), m.Offset}] = m
		if m.Key == nil {
			errs.add("%d/%d: no key", m.Partition, m.Offset)
			continue
		}
		key := *m.Key
		w, ok := want[key]
		if !ok || seen[key] {
			errs.add("%d/%d: unexpected or repeated key %q", m.Partition, m.Offset, key)
			continue
		}
		seen[key] = true
		if m.SchemaID != outID {
			errs.add("%s: schema id %d, want %d (%s-value)", key, m.SchemaID, outID, out)
		}
		p, err := decodePrediction(m.Record)
		if err != nil {
			errs.add("%s: %v: %s", key, err, m.Record)
			continue
		}
		if err := w.check(b, p, m.Timestamp); err != nil {
			errs.add("%s: %v", key, err)
		}
	}
	errs.done()
	if len(pyMsgs) != total || len(seen) != total {
		t.Errorf("Python read %d predictions (%d distinct keys), want %d: one per input", len(pyMsgs), len(seen), total)
	}

	// kcat reads the same records byte for byte.
	kerrs := newErrorList(t, "prediction read by kcat")
	kmsgs := kcatConsumeRaw(t, brokers, out)
	for _, m := range kmsgs {
		pm, ok := byPos[[2]int64{int64(m.Partition), m.Offset}]
		switch {
		case !ok:
			kerrs.add("%d/%d: Python did not read this record", m.Partition, m.Offset)
		case pm.Key == nil || string(m.Key) != *pm.Key:
			kerrs.add("%d/%d: kcat key %q, Python's %s", m.Partition, m.Offset, m.Key, strp(pm.Key))
		case hex.EncodeToString(m.Value) != pm.ValueHex:
			kerrs.add("%d/%d: kcat value %x differs from Python's %s", m.Partition, m.Offset, m.Value, pm.ValueHex)
		case len(m.Value) < 5 || m.Value[0] != 0 || int(m.Value[1])<<24|int(m.Value[2])<<16|int(m.Value[3])<<8|int(m.Value[4]) != outID:
			kerrs.add("%d/%d: value does not start with magic 0 and schema id %d: % x", m.Partition, m.Offset, outID, m.Value[:min(5, len(m.Value))])
		}
	}
	kerrs.done()
	if len(kmsgs) != total {
		t.Errorf("kcat read %d predictions, want %d", len(kmsgs), total)
	}
	if d := kcatConsumeRaw(t, brokers, dlq); len(d) != 0 {
		t.Errorf("kcat read %d DLQ records, want none; first key %q", len(d), d[0].Key)
	}
	t.Logf("%d Avro events in (schema ids %v), %d predictions read by Python and by kcat, DLQ empty", total, ids, len(pyMsgs))
}

// writeV2Schema writes the v1 schema without the field dropped (which must be
// an optional ["null", T] field with default null) and with an optional
// string field added, default null.
func writeV2Schema(t testing.TB, v1Path, v2Path, dropped, added string) {
	t.Helper()
	data, err := os.ReadFile(v1Path)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	fields, _ := schema["fields"].([]any)
	var kept []any
	found := false
	for _, f := range fields {
		fm := f.(map[string]any)
		if fm["name"] == dropped {
			typ, _ := fm["type"].([]any)
			def, hasDefault := fm["default"]
			if len(typ) != 2 || typ[0] != "null" || !hasDefault || def != nil {
				t.Fatalf("v1 field %s is %v (default %v): not an optional field", dropped, fm["type"], def)
			}
			found = true
			continue
		}
		kept = append(kept, f)
	}
	if !found {
		t.Fatalf("v1 schema has no field %s", dropped)
	}
	schema["fields"] = append(kept, map[string]any{"name": added, "type": []any{"null", "string"}, "default": nil,
		"doc": "Added in v2 (interop test): not a model input."})
	out, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v2Path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fitsV1 reports whether a scored reference event can be written with the v1
// Avro schema: ids and required inputs present with their types, optional
// inputs absent, null or of their type.
func fitsV1(r refRow) bool {
	if r.Reject != "" {
		return false
	}
	ev := r.ev
	isStr := func(k string) bool { _, ok := ev[k].(string); return ok }
	isNum := func(k string) bool { _, ok := ev[k].(float64); return ok }
	opt := func(k string, typeOK func(string) bool) bool { return ev[k] == nil || typeOK(k) }
	isBool := func(k string) bool { _, ok := ev[k].(bool); return ok }
	return isStr("transaction_id") && isStr("card_id") && isNum("amount") && isStr("timestamp") &&
		opt("avg_amount_30d", isNum) && opt("distance_from_home_km", isNum) && opt("txn_count_24h", isNum) &&
		opt("merchant_category", isStr) && opt("country", isStr) && opt("card_present", isBool)
}

// registryURL is the schema registry named by STREAMSCORE_TEST_REGISTRY_URL;
// the test fails when it is not set or its Confluent-compatible API does not
// list subjects. The one exception is the unit layer (`make test-unit`: no
// real broker, no Java): with the in-process kfake broker and no URL, the
// in-process schemas/srtest registry stands in, as kfake does for Kafka.
func registryURL(t testing.TB) string {
	t.Helper()
	u := strings.TrimRight(os.Getenv(envRegistry), "/")
	if u == "" && !kafkatest.IsReal() {
		t.Logf("%s is not set and the broker is in-process: using the in-process schemas/srtest registry (the integration layer uses a real one)", envRegistry)
		return srtest.New(t).URL()
	}
	if u == "" {
		t.Fatalf("%s is not set: against a real broker this test needs a real schema registry with a Confluent-compatible API. "+
			"`make test` starts one; by hand: export %s=\"$(bash deploy/registry/registry-up.sh)\" (deploy/registry/README.md)",
			envRegistry, envRegistry)
	}
	var subjects []string
	resp, body, err := proctest.HTTPDo(&http.Client{Timeout: 10 * time.Second}, "GET", u+"/subjects", nil)
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &subjects)
	} else if err == nil {
		err = fmt.Errorf("%s: %s", resp.Status, body)
	}
	if err != nil {
		t.Fatalf("%s=%s does not answer GET /subjects: %v (start it with `bash deploy/registry/registry-up.sh`)", envRegistry, u, err)
	}
	return u
}

// subjectVersions lists a subject's versions over the registry's REST API.
func subjectVersions(t testing.TB, reg, subject string) []int {
	t.Helper()
	var vs []int
	registryGet(t, reg, "/subjects/"+url.PathEscape(subject)+"/versions", &vs)
	slices.Sort(vs)
	return vs
}

// latestID is the schema id of a subject's latest version.
func latestID(t testing.TB, reg, subject string) int {
	t.Helper()
	var v struct {
		ID int `json:"id"`
	}
	registryGet(t, reg, "/subjects/"+url.PathEscape(subject)+"/versions/latest", &v)
	if v.ID <= 0 {
		t.Fatalf("subject %s: no schema id", subject)
	}
	return v.ID
}

func registryGet(t testing.TB, reg, path string, v any) {
	t.Helper()
	resp, body := proctest.HTTP(t, &http.Client{Timeout: 10 * time.Second}, "GET", reg+path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}
