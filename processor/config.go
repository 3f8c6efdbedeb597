package processor

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/secret"
)

// Delivery modes.
const (
	AtLeastOnce = "at-least-once"
	ExactlyOnce = "exactly-once"
)

// KafkaConfig says how to reach the cluster: the "kafka" section of the
// service configuration. Field tags name the keys (`config`) and say what
// they do (`help`); the service builds its flags, environment variables
// and docs from them.
type KafkaConfig struct {
	Brokers  string     `config:"brokers" help:"seed brokers host:port,host:port (required; the string embedded starts the in-process broker, for trying things out only)"`
	ClientID string     `config:"client_id" help:"client id sent to the brokers"`
	TLS      TLSConfig  `config:"tls"`
	SASL     SASLConfig `config:"sasl"`
}

// TLSConfig turns on TLS to the brokers: the CA that verifies them (a
// private CA, or the system roots) and the client certificate for mutual
// TLS (kafka.tls.ca_file, cert_file, key_file, server_name,
// insecure_skip_verify; see tlsfiles.Config).
type TLSConfig struct {
	Enabled bool `config:"enabled" help:"connect to the brokers with TLS (the brokers verified against kafka.tls.ca_file, or the system roots)"`
	tlsfiles.Config
}

// Validate checks the files (read now, so a wrong path fails at start) and
// rejects TLS settings while TLS is off.
func (t TLSConfig) Validate() error {
	if !t.Enabled {
		if k := t.FirstSet(); k != "" {
			return fmt.Errorf("kafka.tls.%s is set but kafka.tls.enabled is false: enable TLS or remove kafka.tls.%s", k, k)
		}
		return nil
	}
	_, err := t.Client("kafka.tls.")
	return err
}

// SASLConfig enables SASL authentication when Mechanism is set. Passwords
// and client secrets come from the configuration (better: the environment)
// or from files (the *_file keys), read at every connection so a rotated
// secret is used without a restart.
type SASLConfig struct {
	Mechanism    string       `config:"mechanism" help:"SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (empty: none)"`
	Username     string       `config:"username" help:"SASL user (PLAIN, SCRAM)"`
	Password     secret.Value `config:"password" help:"SASL password (PLAIN, SCRAM); prefer kafka.sasl.password_file or the environment"`
	PasswordFile string       `config:"password_file" help:"file holding the SASL password, read at every connection (rotation without restart); instead of kafka.sasl.password"`
	OAuth        OAuthConfig  `config:"oauth"`
}

// OAuthConfig says where OAUTHBEARER tokens come from: a file that an
// operator or sidecar keeps fresh (TokenFile), or the OAuth 2.0 client
// credentials grant against a token endpoint (TokenURL).
type OAuthConfig struct {
	TokenFile        string       `config:"token_file" help:"file holding the OAUTHBEARER token (a JWT), read at every authentication, so a token refreshed in the file is used at once; instead of kafka.sasl.oauth.token_url"`
	TokenURL         string       `config:"token_url" help:"OAuth 2.0 token endpoint: tokens are fetched with the client credentials grant and renewed before they expire"`
	ClientID         string       `config:"client_id" help:"OAuth client id (with kafka.sasl.oauth.token_url)"`
	ClientSecret     secret.Value `config:"client_secret" help:"OAuth client secret (with kafka.sasl.oauth.token_url); prefer kafka.sasl.oauth.client_secret_file or the environment"`
	ClientSecretFile string       `config:"client_secret_file" help:"file holding the OAuth client secret, read at every token request; instead of kafka.sasl.oauth.client_secret"`
	Scope            string       `config:"scope" help:"OAuth scopes asked of the token endpoint, separated by spaces or commas (empty: none)"`
	Extensions       string       `config:"extensions" help:"SASL extensions sent with the token, key=value,key=value (e.g. logicalCluster=lkc-1,identityPoolId=pool-2 for Confluent Cloud)"`
}

// DefaultKafkaConfig is the kafka section's defaults. Brokers has none: a
// service that does not say where its cluster is must not start.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{ClientID: "streamscore"}
}

// ErrNoBrokers is returned by KafkaConfig.Validate when kafka.brokers is empty.
var ErrNoBrokers = errors.New("kafka.brokers is not set")

// Validate checks the kafka section (kafka.tls and kafka.sasl validate themselves).
func (k KafkaConfig) Validate() error {
	seeds := k.SeedBrokers()
	if len(seeds) == 0 {
		return ErrNoBrokers
	}
	for _, b := range seeds {
		if err := checkBroker(b); err != nil {
			return fmt.Errorf("kafka.brokers %q: %w", k.Brokers, err)
		}
	}
	if err := k.TLS.Validate(); err != nil {
		return err
	}
	return k.SASL.Validate()
}

// Protocol is the connection's security in Kafka's own names
// (security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), with the
// SASL mechanism: what the start line shows beside the brokers.
func (k KafkaConfig) Protocol() string {
	p := "PLAINTEXT"
	if k.TLS.Enabled {
		p = "SSL"
	}
	if k.SASL.Mechanism != "" {
		p = "SASL_" + p + " (" + strings.ToUpper(k.SASL.Mechanism) + ")"
	}
	return p
}

// Warnings are settings that work but leave the connection open to others;
// the service logs each at start.
func (k KafkaConfig) Warnings() []string {
	var out []string
	if k.TLS.Enabled {
		if w := k.TLS.Warning("kafka.tls."); w != "" {
			out = append(out, w)
		}
	} else if m := strings.ToUpper(k.SASL.Mechanism); m == "PLAIN" || m == "OAUTHBEARER" {
		out = append(out, fmt.Sprintf("kafka.sasl.mechanism %s without kafka.tls.enabled: the %s crosses the network unencrypted", m,
			map[string]string{"PLAIN": "password", "OAUTHBEARER": "token"}[m]))
	}
	if strings.EqualFold(k.SASL.Mechanism, "OAUTHBEARER") && strings.HasPrefix(strings.ToLower(k.SASL.OAuth.TokenURL), "http://") {
		out = append(out, fmt.Sprintf("kafka.sasl.oauth.token_url %q is http://: the client secret and the tokens cross the network unencrypted", redactedURL(k.SASL.OAuth.TokenURL)))
	}
	return out
}

// Validate checks that the mechanism is one ClientOpts knows, that it has
// what it needs, and that no key of another mechanism is set. Secret files
// are read now, so a wrong path fails at start.
func (s SASLConfig) Validate() error {
	mech := strings.ToUpper(s.Mechanism)
	if mech == "" {
		k := firstSet(s.passwordKeys()...)
		if o := s.OAuth.firstSet(); k == "" && o != "" {
			k = "oauth." + o
		}
		if k != "" {
			return fmt.Errorf("kafka.sasl.%s is set but kafka.sasl.mechanism is empty: set the mechanism or remove kafka.sasl.%s", k, k)
		}
		return nil
	}
	if _, ok := saslMechanisms[mech]; !ok {
		return fmt.Errorf("kafka.sasl.mechanism %q: want %s", s.Mechanism, strings.Join(slices.Sorted(maps.Keys(saslMechanisms)), ", "))
	}
	if mech == "OAUTHBEARER" {
		if k := firstSet(s.passwordKeys()...); k != "" {
			return fmt.Errorf("kafka.sasl.%s is set but kafka.sasl.mechanism OAUTHBEARER takes no password: remove it (the token comes from kafka.sasl.oauth)", k)
		}
		return s.OAuth.check()
	}
	if k := s.OAuth.firstSet(); k != "" {
		return fmt.Errorf("kafka.sasl.oauth.%s is set but kafka.sasl.mechanism is %s: it is for OAUTHBEARER only", k, s.Mechanism)
	}
	if s.Username == "" {
		return fmt.Errorf("kafka.sasl.username is empty: kafka.sasl.mechanism %s needs a user", s.Mechanism)
	}
	pass, err := s.password()
	if err != nil {
		return err
	}
	if pass == "" {
		return fmt.Errorf("kafka.sasl.password is empty: kafka.sasl.mechanism %s needs kafka.sasl.password or kafka.sasl.password_file", s.Mechanism)
	}
	return nil
}

// password is the SASL password, from the file when one is named.
func (s SASLConfig) password() (secret.Value, error) {
	return secret.Resolve("kafka.sasl.password", s.Password, s.PasswordFile)
}

func (s SASLConfig) passwordKeys() []setting {
	return []setting{{"username", s.Username != ""}, {"password", s.Password != ""}, {"password_file", s.PasswordFile != ""}}
}

// clientKeys are the keys of the client credentials grant.
func (o OAuthConfig) clientKeys() []setting {
	return []setting{{"client_id", o.ClientID != ""}, {"client_secret", o.ClientSecret != ""}, {"client_secret_file", o.ClientSecretFile != ""}, {"scope", o.Scope != ""}}
}

func (o OAuthConfig) firstSet() string {
	return firstSet(append([]setting{{"token_file", o.TokenFile != ""}, {"token_url", o.TokenURL != ""}}, append(o.clientKeys(), setting{"extensions", o.Extensions != ""})...)...)
}

// setting is a key and whether it is set, for "set, but not used" errors.
type setting struct {
	key string
	set bool
}

// firstSet is the key of the first setting that is set, or "".
func firstSet(ss ...setting) string {
	for _, s := range ss {
		if s.set {
			return s.key
		}
	}
	return ""
}

// check checks that the token has exactly one source, with what that
// source needs.
func (o OAuthConfig) check() error {
	if _, err := o.extensions(); err != nil {
		return err
	}
	switch {
	case o.TokenFile != "" && o.TokenURL != "":
		return fmt.Errorf("kafka.sasl.oauth.token_file and kafka.sasl.oauth.token_url %w", secret.ErrBothSet)
	case o.TokenFile != "":
		if k := firstSet(o.clientKeys()...); k != "" {
			return fmt.Errorf("kafka.sasl.oauth.%s is set with kafka.sasl.oauth.token_file: it is for kafka.sasl.oauth.token_url only", k)
		}
		_, err := secret.ReadFile(o.TokenFile)
		if err != nil {
			return fmt.Errorf("kafka.sasl.oauth.token_file: %w", err)
		}
		return nil
	case o.TokenURL != "":
		u, err := url.Parse(o.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("kafka.sasl.oauth.token_url %q: want an http(s):// URL", redactedURL(o.TokenURL))
		}
		if u.User != nil {
			return fmt.Errorf("kafka.sasl.oauth.token_url %q: put the client's credentials in kafka.sasl.oauth.client_id and client_secret, not in the URL", redactedURL(o.TokenURL))
		}
		if o.ClientID == "" {
			return errors.New("kafka.sasl.oauth.client_id is empty: kafka.sasl.oauth.token_url needs it")
		}
		sec, err := o.clientSecret()
		if err != nil {
			return err
		}
		if sec == "" {
			return errors.New("kafka.sasl.oauth.client_secret is empty: kafka.sasl.oauth.token_url needs it or kafka.sasl.oauth.client_secret_file")
		}
		return nil
	}
	return errors.New("kafka.sasl.mechanism OAUTHBEARER needs kafka.sasl.oauth.token_file or kafka.sasl.oauth.token_url")
}

func (o OAuthConfig) clientSecret() (secret.Value, error) {
	return secret.Resolve("kafka.sasl.oauth.client_secret", o.ClientSecret, o.ClientSecretFile)
}

// scopes splits Scope at spaces and commas.
func (o OAuthConfig) scopes() []string {
	return strings.FieldsFunc(o.Scope, func(r rune) bool { return r == ',' || r == ' ' })
}

// extensions parses key=value,key=value.
func (o OAuthConfig) extensions() (map[string]string, error) {
	if strings.TrimSpace(o.Extensions) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(o.Extensions, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || k == "auth" {
			return nil, fmt.Errorf("kafka.sasl.oauth.extensions %q: want key=value,key=value (and no key named auth)", o.Extensions)
		}
		out[k] = v
	}
	return out, nil
}

// redactedURL hides a password written into a URL.
func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// checkBroker checks one seed broker is host:port, so that a list with a
// typo fails at start rather than in the client's retries.
func checkBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil || host == "" || strings.ContainsAny(host, " \t") {
		return fmt.Errorf("%q is not host:port (separate brokers with commas)", b)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", b, port)
	}
	return nil
}

// SeedBrokers splits the broker list.
func (k KafkaConfig) SeedBrokers() []string {
	var out []string
	for _, b := range strings.Split(k.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Config is the processor's own configuration: the "processor" section
// (topics and group come from the service's input, output and dlq sections)
// with delivery and the bounds that keep memory and the replay window small.
type Config struct {
	// The topics and the group are set by the caller from the input,
	// output and dlq sections; they are not keys of this section.
	InputTopic  string `config:"-"`
	OutputTopic string `config:"-"`
	DLQTopic    string `config:"-"`
	Group       string `config:"-"`
	// Drift is the monitor section, set by the caller (zero: monitoring off).
	Drift drift.Config `config:"-"`

	Delivery string `config:"delivery" help:"at-least-once or exactly-once (transactions; readers use read_committed)"`
	// InstanceID is the static group member id (KIP-345): a restarted
	// instance takes its partitions back without a group-wide rebalance.
	InstanceID     string        `config:"instance_id" help:"static group member id (KIP-345): a restarted instance gets its partitions back without a rebalance; unique per instance"`
	SessionTimeout time.Duration `config:"session_timeout" help:"group session timeout: how fast a dead instance's partitions move"`
	// CommitInterval bounds the replay window after a crash (at-least-once).
	CommitInterval time.Duration `config:"commit_interval" help:"how often acknowledged offsets are committed (bounds the replay window, so the duplicates after a crash)"`
	// CommitStallTimeout bounds the work the next owner of a partition
	// redoes when commits stop succeeding (at-least-once).
	CommitStallTimeout time.Duration `config:"commit_stall_timeout" help:"at-least-once: when acknowledged offsets have waited this long for a commit that succeeds (a hung or moving group coordinator), fetching pauses until one does, so the partitions' next owners redo at most this much work (0: never pause; never less than 2 x commit_interval is used)"`
	ShutdownTimeout    time.Duration `config:"shutdown_timeout" help:"graceful stop: finish in-flight work and commit within this"`
	// TransactionTimeout must stay below SessionTimeout's rebalance window.
	TransactionTimeout time.Duration `config:"transaction_timeout" help:"exactly-once transaction timeout (at most session_timeout)"`

	// BatchMaxRecords caps a micro-batch. A batch is whatever one fetch
	// returned for a partition, so there is no added wait for it to fill.
	BatchMaxRecords int `config:"batch_max_records" help:"largest micro-batch through decode, features and scoring"`
	// MaxInflightRecords caps records between fetch and broker
	// acknowledgement; past it consumption waits (backpressure). Their bytes
	// are capped by the memory budget.
	MaxInflightRecords int `config:"max_inflight_records" help:"records produced but not yet acknowledged; past it consumption waits; in exactly-once also the most records one transaction takes"`
	// MemoryBudget is the one memory setting: the Go heap's soft limit and
	// the buffers that grow with traffic are sized from it (Memory).
	MemoryBudget int `config:"memory_budget" help:"bytes of memory the service plans for: the Go GC's soft limit (unless GOMEMLIMIT is set, which then caps the budget), fetch buffers (1/32 of it) and bytes produced but not yet acknowledged (1/8; past it consumption waits)"`
	// MaxRecordBytes is the largest record the producer may write (the DLQ
	// keeps original bytes, so this must cover the largest input).
	MaxRecordBytes int    `config:"max_record_bytes" help:"largest record written; must cover the largest input since the DLQ keeps it whole"`
	Compression    string `config:"compression" help:"output compression: none, gzip, snappy, lz4, zstd (snappy: the least CPU of those that compress, docs/BENCHMARKS.md)"`
	// Linger is how long the producer waits to fill a batch: throughput
	// against latency.
	Linger time.Duration `config:"linger" help:"producer linger: latency against batching"`

	CreateTopics    bool          `config:"create_topics" help:"create missing topics at start instead of failing (always on with the embedded broker)"`
	TopicPartitions int32         `config:"topic_partitions" help:"partitions of topics created by processor.create_topics"`
	LagRefresh      time.Duration `config:"lag_refresh" help:"how often consumer lag is measured and the stream's drift PSI gauges recomputed (the HTTP door's: every 5s)"`
}

// DefaultConfig is the processor section's defaults (the topics and group
// are the caller's).
func DefaultConfig() Config {
	return Config{
		Delivery:           AtLeastOnce,
		SessionTimeout:     10 * time.Second,
		CommitInterval:     250 * time.Millisecond,
		CommitStallTimeout: 2 * time.Second,
		ShutdownTimeout:    30 * time.Second,
		TransactionTimeout: 10 * time.Second,
		BatchMaxRecords:    500,
		MaxInflightRecords: 20000,
		MemoryBudget:       256 << 20,
		MaxRecordBytes:     4 << 20,
		Compression:        "snappy",
		Linger:             2 * time.Millisecond,
		TopicPartitions:    6,
		LagRefresh:         5 * time.Second,
	}
}

// minMemoryBudget is the smallest processor.memory_budget.
const minMemoryBudget = 32 << 20

// MemorySizes are the sizes the memory budget gives.
type MemorySizes struct {
	Budget int64 // the budget in force: processor.memory_budget, or GOMEMLIMIT when lower
	// GCLimit is the Go heap's soft limit to set (debug.SetMemoryLimit);
	// 0 when GOMEMLIMIT is set, which the runtime already applies.
	GCLimit int64
	// FetchMaxBytes bounds one fetch response, FetchMaxPartitionBytes one
	// partition's share of it (the broker still returns a record larger
	// than either); franz-go keeps about one fetch per broker buffered
	// while the previous one is processed.
	FetchMaxBytes, FetchMaxPartitionBytes int32
	// InflightBytes caps the bytes produced but not yet acknowledged.
	InflightBytes int64
}

// Memory sizes the service's buffers from the budget. gomemlimit is the
// runtime's limit when the GOMEMLIMIT environment variable sets one (0:
// unset): then it caps the budget and no GC limit is set here.
func (c Config) Memory(gomemlimit int64) MemorySizes {
	b := int64(c.MemoryBudget)
	s := MemorySizes{Budget: b, GCLimit: b}
	if gomemlimit > 0 {
		s.Budget, s.GCLimit = min(b, gomemlimit), 0
	}
	s.FetchMaxBytes = int32(min(s.Budget/32, 1<<30))
	s.FetchMaxPartitionBytes = int32(min(s.Budget/128, 1<<30))
	s.InflightBytes = max(s.Budget/8, int64(c.MaxRecordBytes))
	return s
}

// Named configuration errors, so callers and tests can tell them apart.
var (
	ErrNoInputTopic  = errors.New("input.topic is empty")
	ErrNoOutputTopic = errors.New("output.topic is empty")
	ErrNoDLQTopic    = errors.New("dlq.topic is empty")
	ErrNoGroup       = errors.New("input.group is empty")
)

// Validate checks the configuration and names the first wrong key with its value.
func (c *Config) Validate() error {
	switch {
	case c.InputTopic == "":
		return ErrNoInputTopic
	case c.OutputTopic == "":
		return ErrNoOutputTopic
	case c.DLQTopic == "":
		return ErrNoDLQTopic
	case c.Group == "":
		return ErrNoGroup
	}
	if c.InputTopic == c.OutputTopic || c.InputTopic == c.DLQTopic || c.OutputTopic == c.DLQTopic {
		return fmt.Errorf("input.topic %q, output.topic %q and dlq.topic %q must differ", c.InputTopic, c.OutputTopic, c.DLQTopic)
	}
	if c.Delivery != AtLeastOnce && c.Delivery != ExactlyOnce {
		return fmt.Errorf("processor.delivery %q: want %s or %s", c.Delivery, AtLeastOnce, ExactlyOnce)
	}
	if c.BatchMaxRecords < 1 {
		return fmt.Errorf("processor.batch_max_records %d: must be at least 1", c.BatchMaxRecords)
	}
	if c.MaxInflightRecords < c.BatchMaxRecords {
		return fmt.Errorf("processor.max_inflight_records %d: must be at least processor.batch_max_records (%d)", c.MaxInflightRecords, c.BatchMaxRecords)
	}
	if c.MaxRecordBytes < 1024 {
		return fmt.Errorf("processor.max_record_bytes %d: must be at least 1024", c.MaxRecordBytes)
	}
	if least := max(minMemoryBudget, 8*c.MaxRecordBytes); c.MemoryBudget < least {
		return fmt.Errorf("processor.memory_budget %d: must be at least %d (32 MiB, and 8 times processor.max_record_bytes %d)", c.MemoryBudget, least, c.MaxRecordBytes)
	}
	if c.Linger < 0 {
		return fmt.Errorf("processor.linger %q: must not be negative", c.Linger)
	}
	if _, err := CompressionCodec(c.Compression); err != nil {
		return err
	}
	if c.TopicPartitions < 1 {
		return fmt.Errorf("processor.topic_partitions %d: must be at least 1", c.TopicPartitions)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"processor.session_timeout", c.SessionTimeout}, {"processor.commit_interval", c.CommitInterval},
		{"processor.shutdown_timeout", c.ShutdownTimeout}, {"processor.transaction_timeout", c.TransactionTimeout},
		{"processor.lag_refresh", c.LagRefresh},
	} {
		if d.d <= 0 {
			return fmt.Errorf("%s %q: must be positive", d.key, d.d)
		}
	}
	if c.CommitStallTimeout < 0 {
		return fmt.Errorf("processor.commit_stall_timeout %q: must not be negative (0: never pause)", c.CommitStallTimeout)
	}
	if c.Delivery == ExactlyOnce && c.TransactionTimeout > c.SessionTimeout {
		// A transaction outliving the member's session could commit offsets
		// for partitions the group already gave to someone else.
		return fmt.Errorf("processor.transaction_timeout %q: must not exceed processor.session_timeout %q", c.TransactionTimeout, c.SessionTimeout)
	}
	return nil
}

// GoMemLimit is the Go runtime's memory limit when the GOMEMLIMIT
// environment variable set one, else 0.
func GoMemLimit() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		return 0
	}
	return debug.SetMemoryLimit(-1)
}

// ApplyMemoryLimit sets the Go heap's soft limit to the memory budget,
// unless GOMEMLIMIT already set one, and returns the sizes in force. The
// limit is process-wide: the commands that run the stream call it once.
func (c Config) ApplyMemoryLimit() MemorySizes {
	s := c.Memory(GoMemLimit())
	if s.GCLimit > 0 {
		debug.SetMemoryLimit(s.GCLimit)
	}
	return s
}
