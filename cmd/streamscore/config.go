package main

//go:generate go test -run TestConfigurationDoc -update .

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/bearer"
	"github.com/streamscore/streamscore/internal/embedded"
	"github.com/streamscore/streamscore/internal/reload"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/pgsink"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// serviceSections are the sections of the stream's own commands (run,
// demo, bench, produce); `config` shows every section, and the other
// commands name theirs.
var serviceSections = []string{"kafka", "input", "output", "dlq", "registry", "model", "processor", "monitor", "http", "log"}

// embeddedName is the value of kafka.brokers and model.bundle that asks
// for the in-process broker and the demo bundle built into the binary.
const embeddedName = "embedded"

// Config is the whole service configuration: one tree whose sections are
// the config structs of the packages that use them (configtree.go says how
// the tree is read). Sources, later wins: the command's defaults, the YAML
// file named by --config, STREAMSCORE_* environment variables, flags.
type Config struct {
	Kafka     kafkaConfig            `config:"kafka"`
	Input     inputConfig            `config:"input"`
	Output    schemas.OutputConfig   `config:"output"`
	DLQ       dlqConfig              `config:"dlq"`
	Registry  schemas.RegistryConfig `config:"registry"`
	Model     reload.Config          `config:"model"`
	Processor processor.Config       `config:"processor"`
	Monitor   drift.Config           `config:"monitor"`
	HTTP      httpConfig             `config:"http"`
	Log       logConfig              `config:"log"`
	Sink      sinkConfig             `config:"sink"`

	from *configFlags // where the tree was read from: a reload reads it again (nil: built by hand)
}

// kafkaConfig is the kafka section: the clients' settings and the embedded
// broker's.
type kafkaConfig struct {
	processor.KafkaConfig
	Embedded embedded.Config `config:"embedded"`
}

// inputConfig is the input section: the topic and group the processor
// consumes and the decoder's settings.
type inputConfig struct {
	Topic string `config:"topic" help:"topic the events are read from"`
	Group string `config:"group" help:"consumer group; instances with the same group share the partitions"`
	schemas.InputConfig
}

type dlqConfig struct {
	Topic string `config:"topic" help:"dead-letter topic: original bytes plus reason headers"`
}

// httpConfig is the http section: the listeners, the admin token and TLS
// (run by opsHTTP, listeners.go), and the HTTP door's keys (httpapi.Config).
type httpConfig struct {
	Listen            string                `config:"listen" help:"address of /metrics, /healthz, /readyz and GET /v1/models, and of the admin routes unless http.admin_listen is set (empty: off)"`
	AdminListen       string                `config:"admin_listen" help:"address of the admin routes (/debug/pprof with http.pprof, POST /admin/reload), all behind http.admin_token_file (empty: they are on http.listen)"`
	AdminTokenFile    string                `config:"admin_token_file" help:"file holding the bearer token every admin route requires, read at every request so a rotated token counts at once (empty: the admin routes are off and answer 404)"`
	AdminClientCAFile string                `config:"admin_client_ca_file" help:"PEM CA certificates of the clients http.admin_listen accepts (mutual TLS: a client without a certificate they signed is refused at the handshake; the token is still required); read again when it changes; needs http.admin_listen and http.tls.cert_file (empty: any client)"`
	Pprof             bool                  `config:"pprof" help:"serve /debug/pprof with the admin routes; needs http.admin_token_file"`
	TLS               tlsfiles.ServerConfig `config:"tls"`
	httpapi.Config
}

type logConfig struct {
	Level  string `config:"level" help:"debug, info, warn or error"`
	Format string `config:"format" help:"json, text, or auto (text on a terminal, json otherwise)"`
}

// defaultConfig is what run, config and produce start from: every
// section's own defaults plus the service's topics. kafka.brokers and
// model.bundle have none.
func defaultConfig() Config {
	return Config{
		Kafka:     kafkaConfig{KafkaConfig: processor.DefaultKafkaConfig(), Embedded: embedded.DefaultConfig()},
		Input:     inputConfig{Topic: "transactions", Group: "streamscore", InputConfig: schemas.DefaultInputConfig()},
		Output:    schemas.DefaultOutputConfig(),
		DLQ:       dlqConfig{Topic: "predictions-dlq"},
		Registry:  schemas.DefaultRegistryConfig(),
		Model:     reload.DefaultConfig(),
		Processor: processor.DefaultConfig(),
		Monitor:   drift.DefaultConfig(),
		HTTP:      httpConfig{Listen: "127.0.0.1:9464", Config: httpapi.Defaults()},
		Log:       logConfig{Level: "info", Format: "auto"},
		Sink:      sinkConfig{Postgres: pgsink.DefaultConfig()},
	}
}

// trialConfig is what demo and bench start from: the embedded broker, the
// built-in bundle, and quiet logs so the terminal shows their figures.
func trialConfig() Config {
	c := defaultConfig()
	c.Kafka.Brokers = embeddedName
	c.Model.Bundle = embeddedName
	c.Log.Level = "warn"
	return c
}

// isEmbedded reports whether the in-process broker is asked for.
func (k kafkaConfig) isEmbedded() bool { return strings.TrimSpace(k.Brokers) == embeddedName }

// Validate checks the kafka section. An empty broker list is left to the
// commands that talk to Kafka (needBrokers): `serve` and `score` need none.
// The in-process broker's name is no host:port; its clients' settings are
// checked all the same.
func (k kafkaConfig) Validate() error {
	switch {
	case len(k.SeedBrokers()) == 0:
		return k.SASL.Validate()
	case k.isEmbedded():
		if err := k.TLS.Validate(); err != nil {
			return err
		}
		return k.SASL.Validate()
	}
	return k.KafkaConfig.Validate()
}

// needBrokers is what a command that talks to Kafka requires: a broker list,
// with what to do about a missing one.
func (c *Config) needBrokers() error {
	if len(c.Kafka.SeedBrokers()) > 0 {
		return c.Kafka.Validate()
	}
	err := c.Kafka.KafkaConfig.Validate()
	if errors.Is(err, processor.ErrNoBrokers) {
		return fmt.Errorf("%w: set it to the cluster's seed brokers (--kafka.brokers, %s or the config file), or try streamscore without a cluster: streamscore demo",
			err, envName("kafka.brokers"))
	}
	return err
}

// Validate checks the listen addresses, what the admin routes need (a
// token; for mutual TLS a listener of their own and a certificate) and the
// door's keys.
func (h httpConfig) Validate() error {
	for _, l := range []struct{ key, addr string }{{"http.listen", h.Listen}, {"http.admin_listen", h.AdminListen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return fmt.Errorf("%s %q: want host:port (empty: off)", l.key, l.addr)
		}
	}
	if err := h.TLS.Check("http.tls."); err != nil {
		return err
	}
	switch {
	case h.Pprof && h.AdminTokenFile == "":
		return errors.New(`http.pprof is on but http.admin_token_file is empty: /debug/pprof is served only behind the admin token; set http.admin_token_file (docs/operations.md, "Admin endpoints")`)
	case h.AdminListen != "" && h.AdminTokenFile == "":
		return fmt.Errorf("http.admin_listen %q is set but http.admin_token_file is empty: every admin route needs the token; set it, or leave http.admin_listen empty", h.AdminListen)
	case h.AdminClientCAFile != "" && h.AdminListen == "":
		return errors.New("http.admin_client_ca_file needs http.admin_listen: mutual TLS on http.listen would turn away Prometheus and the kubelet's probes")
	case h.AdminClientCAFile != "" && !h.TLS.Enabled():
		return errors.New("http.admin_client_ca_file needs http.tls.cert_file and http.tls.key_file: mutual TLS is TLS")
	}
	if err := h.checkFiles(); err != nil {
		return err
	}
	return h.Config.Validate()
}

// checkFiles reads the token file, the certificate and the client CAs now,
// as openHTTP will, so that `config` refuses what `run` would.
func (h httpConfig) checkFiles() error {
	if h.AdminTokenFile != "" {
		if _, err := bearer.ReadToken(h.AdminTokenFile); err != nil {
			return fmt.Errorf("http.admin_token_file: %w", err)
		}
	}
	_, _, err := h.tlsConfigs()
	return err
}

// tlsConfigs are the TLS configurations of the public and the admin
// listeners (nil, nil without http.tls), their files read now.
func (h httpConfig) tlsConfigs() (public, admin *tls.Config, err error) {
	if !h.TLS.Enabled() {
		return nil, nil, nil
	}
	if public, err = h.TLS.Server("http.tls."); err != nil {
		return nil, nil, err
	}
	if h.AdminClientCAFile == "" {
		return public, public, nil
	}
	if admin, err = tlsfiles.RequireClientCerts(public, "http.admin_client_ca_file", h.AdminClientCAFile); err != nil {
		return nil, nil, err
	}
	return public, admin, nil
}

// Validate checks the level and the format.
func (l logConfig) Validate() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return fmt.Errorf("log.level %q: want debug, info, warn or error", l.Level)
	}
	if !slices.Contains([]string{"json", "text", "auto"}, l.Format) {
		return fmt.Errorf("log.format %q: want json, text or auto", l.Format)
	}
	return nil
}

// resolve fills what one section takes from others, before validation:
// the processor's topics and group, and topic creation with the embedded
// broker. It is the only place sections are wired together.
func (c *Config) resolve() {
	p := &c.Processor
	p.InputTopic, p.Group, p.OutputTopic, p.DLQTopic = c.Input.Topic, c.Input.Group, c.Output.Topic, c.DLQ.Topic
	p.Drift = c.Monitor
	if c.Kafka.isEmbedded() {
		p.CreateTopics = true
	}
}

// validate runs the Validate of every section used (uses(key)), in tree
// order (an embedded struct's Validate is its section's unless the section
// has its own), then the checks across sections, and returns the first error.
func (c *Config) validate(uses func(key string) bool) error {
	_, sections := walkConfig(c)
	for _, s := range sections {
		if !uses(s.key) {
			continue
		}
		if v, ok := s.v.Addr().Interface().(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return err
			}
		}
	}
	if !uses("registry") {
		return nil
	}
	return c.validateAcross()
}

// validateAcross checks what no single section can: the confluent formats
// need a registry; the shadow topic is none of the stream's own.
func (c *Config) validateAcross() error {
	if t := c.Model.ShadowTopic; t != "" && (t == c.Input.Topic || t == c.Output.Topic || t == c.DLQ.Topic) {
		return fmt.Errorf("model.shadow_topic %q: must differ from input.topic, output.topic and dlq.topic", t)
	}
	if c.Registry.URL != "" {
		return nil
	}
	for _, f := range []struct{ key, format string }{{"input.format", c.Input.Format}, {"output.format", c.Output.Format}} {
		if f.format == schemas.FormatConfluent {
			return fmt.Errorf("%s %q: needs registry.url (the Schema Registry)", f.key, f.format)
		}
	}
	return nil
}

// checkRunnable is what run needs beyond a valid tree: a bundle to serve.
// `streamscore config` checks it too, so it accepts what run accepts.
func (c *Config) checkRunnable() error {
	if err := c.needBrokers(); err != nil {
		return err
	}
	if strings.TrimSpace(c.Model.Bundle) == "" {
		return fmt.Errorf("model.bundle is not set: set it to a bundle directory (--model.bundle, %s or the config file)", envName("model.bundle"))
	}
	return nil
}

// loadBundle loads the bundle model.bundle names: a directory, or a name
// of builtinBundles ("embedded": the demo's fraud bundle carried by the
// binary, copied to a temporary directory for scoring.Load, removed once
// loaded). bench, produce, score and validate load their bundle with it;
// run and serve go through the reloader (models.go), which does the same
// and checks more. A directory's error is scoring.Load's, which names it.
func loadBundle(name string) (*scoring.Bundle, error) {
	fsys, ok := builtinBundles()[strings.TrimSpace(name)]
	if !ok {
		return scoring.Load(name)
	}
	tmp, err := os.MkdirTemp("", "streamscore-bundle-")
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, fsys); err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", name, err)
	}
	b, err := scoring.Load(tmp)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", name, err)
	}
	return b, nil
}

// isBuiltinBundle reports whether name is one of builtinBundles.
func isBuiltinBundle(name string) bool {
	_, ok := builtinBundles()[strings.TrimSpace(name)]
	return ok
}

// configFlags is a command's view of the tree: its defaults, its flags and
// the sections it uses.
type configFlags struct {
	fs       *pflag.FlagSet
	defaults Config
	only     []string // top-level sections the command uses; nil: all
	// when: sections of only used in some configurations, validated only
	// when their function says the loaded configuration uses them.
	when map[string]func(*Config) bool
}

// addConfigFlags registers --config and one flag per key (named like the
// key, defaulting to the command's default). A command that uses only some
// sections (score reads events but talks to no broker) names them: only
// their keys get flags and are validated, while a shared file may still
// hold the other sections' keys.
func addConfigFlags(fs *pflag.FlagSet, defaults Config, only ...string) *configFlags {
	fs.String("config", "", "YAML configuration file (keys as below; env STREAMSCORE_<SECTION>_<KEY> and flags override it)")
	f := &configFlags{fs: fs, defaults: defaults, only: only}
	leaves, _ := walkConfig(&defaults)
	for _, l := range leaves {
		if f.uses(l.key) {
			l.addFlag(fs)
		}
	}
	return f
}

// uses reports whether key is in a section the command uses.
func (f *configFlags) uses(key string) bool {
	if f.only == nil {
		return true
	}
	top, _, _ := strings.Cut(key, ".")
	return slices.Contains(f.only, top)
}

// usedBy reports whether c uses key's section: false for a section of
// when whose function says c does not.
func (f *configFlags) usedBy(c *Config, key string) bool {
	top, _, _ := strings.Cut(key, ".")
	used := f.when[top]
	return used == nil || used(c)
}

// load merges the defaults, the file named by --config, the environment and
// the flags that were set, then resolves and validates the tree. Unknown
// keys in the file and unknown STREAMSCORE_* variables are errors.
func (f *configFlags) load() (*Config, error) {
	c := f.defaults
	leaves, sections := walkConfig(&c)
	if err := checkEnv(leaves); err != nil {
		return nil, err
	}
	v := viper.New()
	v.SetEnvPrefix(strings.TrimSuffix(envPrefix, "_"))
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AllowEmptyEnv(true)
	v.AutomaticEnv()

	path, _ := f.fs.GetString("config")
	if path != "" {
		if err := readConfigFile(v, path, leaves, sections); err != nil {
			return nil, err
		}
	}
	for _, l := range leaves {
		if fl := f.fs.Lookup(l.key); fl != nil && fl.Changed {
			if err := v.BindPFlag(l.key, fl); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range leaves {
		if !v.IsSet(l.key) {
			continue
		}
		raw := v.Get(l.key)
		if err := l.set(raw); err != nil {
			return nil, fmt.Errorf("%s %s (from %s): %w", l.key, l.showRaw(raw), f.source(l.key, path), err)
		}
	}
	c.resolve()
	if err := c.validate(func(key string) bool { return f.uses(key) && f.usedBy(&c, key) }); err != nil {
		return nil, err
	}
	c.from = f
	return &c, nil
}

// source names where the value of key came from, for error messages.
func (f *configFlags) source(key, path string) string {
	if fl := f.fs.Lookup(key); fl != nil && fl.Changed {
		return "--" + key
	}
	if _, ok := os.LookupEnv(envName(key)); ok {
		return envName(key)
	}
	return path
}

// readConfigFile reads the YAML file into v and rejects keys the tree does
// not declare, so a typo names the key instead of leaving a silent default.
func readConfigFile(v *viper.Viper, path string, leaves []leaf, sections []section) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		var parse viper.ConfigParseError
		if errors.As(err, &parse) && parse.Unwrap() != nil {
			err = parse.Unwrap() // the YAML error, without viper's "While parsing config:"
		}
		return fmt.Errorf("config file %s: %s", path, strings.Join(strings.Fields(err.Error()), " "))
	}
	known := map[string]bool{}
	for _, l := range leaves {
		known[l.key] = true
	}
	isSection := map[string]bool{}
	for _, s := range sections {
		isSection[s.key] = true
	}
	var unknown []string
	for _, k := range v.AllKeys() { // only the file's so far: no defaults, flags are bound later
		if isSection[k] {
			if v.Get(k) == nil {
				continue // an empty section ("kafka:" with its keys commented out): nothing set
			}
			return fmt.Errorf("config file %s: %q is a section, not a value (see docs/configuration.md)", path, k)
		}
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		for _, k := range unknown {
			if to, ok := renamedKeys[k]; ok {
				return fmt.Errorf("config file %s: key %q was renamed: use %s (docs/configuration.md)", path, k, to)
			}
		}
		quoted := make([]string, len(unknown))
		for i, k := range unknown {
			quoted[i] = strconv.Quote(k)
		}
		return fmt.Errorf("config file %s: unknown key %s (see `streamscore config --help` or docs/configuration.md)", path, strings.Join(quoted, ", "))
	}
	return nil
}

// renamedKeys are keys that are gone, with the key that took their place:
// a file or a variable with one is an error that names the new key.
var renamedKeys = map[string]string{
	"model.reload_token_file": "http.admin_token_file", // one token for every admin route
}

// checkEnv rejects STREAMSCORE_* variables that name no key, so a typo
// (STREAMSCORE_INPUT_TOPC) is an error rather than a silent default.
// Tooling variables (toolingEnvPrefixes) are not configuration.
func checkEnv(leaves []leaf) error {
	known := map[string]bool{}
	for _, l := range leaves {
		known[envName(l.key)] = true
	}
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] && !isToolingEnv(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	hint := ""
	if near := closestEnv(unknown[0], known); near != "" {
		hint = " (did you mean " + near + "?)"
	}
	for old, to := range renamedKeys {
		if unknown[0] == envName(old) {
			hint = " (renamed: use " + envName(to) + ")"
		}
	}
	return fmt.Errorf("unknown environment variable %s%s: configuration variables are STREAMSCORE_<SECTION>_<KEY> of a key in docs/configuration.md; tooling variables start with %s",
		strings.Join(unknown, ", "), hint, strings.Join(toolingEnvPrefixes, " or "))
}

// closestEnv is the known name at the smallest edit distance from name,
// if that distance is small enough to be a typo.
func closestEnv(name string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(name, k); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
