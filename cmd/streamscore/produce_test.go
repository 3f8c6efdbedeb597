package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/doctest"
	"github.com/streamscore/streamscore/internal/reload"
)

// startDoor serves bundle's HTTP door in-process, on the stream's code path
// with input.max_record_bytes maxRecord, and returns its /v1/predict URL.
func startDoor(t *testing.T, bundle string, maxRecord int) string {
	t.Helper()
	cfg := defaultConfig()
	cfg.Model.Bundle = bundle
	cfg.Input.MaxRecordBytes = maxRecord
	ctx, log, reg := context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry()
	paths, err := newDoorPaths(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := newReloader(&cfg, log, reload.NewMetrics(reg), paths.check, true)
	if err != nil {
		t.Fatal(err)
	}
	first, err := rl.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	door, closeDoor, err := newHTTPDoor(ctx, &cfg, paths.path(first.Live), rl, log, reg, false)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(door.Handler())
	t.Cleanup(func() {
		srv.Close()
		closeDoor()
	})
	return srv.URL + "/v1/predict"
}

// runProduce runs `streamscore produce args...` and returns its stdout.
func runProduce(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := execCLI(t, "", append([]string{"produce"}, args...)...)
	return out, err
}

var (
	eventLine   = regexp.MustCompile(`^\s*(\d+)  \S+\s+-> (.*)$`)
	sentLine    = regexp.MustCompile(`^sent (\d+) events in (\d+) requests to \S+ in \S+ \(\S+ events/s\): (\d+) scored, (\d+) rejected, (\d+) failed$`)
	poisonLine  = regexp.MustCompile(`^poison sent: (\d+) \((.*)\)$`)
	reasonsLine = regexp.MustCompile(`^rejected by reason: (.*)$`)
)

// httpRun is what produce --http printed.
type httpRun struct {
	events                          []string // what became of each event
	sent, requests, scored, rejects int
	failed, poison                  int
	poisonKinds, reasons            string
}

func parseHTTPRun(t *testing.T, out string) httpRun {
	t.Helper()
	var r httpRun
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch m := eventLine.FindStringSubmatch(l); {
		case m != nil:
			if atoi(m[1]) != len(r.events)+1 {
				t.Fatalf("event line %q out of order after %d lines", l, len(r.events))
			}
			r.events = append(r.events, m[2])
			continue
		}
		if m := sentLine.FindStringSubmatch(l); m != nil {
			r.sent, r.requests, r.scored, r.rejects, r.failed = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5])
		}
		if m := poisonLine.FindStringSubmatch(l); m != nil {
			r.poison, r.poisonKinds = atoi(m[1]), m[2]
		}
		if m := reasonsLine.FindStringSubmatch(l); m != nil {
			r.reasons = m[1]
		}
	}
	if r.sent == 0 {
		t.Fatalf("no summary line in:\n%s", out)
	}
	return r
}

// TestProduceHTTPAgainstTheDoor: produce --http against the real door, for
// the fraud generator and the generic one, one event per request and in
// arrays: one line per event, every clean event scored, every poison one
// rejected with the reason it is named after.
func TestProduceHTTPAgainstTheDoor(t *testing.T) {
	tests := []struct {
		name   string
		bundle string
		args   []string
	}{
		{"fraud", "../../examples/fraud", nil},
		{"iris", "../../examples/iris", []string{"--missing", "0.1"}},
		{"churn in arrays", "../../examples/churn", []string{"--batch", "7", "--input.key_field", "customer.id"}},
		{"fraud generic in arrays", "../../examples/fraud", []string{"--generator", "generic", "--batch", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const count = 300
			// Small records, so an array holding oversized events stays
			// under http.max_body_bytes and each is too_large by itself.
			url := startDoor(t, tt.bundle, 4096)
			args := append([]string{tt.bundle, "--http", url, "--count", strconv.Itoa(count), "--rate", "0",
				"--poison", "0.1", "--too-large-bytes", "8192", "--seed", "5"}, tt.args...)
			out, err := runProduce(t, args...)
			if err != nil {
				t.Fatalf("produce: %v\n%s", err, out)
			}
			r := parseHTTPRun(t, out)
			if len(r.events) != count || r.sent != count {
				t.Fatalf("%d event lines, summary says %d sent; want %d", len(r.events), r.sent, count)
			}
			scored, rejected := 0, 0
			for _, e := range r.events {
				switch {
				case strings.Contains(e, "score "):
					scored++
				case strings.HasPrefix(e, "rejected "):
					rejected++
				}
			}
			if r.scored != scored || r.rejects != rejected || r.failed != 0 || scored+rejected != count {
				t.Errorf("summary %d scored, %d rejected, %d failed; lines %d scored, %d rejected (of %d)", r.scored, r.rejects, r.failed, scored, rejected, count)
			}
			if r.poison < count/20 || r.poison > count/5 {
				t.Errorf("%d poison events of %d at --poison 0.1", r.poison, count)
			}
			if r.rejects != r.poison || r.reasons != r.poisonKinds {
				t.Errorf("rejected %d (%s), poison sent %d (%s): want every poison event rejected for its kind, and nothing else",
					r.rejects, r.reasons, r.poison, r.poisonKinds)
			}
			if per := max(1, batchOf(tt.args)); r.requests != (count+per-1)/per {
				t.Errorf("%d requests for %d events in batches of %d", r.requests, count, per)
			}
		})
	}
}

func batchOf(args []string) int {
	for i, a := range args {
		if a == "--batch" {
			n, _ := strconv.Atoi(args[i+1])
			return n
		}
	}
	return 0
}

// TestProduceHTTPReplay: --from a reference file sends its events once
// with --count 0, round and round with a larger --count; the reference's
// own rejects are rejected.
func TestProduceHTTPReplay(t *testing.T) {
	url := startDoor(t, "../../examples/churn", 1<<20)
	ref := "../../examples/churn/reference.jsonl"
	data, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	wantRejects := bytes.Count(data, []byte(`"reject":`))
	out, err := runProduce(t, "--from", ref, "--http", url, "--rate", "0")
	if err != nil {
		t.Fatal(err)
	}
	r := parseHTTPRun(t, out)
	if r.sent != lines || r.rejects != wantRejects || r.scored != lines-wantRejects {
		t.Errorf("once: sent %d, %d scored, %d rejected; the file has %d events, %d of them rejected", r.sent, r.scored, r.rejects, lines, wantRejects)
	}
	out, err = runProduce(t, "--from", ref, "--http", url, "--rate", "0", "--count", strconv.Itoa(2*lines+3), "--batch", "4")
	if err != nil {
		t.Fatal(err)
	}
	if r := parseHTTPRun(t, out); r.sent != 2*lines+3 || r.failed != 0 {
		t.Errorf("looping: sent %d, %d failed; want %d sent", r.sent, r.failed, 2*lines+3)
	}
	// the same events as CSV: the bundle types the cells
	csv := filepath.Join(t.TempDir(), "churn.csv")
	if err := os.WriteFile(csv, []byte("tenure_months,monthly_charges,contract,senior_citizen,last_payment\n"+
		"12,70.5,one-year,True,2026-02-07T19:26:47Z\n3,,month-to-month,false,\n5,20,lifetime,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runProduce(t, "../../examples/churn", "--from", csv, "--http", url, "--rate", "0")
	if err != nil {
		t.Fatal(err)
	}
	r = parseHTTPRun(t, out)
	if want := []string{"score ", "rejected missing_field (monthly_charges)", "rejected unknown_category (contract)"}; len(r.events) != 3 ||
		!strings.Contains(r.events[0], want[0]) || r.events[1] != want[1] || r.events[2] != want[2] {
		t.Errorf("csv rows: %q, want %q", r.events, want)
	}
}

// TestProduceHTTPFailures: a door that is not there is counted, not fatal.
func TestProduceHTTPFailures(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close() // nothing listens there now
	out, err := runProduce(t, "--http", url, "--count", "3", "--rate", "0")
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	r := parseHTTPRun(t, out)
	if r.sent != 3 || r.failed != 3 || !strings.Contains(out, "connection errors: 3") {
		t.Errorf("sent %d, failed %d; want 3 and 3 connection errors:\n%s", r.sent, r.failed, out)
	}
}

// TestProduceFlags: combinations that would be ignored are errors.
func TestProduceFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--poison", "2"}, "--poison 2: want a fraction"},
		{[]string{"--batch", "3"}, "--batch applies to --http"},
		{[]string{"--generator", "smart"}, `--generator "smart"`},
		{[]string{"--from", "x.jsonl", "--poison", "0.1"}, "--poison applies to generated events"},
		{[]string{"--format", "csv"}, "--format is the format of --from"},
		{[]string{"--missing", "0.1", "--http", "http://127.0.0.1:1"}, "--missing and --outside apply to the generic generator"},
		{[]string{"--generator", "generic", "--http", "http://127.0.0.1:1"}, "the generic generator needs a bundle"},
		{[]string{"--from", "x.csv", "--http", "http://127.0.0.1:1"}, "needs the bundle"},
		{[]string{"--http", "ftp://127.0.0.1:9464"}, "want an http:// or https:// URL"},
		{[]string{"../../examples/iris", "--bundle", "../../examples/fraud"}, "two bundles given"},
		{[]string{"--count", "1"}, "kafka.brokers"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runProduce(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestPredictURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9464":              "http://127.0.0.1:9464/v1/predict",
		"http://127.0.0.1:9464/":             "http://127.0.0.1:9464/v1/predict",
		"https://h.example/api/v1/predict":   "https://h.example/api/v1/predict",
		"http://127.0.0.1:9464/v1/predict?x": "http://127.0.0.1:9464/v1/predict?x",
	} {
		if got, err := predictURL(in); err != nil || got != want {
			t.Errorf("predictURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestProduceDocsInStep keeps docs/http.md's section on produce --http in
// step with the command: the flags it names exist, and its sample output
// has the shape produce prints (the patterns the tests above read).
func TestProduceDocsInStep(t *testing.T) {
	sec := doctest.Section(t, "../../docs/http.md", "## A live simulation: `streamscore produce --http`")
	cmd := newProduceCmd()
	flagsNamed := regexp.MustCompile("`(--[a-z-]+)").FindAllStringSubmatch(sec, -1)
	for _, m := range flagsNamed {
		if cmd.Flags().Lookup(strings.TrimPrefix(m[1], "--")) == nil {
			t.Errorf("docs/http.md names %s, which produce does not have", m[1])
		}
	}
	if len(flagsNamed) < 5 {
		t.Errorf("the section names %d flags in backquotes; the check above reads them", len(flagsNamed))
	}
	_, sample, _ := strings.Cut(sec, "```text\n")
	sample, _, _ = strings.Cut(sample, "```")
	shapes := []*regexp.Regexp{eventLine, sentLine, poisonLine, reasonsLine,
		regexp.MustCompile(`^HTTP status: .*; connection errors: \d+$`), regexp.MustCompile(`^latency per request: p50 \S+, p99 \S+, max \S+$`)}
	for _, l := range strings.Split(strings.TrimSpace(sample), "\n") {
		if strings.TrimSpace(l) == "..." {
			continue
		}
		if !slices.ContainsFunc(shapes, func(re *regexp.Regexp) bool { return re.MatchString(l) }) {
			t.Errorf("sample line %q is not what produce prints", l)
		}
	}
}
