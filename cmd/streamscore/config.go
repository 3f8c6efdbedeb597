package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
)

// setting is one configuration key: its default, whether it is a secret,
// and the help text shown by --help and docs/configuration.md.
type setting struct {
	key    string
	def    any
	help   string
	secret bool
}

// settings is the single place every key and default lives. Every key has a
// default so viper sees its environment variable.
var settings = append([]setting{
	{key: "kafka.brokers", def: "embedded", help: `seed brokers "host:port,host:port", or "embedded" for the in-process broker (trying things out only)`},
	{key: "kafka.client_id", def: "streamscore", help: "client id sent to the brokers"},
	{key: "kafka.tls", def: false, help: "connect with TLS (system roots)"},
	{key: "kafka.sasl.mechanism", def: "", help: "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (empty: none)"},
	{key: "kafka.sasl.username", def: "", help: "SASL user"},
	{key: "kafka.sasl.password", def: "", help: "SASL password", secret: true},
	{key: "kafka.embedded.data_dir", def: ".streamscore/kafka", help: "where the embedded broker keeps its data (empty: memory only)"},
	{key: "kafka.embedded.port", def: 0, help: "embedded broker port on 127.0.0.1 (0: any free port)"},
	{key: "kafka.embedded.partitions", def: 6, help: "partitions of topics the embedded broker creates"},

	{key: "input.topic", def: "transactions", help: "topic the events are read from"},
	{key: "input.group", def: "streamscore", help: "consumer group; instances with the same group share the partitions"},
	{key: "input.format", def: "json", help: "event encoding: json, avro (raw, with input.avro_schema) or confluent (Schema Registry wire format)"},
	{key: "input.avro_schema", def: "", help: "writer schema for input.format=avro: a .avsc path or an embedded name (fraud_transaction, iris, churn)"},
	{key: "input.numeric_strings", def: false, help: `accept numbers sent as JSON strings ("12.5")`},
	{key: "input.max_record_bytes", def: 1 << 20, help: "larger events go to the DLQ as too_large"},
	{key: "input.max_depth", def: 64, help: "JSON nesting deeper than this is too_large"},
	{key: "input.max_fields", def: 10000, help: "JSON events with more keys than this (all levels) are too_large"},
	{key: "input.event_id_field", def: "transaction_id", help: "event field echoed as event_id in the prediction (empty: none)"},

	{key: "output.topic", def: "predictions", help: "topic the predictions are written to, keyed like the input"},
	{key: "output.format", def: "json", help: "prediction encoding: json, avro or confluent"},
	{key: "output.subject", def: "", help: "Schema Registry subject for output.format=confluent (default <output.topic>-value)"},
	{key: "output.echo_features", def: false, help: "include the computed feature vector in each prediction"},

	{key: "dlq.topic", def: "predictions-dlq", help: "dead-letter topic: original bytes plus reason headers"},

	{key: "registry.url", def: "", help: "Schema Registry URL (needed for the confluent formats)"},
	{key: "registry.username", def: "", help: "Schema Registry basic-auth user"},
	{key: "registry.password", def: "", help: "Schema Registry basic-auth password", secret: true},

	{key: "model.bundle", def: "examples/fraud", help: "model bundle directory (bundle.json + model files)"},

	{key: "processor.delivery", def: processor.AtLeastOnce, help: "at-least-once or exactly-once (transactions; readers use read_committed)"},
	{key: "processor.instance_id", def: "", help: "static group member id (KIP-345): a restarted instance gets its partitions back without a rebalance; unique per instance"},
	{key: "processor.session_timeout", def: 10 * time.Second, help: "group session timeout: how fast a dead instance's partitions move"},
	{key: "processor.commit_interval", def: 250 * time.Millisecond, help: "how often acknowledged offsets are committed (bounds the replay window, so the duplicates after a crash)"},
	{key: "processor.shutdown_timeout", def: 30 * time.Second, help: "graceful stop: finish in-flight work and commit within this"},
	{key: "processor.transaction_timeout", def: 10 * time.Second, help: "exactly-once transaction timeout (at most session_timeout)"},
	{key: "processor.batch_max_records", def: 500, help: "largest micro-batch through decode, features and scoring"},
	{key: "processor.max_inflight_records", def: 20000, help: "records produced but not yet acknowledged; past it consumption waits"},
	{key: "processor.max_inflight_bytes", def: 64 << 20, help: "bytes produced but not yet acknowledged; past it consumption waits"},
	{key: "processor.max_record_bytes", def: 4 << 20, help: "largest record written; must cover the largest input since the DLQ keeps it whole"},
	{key: "processor.compression", def: "lz4", help: "output compression: none, gzip, snappy, lz4, zstd"},
	{key: "processor.linger", def: 2 * time.Millisecond, help: "producer linger: latency against batching"},
	{key: "processor.create_topics", def: false, help: "create missing topics at start instead of failing (always on with the embedded broker)"},
	{key: "processor.topic_partitions", def: 6, help: "partitions of topics created by processor.create_topics"},
	{key: "processor.lag_refresh", def: 5 * time.Second, help: "how often consumer lag is measured"},

	{key: "http.listen", def: "127.0.0.1:9464", help: "address of /metrics, /healthz, /readyz (empty: off)"},
	{key: "http.pprof", def: false, help: "serve /debug/pprof on the same listener"},

	{key: "log.level", def: "info", help: "debug, info, warn or error"},
	{key: "log.format", def: "auto", help: "json, text, or auto (text on a terminal, json otherwise)"},
}, sinkSettings()...)

// Config is the whole service configuration as loaded from defaults, the
// file, STREAMSCORE_* environment variables and flags (later wins).
type Config struct {
	Kafka processor.KafkaConfig `mapstructure:"kafka"`
	Input struct {
		Topic          string `mapstructure:"topic"`
		Group          string `mapstructure:"group"`
		Format         string `mapstructure:"format"`
		AvroSchema     string `mapstructure:"avro_schema"`
		NumericStrings bool   `mapstructure:"numeric_strings"`
		MaxRecordBytes int    `mapstructure:"max_record_bytes"`
		MaxDepth       int    `mapstructure:"max_depth"`
		MaxFields      int    `mapstructure:"max_fields"`
		EventIDField   string `mapstructure:"event_id_field"`
	} `mapstructure:"input"`
	Output struct {
		Topic        string `mapstructure:"topic"`
		Format       string `mapstructure:"format"`
		Subject      string `mapstructure:"subject"`
		EchoFeatures bool   `mapstructure:"echo_features"`
	} `mapstructure:"output"`
	DLQ struct {
		Topic string `mapstructure:"topic"`
	} `mapstructure:"dlq"`
	Registry struct {
		URL      string           `mapstructure:"url"`
		Username string           `mapstructure:"username"`
		Password processor.Secret `mapstructure:"password"`
	} `mapstructure:"registry"`
	Model struct {
		Bundle string `mapstructure:"bundle"`
	} `mapstructure:"model"`
	Processor struct {
		Delivery           string        `mapstructure:"delivery"`
		InstanceID         string        `mapstructure:"instance_id"`
		SessionTimeout     time.Duration `mapstructure:"session_timeout"`
		CommitInterval     time.Duration `mapstructure:"commit_interval"`
		ShutdownTimeout    time.Duration `mapstructure:"shutdown_timeout"`
		TransactionTimeout time.Duration `mapstructure:"transaction_timeout"`
		BatchMaxRecords    int           `mapstructure:"batch_max_records"`
		MaxInflightRecords int           `mapstructure:"max_inflight_records"`
		MaxInflightBytes   int           `mapstructure:"max_inflight_bytes"`
		MaxRecordBytes     int           `mapstructure:"max_record_bytes"`
		Compression        string        `mapstructure:"compression"`
		Linger             time.Duration `mapstructure:"linger"`
		CreateTopics       bool          `mapstructure:"create_topics"`
		TopicPartitions    int32         `mapstructure:"topic_partitions"`
		LagRefresh         time.Duration `mapstructure:"lag_refresh"`
	} `mapstructure:"processor"`
	HTTP struct {
		Listen string `mapstructure:"listen"`
		Pprof  bool   `mapstructure:"pprof"`
	} `mapstructure:"http"`
	Log struct {
		Level  string `mapstructure:"level"`
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`
	Sink SinkConfig `mapstructure:"sink"`
}

// InputConfig maps the input section onto the decoders' config.
func (c *Config) InputConfig() schemas.InputConfig {
	in := c.Input
	return schemas.InputConfig{Format: in.Format, AvroSchema: in.AvroSchema, NumericStrings: in.NumericStrings,
		MaxRecordBytes: in.MaxRecordBytes, MaxDepth: in.MaxDepth, MaxFields: in.MaxFields, EventIDField: in.EventIDField}
}

// ProcessorConfig maps the file's sections onto the processor's own config.
func (c *Config) ProcessorConfig() processor.Config {
	p := c.Processor
	return processor.Config{
		InputTopic: c.Input.Topic, OutputTopic: c.Output.Topic, DLQTopic: c.DLQ.Topic, Group: c.Input.Group,
		Delivery: p.Delivery, InstanceID: p.InstanceID, SessionTimeout: p.SessionTimeout,
		CommitInterval: p.CommitInterval, ShutdownTimeout: p.ShutdownTimeout, TransactionTimeout: p.TransactionTimeout,
		BatchMaxRecords: p.BatchMaxRecords, MaxInflightRecords: p.MaxInflightRecords, MaxInflightBytes: p.MaxInflightBytes,
		MaxRecordBytes: p.MaxRecordBytes, Compression: p.Compression, Linger: p.Linger,
		CreateTopics: p.CreateTopics || c.Kafka.IsEmbedded(), TopicPartitions: p.TopicPartitions, LagRefresh: p.LagRefresh,
	}
}

// envName is the environment variable of a key: kafka.sasl.password ->
// STREAMSCORE_KAFKA_SASL_PASSWORD.
func envName(key string) string {
	return "STREAMSCORE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// addConfigFlags registers one flag per key (same name as in the file) and
// --config.
func addConfigFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (keys as below; env STREAMSCORE_<SECTION>_<KEY> and flags override it)")
	for _, s := range settings {
		help := s.help + " [env " + envName(s.key) + "]"
		switch d := s.def.(type) {
		case string:
			fs.String(s.key, d, help)
		case bool:
			fs.Bool(s.key, d, help)
		case int:
			fs.Int(s.key, d, help)
		case time.Duration:
			fs.Duration(s.key, d, help)
		default:
			panic(fmt.Sprintf("setting %s: unsupported default type %T", s.key, d)) // programming error, caught by tests
		}
	}
}

// loadConfig merges defaults, the file named by --config, the environment
// and the flags that were set. Unknown keys in the file are errors.
func loadConfig(fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	known := make(map[string]bool, len(settings))
	for _, s := range settings {
		v.SetDefault(s.key, s.def)
		known[s.key] = true
	}
	v.SetEnvPrefix("STREAMSCORE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	if path, _ := fs.GetString("config"); path != "" {
		if err := checkFileKeys(path, known); err != nil {
			return nil, err
		}
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var bindErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if known[f.Name] && f.Changed {
			bindErr = errors.Join(bindErr, v.BindPFlag(f.Name, f))
		}
	})
	if bindErr != nil {
		return nil, bindErr
	}
	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		// mapstructure lists its errors over several lines; keep one.
		msg := strings.Join(strings.Fields(err.Error()), " ")
		msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s): ")
		return nil, fmt.Errorf("configuration: %s", msg)
	}
	return &c, nil
}

// checkFileKeys reads the file alone and rejects keys no setting declares,
// so a typo is an error that names the key instead of a silent default.
func checkFileKeys(path string, known map[string]bool) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	fv := viper.New()
	fv.SetConfigFile(path)
	if err := fv.ReadInConfig(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for _, k := range fv.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown key %q (see `streamscore config --help` or docs/configuration.md)", path, strings.Join(unknown, `", "`))
	}
	return nil
}

// effectiveYAML renders the configuration with secrets redacted.
func effectiveYAML(fs *pflag.FlagSet) ([]byte, error) {
	c, err := loadConfig(fs)
	if err != nil {
		return nil, err
	}
	// Round-trip through mapstructure to get a key tree from the typed config.
	var tree map[string]any
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &tree})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	normalize(tree)
	if r, ok := tree["registry"].(map[string]any); ok {
		r["url"] = redactURL(fmt.Sprint(r["url"]))
	}
	return yaml.Marshal(tree)
}

// redactURL hides credentials written into a URL (https://user:pw@host),
// which Go's HTTP client would use for basic auth.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// normalize turns typed leaves into printable ones: durations as "10s",
// secrets redacted, nested structs as maps.
func normalize(m map[string]any) {
	for k, val := range m {
		switch x := val.(type) {
		case map[string]any:
			normalize(x)
		case time.Duration:
			m[k] = x.String()
		case processor.Secret:
			m[k] = x.String()
		default:
			var sub map[string]any
			if dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &sub}); err == nil && dec.Decode(val) == nil && sub != nil {
				normalize(sub)
				m[k] = sub
			}
		}
	}
}
