// Command kafkacheck waits until an Apache Kafka broker answers at the protocol
// level and reports what it is.
//
// One attempt: list the brokers (Metadata; with -min-brokers N at least N must
// be listed), ask every broker for its API versions (ApiVersions), create a
// probe topic (replicated on N brokers), wait until it has a leader, delete
// it, then find the group and transaction coordinators. Attempts repeat until one passes or the deadline (-timeout)
// passes. A bare TCP connect is not enough: a KRaft broker opens its client
// listener before it is unfenced and can serve requests.
//
// The Kafka protocol does not carry the release version. kafkacheck prints the
// franz-go guess from the ApiVersions ranges (e.g. "v4.3"), the finalized
// metadata.version feature level (4.3-IV0 is level 30) and, if -release is given (the
// scripts pass the version found in the kafka_2.13-<version>.jar name), that
// release string.
//
// With -tls-ca (and -tls-cert/-tls-key for mutual TLS) it connects over TLS,
// as the secured broker's scripts do with the admin's client certificate.
//
// Exit status: 0 ready, 1 not ready by the deadline, 2 bad usage, 3 a
// process given with -pid is gone.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	brokers        []string
	timeout        time.Duration
	attemptTimeout time.Duration
	pids           []int
	minBrokers     int
	release        string
	probe          bool
	coordinators   bool
	quiet          bool
	tls            *tls.Config // nil: plaintext
}

var errProcessGone = errors.New("broker process is gone")

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("kafkacheck", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr("STREAMSCORE_DEV_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), "comma separated bootstrap brokers")
	timeout := fs.Duration("timeout", 60*time.Second, "overall deadline")
	attempt := fs.Duration("attempt-timeout", 10*time.Second, "deadline of one attempt")
	pids := fs.String("pid", "", "comma separated pids: stop early (exit 3) when one of these processes no longer exists")
	minBrokers := fs.Int("min-brokers", 1, "metadata must list at least this many brokers; the probe topic gets as many replicas")
	release := fs.String("release", "", "Apache Kafka release to report (e.g. from the jar name)")
	probe := fs.Bool("probe", true, "create and delete a probe topic")
	coordinators := fs.Bool("coordinators", true, "wait until the group and transaction coordinators are available")
	quiet := fs.Bool("quiet", false, "print only the final line")
	tlsCA := fs.String("tls-ca", "", "PEM CA file: connect with TLS, verifying the broker against it")
	tlsCert := fs.String("tls-cert", "", "PEM client certificate for mutual TLS (with -tls-ca and -tls-key)")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tc, err := tlsConfig(*tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkacheck: %v\n", err)
		return 2
	}
	pidList, err := parsePids(*pids)
	if err != nil || *minBrokers < 1 {
		fmt.Fprintf(os.Stderr, "kafkacheck: bad -pid %q or -min-brokers %d\n", *pids, *minBrokers)
		return 2
	}
	o := options{
		brokers:        splitBrokers(*brokers),
		pids:           pidList,
		minBrokers:     *minBrokers,
		timeout:        *timeout,
		attemptTimeout: *attempt,
		release:        *release,
		probe:          *probe,
		coordinators:   *coordinators,
		quiet:          *quiet,
		tls:            tc,
	}
	if len(o.brokers) == 0 {
		fmt.Fprintln(os.Stderr, "kafkacheck: no brokers given")
		return 2
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	var lastErr error
	for n := 1; ; n++ {
		for _, pid := range o.pids {
			if !processAlive(pid) {
				fmt.Fprintf(os.Stderr, "kafkacheck: %v (pid %d), last error: %v\n", errProcessGone, pid, lastErr)
				return 3
			}
		}
		info, err := attemptOnce(ctx, o)
		if err == nil {
			fmt.Printf("kafkacheck: ready after %d attempt(s) in %s: %s\n", n, time.Since(start).Round(time.Millisecond), info)
			return 0
		}
		lastErr = err
		if !o.quiet {
			fmt.Fprintf(os.Stderr, "kafkacheck: attempt %d: %v\n", n, err)
		}
		// Back off a little between attempts, but never past the deadline.
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "kafkacheck: not ready within %s at %s: %v\n", o.timeout, strings.Join(o.brokers, ","), lastErr)
			return 1
		case <-time.After(backoff(n)):
		}
	}
}

func attemptOnce(parent context.Context, o options) (string, error) {
	ctx, cancel := context.WithTimeout(parent, o.attemptTimeout)
	defer cancel()

	opts := []kgo.Opt{
		kgo.SeedBrokers(o.brokers...),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestRetries(1),
		kgo.RetryTimeout(o.attemptTimeout),
		// kadm's Metadata answers from franz-go's cache, which keeps a fresh
		// topic's "unknown" for the min age (default 5s): a probe topic created
		// through another node of a cluster then looked leaderless for 5.6s.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	if o.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(o.tls))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("metadata: %w", err)
	}
	if len(md.Brokers) < o.minBrokers {
		return "", fmt.Errorf("metadata lists %d brokers, want %d", len(md.Brokers), o.minBrokers)
	}
	var bs []string
	for _, b := range md.Brokers {
		bs = append(bs, fmt.Sprintf("%d@%s:%d", b.NodeID, b.Host, b.Port))
	}

	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return "", fmt.Errorf("api versions: %w", err)
	}
	guess, mdVersion := "?", "?"
	for _, v := range versions.Sorted() {
		if v.Err != nil {
			return "", fmt.Errorf("api versions of node %d: %w", v.NodeID, v.Err)
		}
		guess = v.VersionGuess()
		for _, f := range v.Raw().FinalizedFeatures {
			if f.Name == "metadata.version" {
				mdVersion = metadataVersionName(f.MaxVersionLevel)
			}
		}
	}

	if o.probe {
		if err := probeTopic(ctx, adm, int16(o.minBrokers)); err != nil {
			return "", err
		}
	}

	coords := "not checked"
	if o.coordinators {
		if coords, err = findCoordinators(ctx, adm); err != nil {
			return "", err
		}
	}

	release := o.release
	if release == "" {
		release = "unknown (not carried by the protocol)"
	} else {
		release += " (from the jar name)"
	}
	return fmt.Sprintf("brokers=[%s] cluster=%s controller=%d coordinators=%s apache-kafka=%s protocol-guess=%q metadata.version=%s",
		strings.Join(bs, " "), md.Cluster, md.Controller, coords, release, guess, mdVersion), nil
}

// findCoordinators asks for the coordinator of a probe group and a probe
// transactional id. On a fresh broker the first such request creates
// __consumer_offsets / __transaction_state; until their partitions have a
// leader the answer is COORDINATOR_NOT_AVAILABLE. Waiting here spares every
// test's first group or transaction that transient error.
func findCoordinators(ctx context.Context, adm *kadm.Client) (string, error) {
	const key = "kafkacheck-probe"
	g := adm.FindGroupCoordinators(ctx, key)[key]
	if g.Err != nil {
		return "", fmt.Errorf("group coordinator: %w", g.Err)
	}
	x := adm.FindTxnCoordinators(ctx, key)[key]
	if x.Err != nil {
		return "", fmt.Errorf("transaction coordinator: %w", x.Err)
	}
	return fmt.Sprintf("group:%d,txn:%d", g.NodeID, x.NodeID), nil
}

// probeTopic creates a one-partition topic with replicas replicas, waits
// until it has a leader and deletes it again.
func probeTopic(ctx context.Context, adm *kadm.Client, replicas int16) error {
	name := fmt.Sprintf("kafkacheck-probe-%d-%d", os.Getpid(), time.Now().UnixNano())
	resp, err := adm.CreateTopic(ctx, 1, replicas, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create probe topic: %w", err)
	}
	defer func() {
		// Delete with its own short deadline so a failed attempt still cleans up.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopic(dctx, name)
	}()
	for n := 1; ; n++ {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			td, ok := md.Topics[name]
			if ok && td.Err == nil && len(td.Partitions) == 1 && td.Partitions[0].Err == nil && td.Partitions[0].Leader >= 0 {
				break
			}
			if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) && !errors.Is(td.Err, kerr.LeaderNotAvailable) {
				return fmt.Errorf("probe topic metadata: %w", td.Err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe topic got no leader: %w", ctx.Err())
		case <-time.After(backoff(n)):
		}
	}
	dresp, err := adm.DeleteTopic(ctx, name)
	if err == nil {
		err = dresp.Err
	}
	if err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	return nil
}

// metadataVersionName prints the finalized metadata.version feature level.
// The level-to-name table ("4.3-IV0" is level 30) lives in the broker
// (MetadataVersion.java) and grows with every release, so only the number is
// printed; `kafka-up.sh` shows the name that the storage format step chose.
func metadataVersionName(level int16) string {
	return "level-" + strconv.Itoa(int(level))
}

func backoff(attempt int) time.Duration {
	d := time.Duration(attempt) * 100 * time.Millisecond
	if d > time.Second {
		d = time.Second
	}
	return d
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// parsePids reads the -pid list ("" is none).
func parsePids(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("pid %q", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// tlsConfig is the TLS client configuration of the -tls-* flags, nil
// without -tls-ca.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		if certFile != "" || keyFile != "" {
			return nil, errors.New("-tls-cert and -tls-key need -tls-ca")
		}
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", caFile)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
