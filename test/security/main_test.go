// Package security runs streamscore against a secured Apache Kafka: the
// broker the project's scripts start with `deploy/kafka/kafka-up.sh --secure`
// (SASL_SSL with SCRAM, PLAIN and OAUTHBEARER, an SSL listener that requires
// client certificates, the standard authorizer with the ACLs of
// deploy/kafka/secure-acls.txt; a test CA and certificates made with openssl).
//
//   - stream_test.go: the built binary scores fraud events end to end in both
//     delivery modes over SASL_SSL (SCRAM-SHA-512) and over mutual TLS, with
//     exactly the ACLs docs/operations.md lists; kcat reads the predictions
//     over the same listener; the mTLS run also reaches the Schema Registry
//     (schemas/srtest) over mutual TLS with a bearer token.
//   - reject_test.go: a wrong password, an untrusted server certificate, a
//     missing client certificate, no Write on the DLQ and no transactional id
//     ACL each stop the service at start with one clear line and a non-zero
//     exit, within a deadline.
//   - mechanisms_test.go: every SASL mechanism and mTLS through
//     processor.ClientOpts in-process (OAUTHBEARER from a token file and from
//     a client credentials token endpoint), and the principals they map to.
//   - acl_test.go: the broker holds exactly the ACLs of docs/operations.md.
//   - revoke_test.go: Write on the DLQ taken away while the service runs
//     (both delivery modes) stops it with one clear line and loses nothing.
//   - secrets_test.go: recognisable secrets set by flag, environment, config
//     file and *_file never appear in `streamscore config`, its errors, the
//     JSON and text logs (debug level) of runs that connect or are refused,
//     or the /metrics scrape.
//
// TestMain starts the secured broker with the scripts (idempotent: a running
// one is reused and left running) and stops the one it started. It needs
// java, mvn and openssl (scripts/install-deps.sh); a missing one fails the
// suite, nothing is skipped. There is no kfake variant: TLS listeners,
// SCRAM credentials and the standard authorizer are the point.
//
// Environment (tooling variables): STREAMSCORE_TEST_BIN (the binary, else a
// go build), STREAMSCORE_DEV_KAFKA_SECURE_PORT (first of the broker's four
// ports, default 19292), STREAMSCORE_DEV_KAFKA_SECURE_CACHE,
// STREAMSCORE_DEV_KAFKA_CACHE (whose libs/ holds the jars),
// STREAMSCORE_TEST_SECURE_KEEP_BROKER=1 (leave the broker running).
package security

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/proctest"
)

// bin is the streamscore binary under test, repoRoot the module root.
var bin, repoRoot string

// broker is the secured broker, read from its run/secure.env.
var broker secureBroker

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	var err error
	if repoRoot, err = proctest.RepoRoot(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: security suite: %v\n", err)
		return 1
	}
	var cleanup func()
	if bin, cleanup, err = proctest.Binary(repoRoot); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: security suite: %v\n", err)
		return 1
	}
	defer cleanup()
	start := time.Now()
	started, err := startBroker()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: security suite: starting the secured broker: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "security: secured broker SASL_SSL %s, SSL %s (%s in %.1fs)\n", broker.SASLSSL, broker.SSL,
		map[bool]string{true: "started", false: "already running"}[started], time.Since(start).Seconds())
	code := m.Run()
	if code != 0 {
		if b, err := os.ReadFile(broker.log); err == nil {
			fmt.Fprintf(os.Stderr, "security: tests failed; last lines of the secured broker's log %s:\n%s\n", broker.log, proctest.LastLines(string(b), 40))
		}
	}
	if started && os.Getenv("STREAMSCORE_TEST_SECURE_KEEP_BROKER") != "1" {
		if _, err := brokerScript("kafka-down.sh", "--secure"); err != nil {
			fmt.Fprintf(os.Stderr, "security: stopping the secured broker: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// startBroker runs kafka-up.sh --secure and reads what it wrote. It
// reports whether this run started the broker (else it was running).
func startBroker() (bool, error) {
	_, stderr, err := brokerScriptOut("kafka-up.sh", "--secure")
	if err != nil {
		return false, err
	}
	started := !strings.Contains(stderr, "broker already running")
	cache := os.Getenv("STREAMSCORE_DEV_KAFKA_SECURE_CACHE")
	if cache == "" {
		cache = filepath.Join(repoRoot, ".cache", "kafka-secure")
	}
	if broker, err = readSecureEnv(filepath.Join(cache, "run", "secure.env")); err != nil {
		return started, err
	}
	broker.log = filepath.Join(cache, "run", "kafka.log")
	return started, createTopics()
}

func brokerScript(name string, args ...string) (string, error) {
	out, _, err := brokerScriptOut(name, args...)
	return out, err
}

// brokerScriptOut runs deploy/kafka/<name> (bounded: a fresh start with the
// ACLs takes about 20 s here) and returns stdout and stderr.
func brokerScriptOut(name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "deploy", "kafka", name)}, args...)...)
	var env []string
	for _, k := range []string{"STREAMSCORE_DEV_KAFKA_SECURE_PORT", "STREAMSCORE_DEV_KAFKA_SECURE_CACHE", "STREAMSCORE_DEV_KAFKA_CACHE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = proctest.CleanEnv(append(env, "STREAMSCORE_DEV_KAFKA_READY_TIMEOUT=180s")...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, proctest.LastLines(stderr.String(), 40))
	}
	return stdout.String(), stderr.String(), nil
}
