package security

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/processor"
)

// Bounds for waits and tools. They are deadlines for conditions, not
// assertions about speed.
const (
	startTimeout = 45 * time.Second // service start -> "streamscore running"
	flowTimeout  = 90 * time.Second // events in -> predictions out
	exitTimeout  = 40 * time.Second // a rejected start -> exit (the access check gives up after 15 s)
	toolTimeout  = 60 * time.Second // one kcat run
)

// secureBroker is what kafka-up.sh --secure wrote to run/secure.env.
type secureBroker struct {
	SASLSSL, SSL string // bootstrap addresses of the two client listeners
	CAFile       string // the test CA
	certDir      string // <user>.crt, <user>.key
	passwordDir  string // <user>.password
	ACLs         string // deploy/kafka/secure-acls.txt
	log          string // the broker's log
}

func readSecureEnv(path string) (secureBroker, error) {
	f, err := os.Open(path)
	if err != nil {
		return secureBroker{}, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	b := secureBroker{SASLSSL: kv["SASL_SSL_BOOTSTRAP"], SSL: kv["SSL_BOOTSTRAP"], CAFile: kv["CA_FILE"],
		certDir: kv["CERT_DIR"], passwordDir: kv["PASSWORD_DIR"], ACLs: kv["ACLS"]}
	if b.SASLSSL == "" || b.SSL == "" || b.CAFile == "" || b.certDir == "" || b.passwordDir == "" {
		return b, fmt.Errorf("%s is incomplete: %v", path, kv)
	}
	return b, sc.Err()
}

func (b secureBroker) certFile(user string) string { return filepath.Join(b.certDir, user+".crt") }
func (b secureBroker) keyFile(user string) string  { return filepath.Join(b.certDir, user+".key") }
func (b secureBroker) passwordFile(user string) string {
	return filepath.Join(b.passwordDir, user+".password")
}

func (b secureBroker) password(t testing.TB, user string) string {
	t.Helper()
	p, err := os.ReadFile(b.passwordFile(user))
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// deployment is one service's topics, group and user, as secure-acls.txt
// grants them.
type deployment struct {
	delivery, user          string
	input, output, dlq, grp string
}

var (
	alos = deployment{processor.AtLeastOnce, "streamscore-alos", "sec-alos-in", "sec-alos-out", "sec-alos-dlq", "sec-alos"}
	eos  = deployment{processor.ExactlyOnce, "streamscore-eos", "sec-eos-in", "sec-eos-out", "sec-eos-dlq", "sec-eos"}
)

// keys are the deployment's configuration keys besides the connection.
func (d deployment) keys() map[string]any {
	return map[string]any{
		"input.topic": d.input, "output.topic": d.output, "dlq.topic": d.dlq, "input.group": d.grp,
		"processor.delivery": d.delivery,
	}
}

// saslSSL is the kafka section for the SASL_SSL listener: SCRAM-SHA-512,
// the password from a file, the broker verified against the test CA.
func saslSSL(user, passwordFile string) map[string]any {
	return map[string]any{
		"kafka.brokers": broker.SASLSSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
		"kafka.sasl.mechanism": "SCRAM-SHA-512", "kafka.sasl.username": user, "kafka.sasl.password_file": passwordFile,
	}
}

// mTLS is the kafka section for the SSL listener with the user's certificate.
func mTLS(user string) map[string]any {
	return map[string]any{
		"kafka.brokers": broker.SSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
		"kafka.tls.cert_file": broker.certFile(user), "kafka.tls.key_file": broker.keyFile(user),
	}
}

// adminConfig is the admin (super user) over mutual TLS.
func adminConfig() processor.KafkaConfig {
	return processor.KafkaConfig{Brokers: broker.SSL, ClientID: "security-test-admin",
		TLS: processor.TLSConfig{Enabled: true, Config: tlsfiles.Config{CAFile: broker.CAFile,
			CertFile: broker.certFile("admin"), KeyFile: broker.keyFile("admin")}}}
}

func newAdminClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base, err := processor.ClientOpts(adminConfig())
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(append(base, kgo.MetadataMinAge(100*time.Millisecond)), opts...)...)
}

// admin is an admin client closed when the test ends.
func admin(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := newAdminClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopics creates the deployments' topics (3 partitions) unless they
// exist, and waits until every partition has a leader that serves.
func createTopics() error {
	cl, err := newAdminClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var topics []string
	for _, d := range []deployment{alos, eos} {
		topics = append(topics, d.input, d.output, d.dlq)
	}
	resp, err := adm.CreateTopics(ctx, 3, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	// The DLQs get the room docs/operations.md asks for above the input's
	// limit (the broker default), as processor.create_topics would give.
	dlqMax := strconv.Itoa(1048588 + processor.DLQHeadroom)
	var alter []kadm.AlterConfig
	alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &dlqMax})
	altered, err := adm.AlterTopicConfigs(ctx, alter, alos.dlq, eos.dlq)
	if err == nil {
		for _, r := range altered {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("set the DLQs' max.message.bytes: %w", err)
	}
	for {
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil && ends.Error() == nil && len(ends) == len(topics) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v not ready: %v", topics, errors.Join(err, ends.Error()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------
// the service

// writeConfig writes the dotted keys, with the suite's defaults, as a config file.
func writeConfig(t testing.TB, kv map[string]any) string {
	t.Helper()
	all := proctest.MergeKeys(proctest.BaseKeys(filepath.Join(repoRoot, "examples", "fraud")), map[string]any{
		"processor.shutdown_timeout": "10s",
		"processor.session_timeout":  "10s",
		"processor.commit_interval":  "500ms",
	}, kv)
	return proctest.WriteConfig(t, all)
}

// startService starts `streamscore run` and waits for "streamscore running".
func startService(t testing.TB, name string, kv map[string]any) *proctest.Proc {
	t.Helper()
	p, _ := startServiceWith(t, name, kv, nil)
	return p
}

// startServiceWith starts `streamscore run --config FILE args...` with extra
// environment, waits for "streamscore running" (JSON or text logs) and
// returns the process and the address it serves /metrics on.
func startServiceWith(t testing.TB, name string, kv map[string]any, env []string, args ...string) (*proctest.Proc, string) {
	t.Helper()
	path := writeConfig(t, kv)
	p := proctest.Start(t, name, proctest.Options{Dir: filepath.Dir(path), Separate: true, Env: env}, bin,
		append([]string{"run", "--config", path}, args...)...)
	textHTTP := regexp.MustCompile(`\bhttp=(\S+)`)
	var addr string
	proctest.Eventually(t, startTimeout, name+" start", func() error {
		for _, l := range p.Stderr.Lines() {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "streamscore running" {
				addr, _ = m["http"].(string)
				return nil
			}
			if strings.Contains(l, `msg="streamscore running"`) {
				if sm := textHTTP.FindStringSubmatch(l); sm != nil {
					addr = sm[1]
				}
				return nil
			}
		}
		return errors.New(`no "streamscore running" log line yet`)
	}, p)
	return p, addr
}

// ---------------------------------------------------------------------------
// records

// produceEvents writes good fraud events and poison records to topic as
// the admin, keyed <nonce>-<i> so a run counts only its own records.
func produceEvents(t testing.TB, topic, nonce string, good, poison int) {
	t.Helper()
	cl := admin(t, kgo.DefaultProduceTopic(topic))
	g := gen.NewFraud(uint64(time.Now().UnixNano()), 50)
	now := time.Now()
	var recs []*kgo.Record
	for i := range good + poison {
		var value []byte
		if i < good {
			_, value = g.Next(nil, now)
		} else {
			_, value = g.Poison("malformed", now, 0) // always dead-lettered
		}
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "%s-%d", nonce, i), Value: value})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// keyCounter counts the records of a run (keys <nonce>-...) that reached
// topics, read_committed, from the end offsets at its creation on.
type keyCounter struct {
	cl    *kgo.Client
	nonce string
	keys  map[string]map[string]int // topic -> key -> times seen
}

func newKeyCounter(t testing.TB, nonce string, topics ...string) *keyCounter {
	t.Helper()
	// A broker that just (re)started may still be electing leaders.
	adm := kadm.NewClient(admin(t))
	var ends kadm.ListedOffsets
	proctest.Eventually(t, 30*time.Second, "end offsets of "+strings.Join(topics, ", "), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		ends, err = adm.ListEndOffsets(ctx, topics...)
		return errors.Join(err, ends.Error())
	})
	start := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	c := &keyCounter{cl: admin(t, kgo.ConsumePartitions(start), kgo.FetchIsolationLevel(kgo.ReadCommitted())),
		nonce: nonce, keys: map[string]map[string]int{}}
	for _, tp := range topics {
		c.keys[tp] = map[string]int{}
	}
	return c
}

func (c *keyCounter) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	fs := c.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) {
		if strings.HasPrefix(string(r.Key), c.nonce+"-") {
			c.keys[r.Topic][string(r.Key)]++
		}
	})
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) {
			return fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
	}
	return nil
}

// waitFor waits until every topic holds want[topic] distinct keys of the run.
func (c *keyCounter) waitFor(t testing.TB, want map[string]int, watch ...*proctest.Proc) {
	t.Helper()
	proctest.Eventually(t, flowTimeout, "predictions and dead letters", func() error {
		if err := c.poll(); err != nil {
			return err
		}
		for tp, n := range want {
			if len(c.keys[tp]) < n {
				return fmt.Errorf("%d of %d records of the run in %s", len(c.keys[tp]), n, tp)
			}
		}
		return nil
	}, watch...)
}

// ---------------------------------------------------------------------------
// kcat

// kcatKeys reads topic from the beginning to its end with kcat (librdkafka)
// and returns the keys with the nonce. settings are librdkafka properties.
func kcatKeys(t testing.TB, topic, nonce string, settings map[string]string) []string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (Debian package kcat; scripts/install-deps.sh installs it): %v", err)
	}
	var props bytes.Buffer
	for k, v := range settings {
		fmt.Fprintf(&props, "%s=%s\n", k, v)
	}
	conf := filepath.Join(t.TempDir(), "kcat.conf") // secrets in a file, not in argv
	if err := os.WriteFile(conf, props.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-F", conf, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%k\n")
	cmd.Env = proctest.CleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat -C -t %s: %v\n%s", topic, err, proctest.LastLines(stderr.String(), 20))
	}
	var keys []string
	for _, k := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(k, nonce+"-") {
			keys = append(keys, k)
		}
	}
	return keys
}
