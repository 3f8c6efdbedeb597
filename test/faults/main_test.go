//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/proctest"
)

// Environment of the suite. STREAMSCORE_TEST_BIN and STREAMSCORE_DEV_KAFKA_CACHE come
// from `make test-faults`; the others are optional overrides.
const (
	envBin        = "STREAMSCORE_TEST_BIN"                // the built binary (default: built once by internal/proctest)
	envKafkaCache = "STREAMSCORE_DEV_KAFKA_CACHE"         // the shared broker's cache: its libs/ (jars) are reused
	envTestBroker = "STREAMSCORE_TEST_BROKERS"            // the shared broker: never used nor touched here
	envFaultCache = "STREAMSCORE_TEST_FAULTS_KAFKA_CACHE" // dedicated broker's cache (default <repo>/.cache/kafka-faults)
	envFaultPort  = "STREAMSCORE_TEST_FAULTS_KAFKA_PORT"  // dedicated broker's port (default 19192, controller port+1)
	envSeed       = "STREAMSCORE_TEST_FAULTS_SEED"        // base seed of fault times and generated events (default 1)
	envKeep       = "STREAMSCORE_TEST_FAULTS_KEEP_BROKER" // "1": leave the dedicated broker running after the suite
	envTrace      = "STREAMSCORE_TEST_FAULTS_TRACE_DIR"   // write each scenario's lag samples there as CSV
	envProcessor  = "STREAMSCORE_TEST_FAULTS_PROCESSOR"   // experiments: "key=value,..." added to every instance's processor section
)

// suite is the state TestMain sets up for every test.
var suite struct {
	repo    string // repository root
	bin     string // streamscore binary
	bundle  string // snapshot of examples/fraud taken at start
	rules   bundleRules
	cache   string // dedicated broker cache
	port    int
	brokers string // dedicated broker address
	seed    uint64
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	cleanup, err := setupSuite()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: fault suite setup: %v\n", err)
		return 1
	}
	defer cleanup()
	code := m.Run()
	os.RemoveAll(filepath.Dir(suite.bundle))
	if !dedicated.tried {
		return code // no test needed it (e.g. -run Cluster)
	}
	if os.Getenv(envKeep) == "1" {
		fmt.Fprintf(os.Stderr, "faults: %s=1: dedicated broker left running at %s (stop: STREAMSCORE_DEV_KAFKA_CACHE=%s STREAMSCORE_DEV_KAFKA_PORT=%d bash deploy/kafka/kafka-down.sh)\n",
			envKeep, suite.brokers, suite.cache, suite.port)
		return code
	}
	// Keep the data of a failed run for a post-mortem; the next run wipes it.
	args := []string{"--wipe"}
	if code != 0 {
		args = nil
		fmt.Fprintf(os.Stderr, "faults: tests failed; dedicated broker data kept in %s/data, broker log %s/run/kafka.log\n", suite.cache, suite.cache)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := brokerScript(ctx, "kafka-down.sh", args...); err != nil {
		fmt.Fprintf(os.Stderr, "faults: stopping the dedicated broker: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// setupSuite checks the prerequisites and reads the dedicated broker's
// settings (the first test that needs the broker starts it: dedicatedBroker).
// A missing prerequisite is an error, never a skip.
// cleanup removes the binary it built (see proctest.Binary), if any.
func setupSuite() (cleanup func(), err error) {
	if suite.repo, err = proctest.RepoRoot(); err != nil {
		return nil, err
	}
	if err := snapshotBundle(filepath.Join(suite.repo, "examples", "fraud")); err != nil {
		return nil, err
	}
	if suite.bin, cleanup, err = proctest.Binary(suite.repo); err != nil {
		return nil, err
	}
	if os.Getenv(envBin) != "" {
		if st, err := os.Stat(suite.bin); err == nil {
			if newer := newerSource(st.ModTime()); newer != "" {
				fmt.Fprintf(os.Stderr, "faults: WARNING: %s is older than %s; the tests run the old binary (rebuild: go build -o bin/streamscore ./cmd/streamscore)\n", suite.bin, newer)
			}
		}
	}
	if err := brokerSettings(); err != nil {
		cleanup()
		return nil, err
	}
	return cleanup, nil
}

// brokerSettings reads the seed and the dedicated broker's settings.
func brokerSettings() (err error) {
	suite.seed = 1
	if s := os.Getenv(envSeed); s != "" {
		if suite.seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			return fmt.Errorf("%s=%q: %w", envSeed, s, err)
		}
	}
	suite.port = 19192
	if s := os.Getenv(envFaultPort); s != "" {
		if suite.port, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("%s=%q: %w", envFaultPort, s, err)
		}
	}
	suite.cache = os.Getenv(envFaultCache)
	if suite.cache == "" {
		suite.cache = filepath.Join(suite.repo, ".cache", "kafka-faults")
	}
	if shared := os.Getenv(envTestBroker); shared != "" && strings.Contains(shared, ":"+strconv.Itoa(suite.port)) {
		return fmt.Errorf("the dedicated fault broker port %d is the shared broker's (%s=%s): set %s to another port", suite.port, envTestBroker, shared, envFaultPort)
	}
	return linkLibs()
}

// dedicated is the dedicated broker's start, done once by the first test
// that needs it, so a run of TestCluster alone starts no broker it does not use.
var dedicated struct {
	once  sync.Once
	tried bool // a start was attempted: runSuite stops (and wipes) it
	err   error
}

// startDedicated starts the dedicated broker on a freshly wiped data dir,
// once; later calls return the first call's error.
func startDedicated() error {
	dedicated.once.Do(func() {
		dedicated.tried = true
		dedicated.err = startBroker()
	})
	return dedicated.err
}

func startBroker() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A fresh data dir every run: no topics, groups or transactional ids
	// left from an earlier (maybe killed) run. Also stops a broker that a
	// crashed earlier run left behind.
	if _, err := brokerScript(ctx, "kafka-down.sh", "--wipe"); err != nil {
		return fmt.Errorf("wiping the dedicated broker: %w", err)
	}
	start := time.Now()
	addr, err := brokerScript(ctx, "kafka-up.sh")
	if err != nil {
		return fmt.Errorf("starting the dedicated broker (cache %s, port %d): %w", suite.cache, suite.port, err)
	}
	suite.brokers = lastLine(addr)
	fmt.Fprintf(os.Stderr, "faults: dedicated Apache Kafka broker at %s (cache %s) ready in %s; the shared broker (%s=%q) is not used\n",
		suite.brokers, suite.cache, time.Since(start).Round(100*time.Millisecond), envTestBroker, os.Getenv(envTestBroker))
	return nil
}

// linkLibs lets the dedicated cache reuse the shared cache's broker jars
// (deploy/kafka keeps them in <cache>/libs): a symlink, so no second copy and
// no Maven run. Without a complete shared copy, kafka-up.sh fetches its own.
func linkLibs() error {
	if err := os.MkdirAll(suite.cache, 0o755); err != nil {
		return err
	}
	link := filepath.Join(suite.cache, "libs")
	shared := os.Getenv(envKafkaCache)
	if shared == "" {
		shared = filepath.Join(suite.repo, ".cache", "kafka")
	}
	sharedLibs, err := filepath.Abs(filepath.Join(shared, "libs"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(sharedLibs, ".pom.sha256")); err != nil {
		fmt.Fprintf(os.Stderr, "faults: no complete jar copy in %s; kafka-up.sh will fetch the jars into %s\n", sharedLibs, link)
		return nil
	}
	if fi, err := os.Lstat(link); err == nil {
		if fi.Mode()&os.ModeSymlink == 0 {
			return nil // a real copy fetched earlier: use it
		}
		if target, _ := os.Readlink(link); target == sharedLibs {
			return nil
		}
		if err := os.Remove(link); err != nil {
			return err
		}
	}
	return os.Symlink(sharedLibs, link)
}

// snapshotBundle copies the fraud bundle's files to a temporary directory,
// so every scenario (and the checker) uses the same bundle even while
// examples/ is being regenerated in the working tree.
func snapshotBundle(src string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("fraud bundle: %w", err)
	}
	tmp, err := os.MkdirTemp("", "streamscore-faults-bundle-")
	if err != nil {
		return err
	}
	dst := filepath.Join(tmp, "fraud")
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	h := sha256.New()
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "bundle.json" || e.Name() == "model.json" {
			h.Write(b)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	suite.bundle = dst
	if suite.rules, err = readBundleRules(dst); err != nil {
		return fmt.Errorf("fraud bundle %s: %w", src, err)
	}
	fmt.Fprintf(os.Stderr, "faults: bundle %s (bundle.json+model.json sha256 %x), required inputs %v: missing_field poison is %s\n",
		src, h.Sum(nil)[:6], suite.rules.required, map[bool]string{true: "dead-lettered", false: "SCORED (imputed), not dead-lettered"}[suite.rules.missingIsPoison])
	return nil
}

// brokerEnv is the environment of the deploy/kafka scripts for the dedicated broker.
func brokerEnv() []string {
	return proctest.CleanEnv(
		"STREAMSCORE_DEV_KAFKA_CACHE="+suite.cache,
		"STREAMSCORE_DEV_KAFKA_PORT="+strconv.Itoa(suite.port),
		"STREAMSCORE_DEV_KAFKA_CONTROLLER_PORT="+strconv.Itoa(suite.port+1),
		"STREAMSCORE_DEV_KAFKA_READY_TIMEOUT=180s", // a loaded 2-core machine: a fresh start took 27s once
	)
}

// brokerScript runs deploy/kafka/<name> for the dedicated broker and
// returns its stdout; on failure the error holds its stderr.
func brokerScript(ctx context.Context, name string, args ...string) (string, error) {
	return kafkaScript(ctx, brokerEnv(), name, args...)
}

// kafkaScript runs deploy/kafka/<name> with the environment env.
func kafkaScript(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(suite.repo, "deploy", "kafka", name)}, args...)...)
	cmd.Env = env
	cmd.Dir = suite.repo
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, proctest.LastLines(stderr.String(), 40))
	}
	return stdout.String(), nil
}

// restartBroker SIGKILLs the dedicated broker and starts it again on the
// same data dir, like deploy/kafka/kafka-restart.sh, but waits in between
// until the killed broker's ports are closed: kafka-down.sh treats a zombie
// as gone, and a SIGKILLed JVM's main thread turns zombie while its other
// threads still hold the listening sockets, so kafka-up.sh right after it
// can find the port "in use by another process" and refuse to start (seen
// here once in a few runs). It returns how long the ports stayed open.
func restartBroker(ctx context.Context) (portHeld time.Duration, err error) {
	if _, err := brokerScript(ctx, "kafka-down.sh", "--kill"); err != nil {
		return 0, err
	}
	gone := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, port := range []int{suite.port, suite.port + 1} {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err != nil {
				break
			}
			c.Close()
			select {
			case <-ctx.Done():
				return time.Since(gone), fmt.Errorf("port %s still open %s after the broker was SIGKILLed", addr, time.Since(gone))
			case <-tick.C:
			}
		}
	}
	portHeld = time.Since(gone)
	_, err = brokerScript(ctx, "kafka-up.sh")
	return portHeld, err
}

// newerSource names a Go file of the service newer than t, if any.
func newerSource(t time.Time) string {
	var found string
	for _, dir := range []string{"cmd", "processor", "schemas", "scoring", "features", "internal"} {
		filepath.WalkDir(filepath.Join(suite.repo, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || found != "" || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.ModTime().After(t) {
				found = path
			}
			return nil
		})
	}
	return found
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
