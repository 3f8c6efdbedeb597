package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// wantStatus checks GET http://addr+path answers code.
func wantStatus(addr, path string, code int) error { return wantBody(addr, path, code, "") }

// wantBody is wantStatus that also wants the body to contain substr.
func wantBody(addr, path string, code int, substr string) error {
	got, body, err := httpGet("http://" + addr + path)
	if err != nil {
		return err
	}
	if got != code || !strings.Contains(body, substr) {
		return fmt.Errorf("GET %s: HTTP %d (%.200s), want %d with %q", path, got, strings.TrimSpace(body), code, substr)
	}
	return nil
}

// TestHealthAndReadiness drives /readyz through its states with an
// in-process kfake broker whose JoinGroup the test holds back: 503 while the
// group cannot be joined, 200 once it is, 503 again when the broker goes
// away. /healthz is 200 throughout, and /debug/pprof is off by default.
//
// It uses kfake whatever STREAMSCORE_TEST_BROKERS says: holding the group
// join and killing the broker need a broker the test controls.
func TestHealthAndReadiness(t *testing.T) {
	c := kafkatest.FakeCluster(t, kfake.SeedTopics(3, "in", "out", "dlq"))
	release := make(chan struct{})
	var joins, describes atomic.Int32
	c.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		joins.Add(1)
		select {
		case <-release:
		default:
			// franz-go joins on a connection of its own, so sleeping here
			// holds the join without stalling the service's other requests.
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false // then the cluster handles it normally
	})
	c.ControlKey(int16(kmsg.DescribeGroups), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		describes.Add(1) // the service's lag/readiness refresh describes its group
		return nil, nil, false
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	addr := freeAddr(t)
	svc := startService(t, "streamscore run", serviceConfig{
		Brokers: c.ListenAddrs()[0], Input: "in", Output: "out", DLQ: "dlq", Group: "g",
		HTTP: addr, LagRefresh: "200ms",
	})
	proctest.Eventually(t, startTimeout, "/healthz 200", func() error { return wantStatus(addr, "/healthz", 200) }, svc.Proc)

	// Hold the join until the service tried to join and refreshed its
	// readiness at least twice since: it must say "not ready".
	proctest.Eventually(t, startTimeout, "the service tries to join the group", func() error {
		if joins.Load() == 0 {
			return fmt.Errorf("no JoinGroup yet")
		}
		return nil
	}, svc.Proc)
	d0 := describes.Load()
	proctest.Eventually(t, startTimeout, "two readiness refreshes while the join is held", func() error {
		if d := describes.Load(); d < d0+2 {
			return fmt.Errorf("%d DescribeGroups since the join was held", d-d0)
		}
		return nil
	}, svc.Proc)
	if err := wantStatus(addr, "/readyz", http.StatusServiceUnavailable); err != nil {
		t.Fatalf("group not joined: %v", err)
	}
	if err := wantStatus(addr, "/healthz", 200); err != nil {
		t.Fatalf("group not joined: %v", err)
	}
	fams, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := metricValue(fams, "streamscore_assigned_partitions", nil); v != 0 {
		t.Errorf("streamscore_assigned_partitions = %g before the group is joined, want 0", v)
	}
	if err := wantStatus(addr, "/debug/pprof/", http.StatusNotFound); err != nil {
		t.Errorf("http.pprof off: %v", err)
	}

	close(release)
	proctest.Eventually(t, startTimeout, "/readyz 200 once the group is joined", func() error {
		return wantStatus(addr, "/readyz", 200)
	}, svc.Proc)
	fams, err = scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := metricValue(fams, "streamscore_assigned_partitions", nil); v != 3 {
		t.Errorf("streamscore_assigned_partitions = %g once ready, want 3", v)
	}

	// The broker goes away: not ready, but alive.
	c.Close()
	proctest.Eventually(t, startTimeout, "/readyz 503 once the broker is gone", func() error {
		return wantStatus(addr, "/readyz", http.StatusServiceUnavailable)
	}, svc.Proc)
	if err := wantStatus(addr, "/healthz", 200); err != nil {
		t.Errorf("broker gone: %v", err)
	}
	code := svc.Stop()
	t.Logf("SIGTERM with the broker gone: exit code %d", code)
}

// TestPprof checks that http.pprof: true serves /debug/pprof on the same
// listener, behind the admin token (off by default:
// TestHealthAndReadiness).
func TestPprof(t *testing.T) {
	addr := freeAddr(t)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, "streamscore run", serviceConfig{Brokers: "embedded", HTTP: addr, Pprof: true,
		Extra: map[string]any{"http.admin_token_file": token}})
	pprof := func(path, tok string) (int, string, error) {
		code, _, body, err := request(httpClient, http.MethodGet, "http://"+addr+path, tok)
		return code, body, err
	}
	proctest.Eventually(t, startTimeout, "/debug/pprof/ 200", func() error {
		code, body, err := pprof("/debug/pprof/", "tok")
		if err != nil {
			return err
		}
		if code != 200 || !strings.Contains(body, "goroutine") {
			return fmt.Errorf("HTTP %d: %.200s", code, body)
		}
		return nil
	}, svc.Proc)
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/debug/pprof/cmdline", "tok", 200},
		{"/debug/pprof/cmdline", "", 401},
		{"/debug/pprof/", "wrong", 401},
	} {
		if code, body, err := pprof(tc.path, tc.token); err != nil || code != tc.code {
			t.Errorf("GET %s with token %q: HTTP %d %.200s %v, want %d", tc.path, tc.token, code, body, err, tc.code)
		}
	}
	if err := wantStatus(addr, "/metrics", 200); err != nil {
		t.Error(err)
	}
	if code := svc.Stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// summaryLine is one per-second line of the demo.
var summaryLine = regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] in\s+(\d+) ev/s \| out\s+(\d+) pred/s \| e2e p50\s+\S+ p99\s+\S+ \| lag (\d+) \| dlq (\d+)$`)

// sampleLine is one sample prediction under a summary line.
var sampleLine = regexp.MustCompile(`^    card-\d+\s+\S+\s+-> .+ score (0|1)\.\d{4}$`)

var stoppedLine = regexp.MustCompile(`^demo stopped: (\d+) events consumed, (\d+) predictions, (\d+) to the DLQ$`)

// TestDemo is the acceptance run of `streamscore demo --duration 20s`: it
// exits 0, prints summaries with non-zero throughput and sample predictions,
// and while it runs its /metrics shows records consumed and one lag series
// per partition of the embedded broker's input topic (6 by default), and
// /readyz says the broker is not a production one.
func TestDemo(t *testing.T) {
	t.Parallel()
	const partitions = 6
	addr := freeAddr(t)
	// From an empty directory (proctest's default): the broker and the
	// bundle are the ones built into the binary; the broker's data goes to
	// .streamscore/ there.
	p := proctest.Start(t, "streamscore demo", proctest.Options{Separate: true}, bin, "demo",
		"--duration", "20s", "--http.listen", addr)

	proctest.Eventually(t, 25*time.Second, "demo /readyz 200 naming the embedded broker", func() error {
		return wantBody(addr, "/readyz", 200, "not a production broker")
	}, p)

	var consumed float64
	proctest.Eventually(t, 25*time.Second, "demo /metrics: records consumed and a lag series per partition", func() error {
		fams, err := scrape(addr)
		if err != nil {
			return err
		}
		consumed, _ = metricValue(fams, "streamscore_records_consumed_total", map[string]string{"topic": "transactions"})
		if consumed <= 0 {
			return fmt.Errorf("streamscore_records_consumed_total = %g", consumed)
		}
		lag := lagSeries(fams, "transactions")
		if len(lag) != partitions {
			return fmt.Errorf("lag series %v, want partitions 0..%d", lag, partitions-1)
		}
		for part, v := range lag {
			if part < 0 || part >= partitions || v < 0 {
				return fmt.Errorf("lag series %v", lag)
			}
		}
		return nil
	}, p)
	t.Logf("demo /metrics during the run: %g records consumed", consumed)

	if code := p.Wait(60 * time.Second); code != 0 {
		t.Fatalf("demo exited %d, want 0", code)
	}
	lines := p.Stdout.Lines()
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "streamscore demo: model fraud@1.0.0") ||
		!strings.Contains(lines[0], "metrics http://"+addr+"/metrics") {
		t.Errorf("first line %q: want the banner with the model and the metrics URL", first(lines))
	}
	var summaries, busy, samples int
	var stopped []string
	for i, l := range lines {
		if m := summaryLine.FindStringSubmatch(l); m != nil {
			summaries++
			in, _ := strconv.Atoi(m[1])
			out, _ := strconv.Atoi(m[2])
			if in > 0 && out > 0 {
				busy++
				// Samples follow a summary line.
				for j := i + 1; j < len(lines) && sampleLine.MatchString(lines[j]); j++ {
					samples++
				}
			}
		}
		if m := stoppedLine.FindStringSubmatch(l); m != nil {
			stopped = m
		}
	}
	if busy == 0 || samples == 0 {
		t.Errorf("%d summary lines, %d with non-zero in and out throughput, %d sample predictions after them; want at least one of each", summaries, busy, samples)
	}
	if stopped == nil {
		t.Errorf("no final \"demo stopped: ...\" line")
	} else if n, _ := strconv.Atoi(stopped[1]); n <= 0 {
		t.Errorf("final line %q: want events consumed", stopped[0])
	}
	if se := p.Stderr.String(); strings.Contains(se, "panic") || strings.Contains(se, "goroutine ") {
		t.Errorf("demo stderr has a panic or stack trace")
	}
	t.Logf("demo: %d summary lines (%d busy), %d sample predictions; %s", summaries, busy, samples, last(lines))
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func last(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}
