package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// What `streamscore produce --http` prints: one line per event, then the summary.
var (
	produceEventLine = regexp.MustCompile(`^\s*(\d+)  (\S+)\s+-> (.+)$`)
	produceSentLine  = regexp.MustCompile(`^sent (\d+) events in (\d+) requests to (\S+) in \S+ \(\S+ events/s\): (\d+) scored, (\d+) rejected, (\d+) failed$`)
	producePoison    = regexp.MustCompile(`^poison sent: (\d+) \((.*)\)$`)
	produceReasons   = regexp.MustCompile(`^rejected by reason: (.*)$`)
	produceStatus    = regexp.MustCompile(`^HTTP status: (.*); connection errors: (\d+)$`)
	produceLatency   = regexp.MustCompile(`^latency per request: p50 \S+, p99 \S+, max \S+$`)
)

// startServe starts `streamscore serve` for bundle on a free port and
// returns it with the address of /v1/predict from its start line.
func startServe(t *testing.T, bundle string) (*proctest.Proc, string) {
	t.Helper()
	p := proctest.Start(t, "streamscore serve", proctest.Options{}, bin, "serve",
		"--model.bundle", bundle, "--http.listen", "127.0.0.1:0", "--log.format", "json")
	line := p.WaitLog(startTimeout, "streamscore serving")
	addr, _ := line["predict"].(string)
	if addr == "" {
		t.Fatalf("no predict address in the start line %v", line)
	}
	return p, addr
}

// TestProduceHTTP is issue 11's `produce --http` acceptance: `streamscore
// produce --http` against `streamscore serve` for the fraud bundle (its
// realistic generator) and the iris bundle (the generic one) prints one
// answer per event, every poison event rejected with the reason it is
// named after and every other one scored, and a summary that adds up.
func TestProduceHTTP(t *testing.T) {
	for _, name := range []string{"fraud", "iris"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const count = 200
			bundle := filepath.Join(repoRoot, "examples", name)
			svc, addr := startServe(t, bundle)
			url := "http://" + addr + "/v1/predict"
			stdout, stderr, code := runCLI(t, 2*time.Minute, nil, "produce", bundle, "--http", url,
				"--count", strconv.Itoa(count), "--rate", "500", "--poison", "0.1", "--missing", map[string]string{"fraud": "0", "iris": "0.05"}[name])
			if code != 0 {
				t.Fatalf("produce exited %d: %s", code, stderr)
			}
			var events []string
			var sent, status, poison, reasons []string
			latency := false
			for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if m := produceEventLine.FindStringSubmatch(l); m != nil {
					if n, _ := strconv.Atoi(m[1]); n != len(events)+1 {
						t.Fatalf("event line %q after %d event lines", l, len(events))
					}
					events = append(events, m[3])
					continue
				}
				for _, p := range []struct {
					re  *regexp.Regexp
					dst *[]string
				}{{produceSentLine, &sent}, {produceStatus, &status}, {producePoison, &poison}, {produceReasons, &reasons}} {
					if m := p.re.FindStringSubmatch(l); m != nil {
						*p.dst = m
					}
				}
				latency = latency || produceLatency.MatchString(l)
			}
			if len(events) != count {
				t.Fatalf("%d event lines, want %d:\n%s", len(events), count, proctest.LastLines(stdout, 20))
			}
			if sent == nil || status == nil || poison == nil || reasons == nil || !latency {
				t.Fatalf("summary incomplete (sent, status, poison, reasons, latency lines: %v %v %v %v %v):\n%s",
					sent != nil, status != nil, poison != nil, reasons != nil, latency, proctest.LastLines(stdout, 8))
			}
			scored, rejected := 0, 0
			for _, e := range events {
				switch {
				case strings.Contains(e, " score ") || strings.HasPrefix(e, "score "):
					scored++
				case strings.HasPrefix(e, "rejected "):
					rejected++
				default:
					t.Errorf("event answer %q: neither scored nor rejected", e)
				}
			}
			num := func(s string) int { n, _ := strconv.Atoi(s); return n }
			if num(sent[1]) != count || num(sent[2]) != count || sent[3] != url || num(sent[4]) != scored || num(sent[5]) != rejected || num(sent[6]) != 0 {
				t.Errorf("summary %q: want %d events in %d requests to %s, %d scored, %d rejected, 0 failed", sent[0], count, count, url, scored, rejected)
			}
			// --poison 0.1 of 200: about 20 (the seed makes it one number; the band is the binomial's)
			if p := num(poison[1]); p < 8 || p > 36 || p != rejected {
				t.Errorf("%d poison events sent, %d rejected: want about 20, every one rejected and no clean one", p, rejected)
			}
			if reasons[1] != poison[2] {
				t.Errorf("rejected by reason %q, poison sent %q: want the same kinds and counts", reasons[1], poison[2])
			}
			if want := fmt.Sprintf("200 x%d, 400 x%d", scored, rejected); status[1] != want || status[2] != "0" {
				t.Errorf("status line %q: want %q and no connection errors", status[0], want)
			}
			t.Logf("%s: %s; %s; %s", name, sent[0], poison[0], status[0])
			if code := svc.Stop(); code != 0 {
				t.Errorf("serve exited %d after SIGTERM", code)
			}
		})
	}
}

// TestProduceIrisThroughTheStream: `streamscore produce` writes generic
// iris events (poison and missing values mixed in) to a topic of the real
// broker and `streamscore run` scores them: every event gets a prediction
// or a DLQ record, the DLQ ones for a poison reason.
func TestProduceIrisThroughTheStream(t *testing.T) {
	const count = 600
	brokers := kafkatest.Brokers(t)
	// the too_large poison (2 MiB) must fit the input and the DLQ topic
	big := map[string]string{"max.message.bytes": strconv.Itoa(4 << 20)}
	in, out, dlq := kafkatest.TopicWithConfigs(t, brokers, 3, big), kafkatest.Topic(t, brokers, 3), kafkatest.TopicWithConfigs(t, brokers, 1, big)
	bundle := filepath.Join(repoRoot, "examples", "iris")
	_, stderr, code := runCLI(t, 2*time.Minute, nil, "produce", bundle, "--kafka.brokers", brokers[0], "--input.topic", in,
		"--count", strconv.Itoa(count), "--rate", "0", "--poison", "0.05", "--missing", "0.05", "--seed", "11",
		"--input.key_field", "sample.id")
	if code != 0 {
		t.Fatalf("produce exited %d: %s", code, stderr)
	}
	inputs := kafkatest.ConsumeAll(t, brokers, in)
	if len(inputs) != count {
		t.Fatalf("%d records in the input topic, want %d", len(inputs), count)
	}

	group := kafkatest.UniqueName(t, "g")
	svc := startService(t, "streamscore run", serviceConfig{Brokers: brokers[0], Input: in, Output: out, DLQ: dlq, Group: group,
		HTTP: freeAddr(t), Extra: map[string]any{"model.bundle": bundle, "input.key_field": "sample.id"}})
	proctest.Eventually(t, 2*time.Minute, "the group committed every input record", func() error {
		if n := sum(kafkatest.GroupOffsets(t, brokers, group, in)); n != count {
			return fmt.Errorf("%d of %d committed", n, count)
		}
		return nil
	}, svc.Proc)
	preds, dead := kafkatest.ConsumeAll(t, brokers, out), kafkatest.ConsumeAll(t, brokers, dlq)
	if len(preds)+len(dead) != count {
		t.Fatalf("%d predictions + %d DLQ records for %d events", len(preds), len(dead), count)
	}
	predicted := map[string]bool{}
	for _, r := range preds {
		var p struct {
			Key     *string `json:"key"`
			EventID string  `json:"event_id"`
			Label   string  `json:"label"`
		}
		if err := json.Unmarshal(r.Value, &p); err != nil || p.Label == "" || p.EventID == "" {
			t.Fatalf("prediction %s: %v (want a label and an event id)", r.Value, err)
		}
		if p.Key == nil || *p.Key != string(r.Key) {
			t.Errorf("prediction %s: key %q, record key %q", r.Value, deref(p.Key), r.Key)
		}
		predicted[p.EventID] = true
	}
	deadAt := map[string]string{}
	reasons := map[string]int{}
	for _, r := range dead {
		reason := kafkatest.Header(r, processor.HeaderDLQReason)
		if !irisPoison[reason] {
			t.Errorf("DLQ record for %q: not an iris poison kind", reason)
		}
		reasons[reason]++
		deadAt[kafkatest.Header(r, processor.HeaderDLQPartition)+"/"+kafkatest.Header(r, processor.HeaderDLQOffset)] = reason
	}
	for _, r := range inputs {
		var ev struct {
			ID string `json:"transaction_id"`
		}
		_ = json.Unmarshal(r.Value, &ev)
		if _, ok := deadAt[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]; ok {
			continue
		}
		if !predicted[ev.ID] {
			t.Errorf("input %d/%d (%.120s): neither a prediction nor a DLQ record", r.Partition, r.Offset, r.Value)
		}
	}
	if len(dead) < count/100 || len(dead) > count/10 {
		t.Errorf("%d DLQ records of %d at --poison 0.05", len(dead), count)
	}
	t.Logf("%d iris events: %d predictions, %d DLQ records %v", count, len(preds), len(dead), reasons)
}

// irisPoison are the poison kinds produce makes for iris (no input is
// required, so no missing_field).
var irisPoison = map[string]bool{"malformed": true, "not_finite": true, "wrong_type": true, "too_large": true}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
