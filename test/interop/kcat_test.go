package interop

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

// TestKcatJSONReferenceScores: every event of examples/fraud/reference.jsonl
// is written by kcat (`-K '|'`, key|value lines) as JSON; streamscore
// (input.format json, output.format json) scores it; kcat reads the
// predictions and the DLQ back. Each scored reference row has exactly one
// prediction, under the same key, whose probabilities, score and label are
// XGBoost's own (the reference `scores`, within 1e-6) and whose event_time is
// the input record's timestamp; each row the reference rejects is in the DLQ,
// unchanged, with that reason and its source topic/partition/offset.
func TestKcatJSONReferenceScores(t *testing.T) {
	t.Parallel()
	b, refs := loadFraud(t), loadReference(t)
	run := startKcatRun(t, 3)
	brokers, in, out, dlq := run.brokers, run.in, run.out, run.dlq

	byKey := map[string]*refRow{}
	lines := make([]string, 0, len(refs))
	scored, rejected := 0, 0
	for i := range refs {
		r := &refs[i]
		key := fmt.Sprintf("ref-%04d", r.line)
		byKey[key] = r
		lines = append(lines, key+"|"+string(r.Event))
		if r.Reject != "" {
			rejected++
		} else {
			scored++
		}
	}
	kcatProduce(t, brokers, in, lines)
	run.counter.waitFor(t, "predictions and DLQ records", map[string]int{out: scored, dlq: rejected}, run.svc.Proc)
	run.svc.StopClean()

	// What kcat wrote, as kcat reads it back: key -> input record.
	inputs := map[string]kcatMsg{}
	for _, m := range kcatConsumeJSON(t, brokers, in) {
		if m.Key == nil {
			t.Fatalf("input record %d/%d has no key", m.Partition, m.Offset)
		}
		inputs[*m.Key] = m
	}
	if len(inputs) != len(refs) {
		t.Fatalf("kcat reads %d distinct keys from the input topic, wrote %d", len(inputs), len(refs))
	}

	preds := kcatConsumeJSON(t, brokers, out)
	errs := newErrorList(t, "prediction")
	seen := map[string]bool{}
	for _, m := range preds {
		if m.Key == nil {
			errs.add("%d/%d: no key", m.Partition, m.Offset)
			continue
		}
		key := *m.Key
		r, ok := byKey[key]
		switch {
		case !ok:
			errs.add("%d/%d: unknown key %q", m.Partition, m.Offset, key)
			continue
		case seen[key]:
			errs.add("key %q: a second prediction at %d/%d", key, m.Partition, m.Offset)
			continue
		case r.Reject != "":
			errs.add("key %q (line %d, %s): scored, but the reference rejects it (%s)", key, r.line, r.Note, r.Reject)
			continue
		}
		seen[key] = true
		if h := m.header("streamscore-model"); len(h) != 1 || h[0] != b.Name+"@"+b.Version {
			errs.add("key %q: streamscore-model headers %q", key, h)
		}
		if m.Payload == nil {
			errs.add("key %q: null value", key)
			continue
		}
		p, err := decodePrediction([]byte(*m.Payload))
		if err != nil {
			errs.add("key %q: %v: %s", key, err, *m.Payload)
			continue
		}
		if in := inputs[key]; m.Ts != in.Ts {
			errs.add("key %q: record timestamp %d, input's %d", key, m.Ts, in.Ts)
		}
		want := expected{key: key, eventID: eventID(r.ev), probs: r.Scores, label: *r.Label}
		if err := want.check(b, p, m.Ts); err != nil {
			errs.add("key %q (line %d %s): %v", key, r.line, r.Note, err)
		}
	}
	errs.done()
	if len(preds) != scored || len(seen) != scored {
		t.Errorf("kcat read %d predictions (%d distinct keys), want one for each of the %d scored reference rows",
			len(preds), len(seen), scored)
	}

	dlqs := kcatConsumeJSON(t, brokers, dlq)
	derrs := newErrorList(t, "DLQ record")
	for _, m := range dlqs {
		key := strp(m.Key)
		r, ok := (*refRow)(nil), m.Key != nil
		if ok {
			r, ok = byKey[*m.Key]
		}
		if !ok || r.Reject == "" {
			derrs.add("%d/%d: key %s is not a rejected reference row", m.Partition, m.Offset, key)
			continue
		}
		in := inputs[*m.Key]
		if err := checkDLQHeaders(m, in, r.Reject, b.Name+"@"+b.Version); err != nil {
			derrs.add("key %s (line %d, %s): %v", key, r.line, r.Note, err)
		}
		if m.Payload == nil || *m.Payload != string(r.Event) {
			derrs.add("key %s: value %s, want the original %s", key, strp(m.Payload), r.Event)
		}
	}
	derrs.done()
	if len(dlqs) != rejected {
		t.Errorf("kcat read %d DLQ records, want %d (the reference's rejects)", len(dlqs), rejected)
	}
	t.Logf("kcat: %d events in, %d predictions (XGBoost reference within %g), %d DLQ records", len(refs), len(preds), probTol, len(dlqs))
}

// TestKcatMalformedToDLQ: records kcat writes that are not JSON objects
// (including an empty value and a null value, `kcat -Z`) land in the DLQ with
// reason malformed; kcat (-J) reads the DLQ headers: the original headers first
// (as kcat wrote them), then streamscore-dlq-reason, -stage, -error,
// -source-topic/-partition/-offset (those of the input record as kcat reads
// it), -model and -time; key, value (null stays null) and timestamp
// unchanged. Good records sent alongside are scored: one with a key, one with
// an empty key and one without a key (the prediction's key field is "" and
// null, the Kafka key empty and null); the input's trace header is carried
// over to the predictions, other headers are not.
func TestKcatMalformedToDLQ(t *testing.T) {
	t.Parallel()
	b, refs := loadFraud(t), loadReference(t)
	run := startKcatRun(t, 2)
	brokers, in, out, dlq := run.brokers, run.in, run.out, run.dlq

	str := func(s string) *string { return &s }
	bad := map[string]*string{ // key -> value (nil: null value)
		"bad-truncated": str(`{"amount": 12.5, "timestamp": "2026-02-07T19:26:47Z"`),
		"bad-text":      str(`not json at all`),
		"bad-array":     str(`["amount", 12.5]`),
		"bad-trailing":  str(`{"amount": 12.5, "timestamp": "2026-02-07T19:26:47Z"} {}`),
		"bad-string":    str(`"just a string"`),
		"bad-empty":     str(""),
		"bad-null":      nil,
	}
	good := refs[0]
	if good.Reject != "" {
		t.Fatal("reference row 1 is not a scored row")
	}
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	headers := []string{"-H", "origin=kcat-interop", "-H", "traceparent=" + traceparent}
	lines := []string{"good-1|" + string(good.Event), "|" + string(good.Event)} // the second has an empty key
	for k, v := range bad {
		if v != nil {
			lines = append(lines, k+"|"+*v)
		}
	}
	kcatProduce(t, brokers, in, lines, headers...)
	kcatProduce(t, brokers, in, []string{"bad-null|"}, append(headers, "-Z")...) // -Z: empty value -> null
	// Without -K: the line is the value, the record has no key.
	runTool(t, append(append([]byte(nil), good.Event...), '\n'), nil, kcatPath(t),
		append([]string{"-P", "-b", strings.Join(brokers, ","), "-t", in, "-X", "acks=all"}, headers...)...)
	run.counter.waitFor(t, "predictions and DLQ records", map[string]int{out: 3, dlq: len(bad)}, run.svc.Proc)
	run.svc.StopClean()

	inputs := map[string]kcatMsg{} // by key; "<null>" for the keyless one
	for _, m := range kcatConsumeJSON(t, brokers, in) {
		k := "<null>"
		if m.Key != nil {
			k = *m.Key
		}
		inputs[k] = m
	}
	if len(inputs) != len(bad)+3 {
		t.Fatalf("kcat reads %d distinct keys from the input topic, want %d", len(inputs), len(bad)+3)
	}

	dlqs := kcatConsumeJSON(t, brokers, dlq)
	if len(dlqs) != len(bad) {
		t.Errorf("kcat read %d DLQ records, want %d", len(dlqs), len(bad))
	}
	seen := map[string]bool{}
	for _, m := range dlqs {
		v, ok := (*string)(nil), false
		if m.Key != nil {
			v, ok = bad[*m.Key]
		}
		if !ok || seen[*m.Key] {
			t.Errorf("DLQ record %d/%d: unexpected key %s", m.Partition, m.Offset, strp(m.Key))
			continue
		}
		key := *m.Key
		seen[key] = true
		if (m.Payload == nil) != (v == nil) || (v != nil && *m.Payload != *v) {
			t.Errorf("%s: DLQ value %s, want the original %s", key, strp(m.Payload), strp(v))
		}
		if err := checkDLQHeaders(m, inputs[key], "malformed", b.Name+"@"+b.Version); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if m.Ts != inputs[key].Ts {
			t.Errorf("%s: DLQ record timestamp %d, input's %d", key, m.Ts, inputs[key].Ts)
		}
		// The original headers come first, as kcat wrote them.
		if len(m.Headers) < 4 || m.Headers[0] != "origin" || m.Headers[1] != "kcat-interop" ||
			m.Headers[2] != "traceparent" || m.Headers[3] != traceparent {
			t.Errorf("%s: DLQ headers %q do not start with the input's origin and traceparent", key, m.Headers)
		}
		if e := m.header("streamscore-dlq-error"); len(e) == 1 {
			t.Logf("%s: streamscore-dlq-error: %s", key, e[0])
		}
	}

	preds := kcatConsumeJSON(t, brokers, out)
	if len(preds) != 3 {
		t.Errorf("kcat read %d predictions, want 3", len(preds))
	}
	seenPred := map[string]bool{}
	for _, m := range preds {
		k := "<null>"
		if m.Key != nil {
			k = *m.Key
		}
		if inputs[k].Payload == nil || *inputs[k].Payload != string(good.Event) || seenPred[k] || m.Payload == nil {
			t.Errorf("prediction %d/%d: unexpected key %s or null value", m.Partition, m.Offset, strp(m.Key))
			continue
		}
		seenPred[k] = true
		p, err := decodePrediction([]byte(*m.Payload))
		if err != nil {
			t.Errorf("prediction %s: %v", *m.Payload, err)
			continue
		}
		want := expected{key: k, keyNull: m.Key == nil, eventID: eventID(good.ev), probs: good.Scores, label: *good.Label}
		if err := want.check(b, p, m.Ts); err != nil {
			t.Errorf("key %s: %v", strp(m.Key), err)
		}
		if m.Ts != inputs[k].Ts {
			t.Errorf("key %s: record timestamp %d, input's %d", strp(m.Key), m.Ts, inputs[k].Ts)
		}
		if h := m.header("traceparent"); len(h) != 1 || h[0] != traceparent {
			t.Errorf("key %s: prediction traceparent headers %q, want the input's %q", strp(m.Key), h, traceparent)
		}
		if h := m.header("origin"); len(h) != 0 {
			t.Errorf("key %s: prediction carries the input's non-trace header origin=%q", strp(m.Key), h)
		}
	}
	for _, k := range []string{"good-1", "", "<null>"} {
		if !seenPred[k] {
			t.Errorf("no prediction for the input with key %q", k)
		}
	}
}

// kcatRun is streamscore with JSON in and out between new topics that kcat
// writes and reads, and a counter of what reached the output and the DLQ.
type kcatRun struct {
	brokers      []string
	in, out, dlq string // input and output with the partitions asked for, a one-partition DLQ
	svc          *service
	counter      *recordCounter
}

func startKcatRun(t *testing.T, partitions int32) kcatRun {
	t.Helper()
	kcatPath(t)
	k := kcatRun{brokers: kafkatest.Brokers(t)}
	k.in, k.out, k.dlq = kafkatest.Topic(t, k.brokers, partitions), kafkatest.Topic(t, k.brokers, partitions), kafkatest.Topic(t, k.brokers, 1)
	k.svc = startService(t, serviceConfig{Brokers: k.brokers, Input: k.in, Output: k.out, DLQ: k.dlq,
		Extra: map[string]any{"input.format": "json", "output.format": "json"}})
	k.counter = newRecordCounter(t, k.brokers, k.out, k.dlq)
	return k
}

// checkDLQHeaders checks the streamscore-dlq-* headers of a DLQ record read
// by kcat against the input record (as kcat read it) and the reason.
func checkDLQHeaders(m, in kcatMsg, reason, model string) error {
	var errs []string
	one := func(name, want string) {
		if got := m.header(name); len(got) != 1 || (want != "" && got[0] != want) {
			errs = append(errs, fmt.Sprintf("%s %q, want [%q]", name, got, want))
		}
	}
	one("streamscore-dlq-reason", reason)
	one("streamscore-dlq-source-topic", in.Topic)
	one("streamscore-dlq-source-partition", strconv.Itoa(int(in.Partition)))
	one("streamscore-dlq-source-offset", strconv.FormatInt(in.Offset, 10))
	one("streamscore-dlq-model", model)
	one("streamscore-dlq-stage", "")
	if s := m.header("streamscore-dlq-stage"); len(s) == 1 {
		// A decode failure (the record cannot be read) or a feature step's
		// (the record is read but a value is unusable: log1p(-1)).
		want := map[string]string{"malformed": "decode", "missing_field": "decode", "not_finite": "features"}[reason]
		if want != "" && s[0] != want {
			errs = append(errs, fmt.Sprintf("stage %q, want %q for %s", s[0], want, reason))
		}
	}
	if e := m.header("streamscore-dlq-error"); len(e) != 1 || strings.TrimSpace(e[0]) == "" {
		errs = append(errs, fmt.Sprintf("streamscore-dlq-error %q, want a message", e))
	}
	if tm := m.header("streamscore-dlq-time"); len(tm) != 1 {
		errs = append(errs, fmt.Sprintf("streamscore-dlq-time %q", tm))
	} else if _, err := time.Parse(time.RFC3339Nano, tm[0]); err != nil {
		errs = append(errs, fmt.Sprintf("streamscore-dlq-time: %v", err))
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// eventID is the event's transaction_id (input.event_id_field's default), or
// nil when the event has none.
func eventID(ev map[string]any) *string {
	if s, ok := ev["transaction_id"].(string); ok {
		return &s
	}
	return nil
}
