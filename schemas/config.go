package schemas

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/secret"
)

// Formats accepted by InputConfig.Format and OutputConfig.Format.
const (
	FormatJSON      = "json"      // UTF-8 JSON object per record
	FormatAvro      = "avro"      // raw Avro binary, one datum per record, schema known out of band
	FormatConfluent = "confluent" // magic byte 0, 4-byte big-endian schema id, Avro binary
)

// Defaults of the limits, used by DefaultInputConfig and by WithDefaults
// for zero fields.
const (
	DefaultMaxRecordBytes  = 1 << 20 // 1 MiB
	DefaultMaxDepth        = 64
	DefaultMaxFields       = 10000
	DefaultRegistryTimeout = 5 * time.Second
)

// InputConfig says how the input topic's record values are decoded: the
// decoder's part of the service's "input" section. Field tags name the keys
// (`config`) and say what they do (`help`).
type InputConfig struct {
	Format         string `config:"format" help:"event encoding: json, avro (raw, with input.avro_schema) or confluent (Schema Registry wire format)"`
	AvroSchema     string `config:"avro_schema" help:"writer schema for input.format=avro: a .avsc path or an embedded name (fraud_transaction, iris, churn)"`
	NumericStrings bool   `config:"numeric_strings" help:"accept numbers sent as JSON strings (\"12.5\")"`
	MaxRecordBytes int    `config:"max_record_bytes" help:"larger events go to the DLQ as too_large"`
	MaxDepth       int    `config:"max_depth" help:"JSON nesting deeper than this is too_large"`
	MaxFields      int    `config:"max_fields" help:"JSON events with more keys than this (all levels) are too_large"`
	EventIDField   string `config:"event_id_field" help:"event field (dotted path, string or integer) echoed as event_id in the prediction (empty: none)"`
	KeyField       string `config:"key_field" help:"event field (dotted path, string or integer) that is the prediction's key where the door has no record key (files, HTTP; a stream record without a key) and the Kafka key of logged HTTP predictions (empty: none)"`
	EventTimeField string `config:"event_time_field" help:"a timestamp input of the bundle (name or path) that is the prediction's event_time, in every door (empty: the record timestamp on the stream, the request's arrival over HTTP, none for files)"`
}

// DefaultInputConfig is the input section's defaults.
func DefaultInputConfig() InputConfig {
	return InputConfig{Format: FormatJSON, MaxRecordBytes: DefaultMaxRecordBytes, MaxDepth: DefaultMaxDepth,
		MaxFields: DefaultMaxFields, EventIDField: "transaction_id"}
}

// WithDefaults returns c with the zero fields whose zero value means "the
// default" (format and limits) set from DefaultInputConfig. An empty
// EventIDField stays empty: it means no event id.
func (c InputConfig) WithDefaults() InputConfig {
	d := DefaultInputConfig()
	if c.Format == "" {
		c.Format = d.Format
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = d.MaxRecordBytes
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = d.MaxDepth
	}
	if c.MaxFields == 0 {
		c.MaxFields = d.MaxFields
	}
	return c
}

// Validate checks c (after defaults) and names the wrong key with its
// value. Errors wrap the Err* values of this package.
func (c InputConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Format {
	case FormatJSON, FormatConfluent:
	case FormatAvro:
		if c.AvroSchema == "" {
			return fmt.Errorf("input.avro_schema is empty: %w", ErrNoAvroSchema)
		}
	default:
		return fmt.Errorf("input.format %q: %w", c.Format, ErrUnknownFormat)
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"input.max_record_bytes", c.MaxRecordBytes}, {"input.max_depth", c.MaxDepth}, {"input.max_fields", c.MaxFields}} {
		if l.n < 0 {
			return fmt.Errorf("%s %d: %w", l.key, l.n, ErrNegativeLimit)
		}
	}
	return nil
}

// OutputConfig says how predictions are encoded: the "output" section.
type OutputConfig struct {
	Topic        string `config:"topic" help:"topic the predictions are written to, keyed like the input"`
	Format       string `config:"format" help:"prediction encoding: json, avro or confluent"`
	Subject      string `config:"subject" help:"Schema Registry subject for output.format=confluent (empty: <output.topic>-value)"`
	EchoFeatures bool   `config:"echo_features" help:"include the computed feature vector in each prediction"`
}

// DefaultOutputConfig is the output section's defaults.
func DefaultOutputConfig() OutputConfig {
	return OutputConfig{Topic: "predictions", Format: FormatJSON}
}

// WithDefaults returns c with an empty format set to json and an empty
// subject derived from the topic (TopicNameStrategy).
func (c OutputConfig) WithDefaults() OutputConfig {
	if c.Format == "" {
		c.Format = DefaultOutputConfig().Format
	}
	if c.Subject == "" && c.Topic != "" {
		c.Subject = c.Topic + "-value"
	}
	return c
}

// Validate checks c (after defaults).
func (c OutputConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Format {
	case FormatJSON, FormatAvro:
	case FormatConfluent:
		if c.Subject == "" {
			return fmt.Errorf("output.subject is empty: %w", ErrNoSubject)
		}
	default:
		return fmt.Errorf("output.format %q: %w", c.Format, ErrUnknownFormat)
	}
	return nil
}

// RegistryConfig locates a Confluent-compatible schema registry: the
// "registry" section. It authenticates with basic auth (username and
// password) or a bearer token, each given directly (better: through the
// environment) or as a file read at every request, so a rotated secret is
// used without a restart; over https it verifies the registry against
// ca_file (or the system roots) and can present a client certificate
// (tlsfiles.Config: registry.ca_file, cert_file, key_file, server_name,
// insecure_skip_verify).
type RegistryConfig struct {
	URL          string       `config:"url" help:"Schema Registry URL, several separated by commas (needed for the confluent formats; empty: no registry); a user:password@ in them is basic auth unless registry.username or registry.token is set"`
	Username     string       `config:"username" help:"Schema Registry basic-auth user"`
	Password     secret.Value `config:"password" help:"Schema Registry basic-auth password; prefer registry.password_file or the environment"`
	PasswordFile string       `config:"password_file" help:"file holding the Schema Registry password, read at every request; instead of registry.password"`
	Token        secret.Value `config:"token" help:"bearer token for the Schema Registry (Authorization: Bearer), instead of basic auth; prefer registry.token_file or the environment"`
	TokenFile    string       `config:"token_file" help:"file holding the bearer token, read at every request (rotation without restart); instead of registry.token"`
	tlsfiles.Config
	Timeout time.Duration `config:"timeout" help:"per Schema Registry request"`
}

// DefaultRegistryConfig is the registry section's defaults: no registry.
func DefaultRegistryConfig() RegistryConfig {
	return RegistryConfig{Timeout: DefaultRegistryTimeout}
}

// Validate checks c. A zero Timeout means DefaultRegistryTimeout. Secret
// and certificate files are read now, so a wrong path fails at start.
func (c RegistryConfig) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("registry.timeout %q: %w", c.Timeout, ErrNegativeLimit)
	}
	urls := c.urls()
	https := false
	for _, u := range urls {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("registry.url %q: want http:// or https://", withoutUserinfo(u))
		}
		https = https || strings.HasPrefix(u, "https://")
	}
	if k := c.FirstSet(); k != "" && !https {
		return fmt.Errorf("registry.%s is set but registry.url %q is not https://: TLS settings need an https URL", k, redactURLs(c.URL))
	}
	if https {
		if _, err := c.Client("registry."); err != nil {
			return err
		}
	}
	_, err := c.auth()
	return err
}

// Warnings are settings that work but leave the connection open to others;
// the service logs each at start.
func (c RegistryConfig) Warnings() []string {
	var out []string
	if w := c.Warning("registry."); w != "" {
		out = append(out, w)
	}
	if ui, _ := c.urlUser(); c.Username != "" || c.Token != "" || c.TokenFile != "" || ui != nil {
		for _, u := range c.urls() {
			if strings.HasPrefix(u, "http://") {
				out = append(out, fmt.Sprintf("registry.url %q is http://: the Schema Registry credentials cross the network unencrypted", withoutUserinfo(u)))
				break
			}
		}
	}
	return out
}

// registryAuth is what NewRegistry puts on every request.
type registryAuth struct {
	user  string
	pass  func() (secret.Value, error) // basic auth when user is set
	token func() (secret.Value, error) // bearer token otherwise, if set
}

// auth checks the credentials (reading their files once) and returns how
// to get them at each request.
func (c RegistryConfig) auth() (registryAuth, error) {
	pass := func() (secret.Value, error) { return secret.Resolve("registry.password", c.Password, c.PasswordFile) }
	token := func() (secret.Value, error) { return secret.Resolve("registry.token", c.Token, c.TokenFile) }
	p, err := pass()
	if err != nil {
		return registryAuth{}, err
	}
	t, err := token()
	if err != nil {
		return registryAuth{}, err
	}
	// A user:password@ in the URL counts when no other credentials are
	// set, as net/http lets an Authorization header win over it.
	ui, err := c.urlUser()
	switch {
	case err != nil:
		return registryAuth{}, err
	case ui != nil && c.Username == "" && p == "" && t == "":
		pw, _ := ui.Password()
		return registryAuth{user: ui.Username(), pass: func() (secret.Value, error) { return secret.Value(pw), nil }}, nil
	case c.Username != "" && t != "":
		return registryAuth{}, fmt.Errorf("registry.username and registry.token%s are both set: use basic auth or a bearer token", map[bool]string{true: "_file"}[c.TokenFile != ""])
	case c.Username == "" && p != "":
		return registryAuth{}, fmt.Errorf("registry.password%s is set without registry.username", map[bool]string{true: "_file"}[c.PasswordFile != ""])
	case c.Username != "":
		return registryAuth{user: c.Username, pass: pass}, nil
	case t != "":
		return registryAuth{token: token}, nil
	}
	return registryAuth{}, nil
}

// String keeps a password written into the URL (https://user:pw@host) out
// of logs and error messages; the secret fields redact themselves.
func (c RegistryConfig) String() string {
	type fields RegistryConfig // without this String method
	f := fields(c)
	f.URL = redactURLs(c.URL)
	return fmt.Sprintf("%+v", f)
}

// GoString is String, so %#v does not print the URL's password either.
func (c RegistryConfig) GoString() string { return c.String() }

// LogValue is String, for log/slog.
func (c RegistryConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// urls are the registry URLs without the user:password@ one may write into
// them: franz-go's sr quotes the URL of a failed request in its error, so
// the credentials go on the requests as basic auth instead (auth, urlUser).
func (c RegistryConfig) urls() []string {
	var out []string
	for _, u := range c.rawURLs() {
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			pu.User = nil
			u = pu.String()
		}
		out = append(out, u)
	}
	return out
}

func (c RegistryConfig) rawURLs() []string {
	var out []string
	for _, u := range strings.Split(c.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// urlUser is the user:password written into the registry URLs, nil when
// none carries one. URLs that carry different ones are an error: the
// requests of one client carry one set of credentials.
func (c RegistryConfig) urlUser() (*url.Userinfo, error) {
	var ui *url.Userinfo
	for _, u := range c.rawURLs() {
		pu, err := url.Parse(u)
		if err != nil {
			if strings.Contains(u, "@") {
				return nil, fmt.Errorf("registry.url %q: not a URL", withoutUserinfo(u))
			}
			continue
		}
		if pu.User == nil {
			continue
		}
		if ui != nil && ui.String() != pu.User.String() {
			return nil, fmt.Errorf("registry.url %q: the URLs carry different user names or passwords: set registry.username and registry.password instead", redactURLs(c.URL))
		}
		ui = pu.User
	}
	return ui, nil
}

// withoutUserinfo drops "user:password@" from a URL-like string that may
// not parse as a URL, so an error never shows a password written into it.
func withoutUserinfo(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		scheme, _, ok := strings.Cut(u[:at], "://")
		if ok {
			return scheme + "://[redacted]@" + u[at+1:]
		}
		return "[redacted]@" + u[at+1:]
	}
	return u
}

// redactURLs applies withoutUserinfo to each URL of a comma separated list.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, u := range parts {
		parts[i] = withoutUserinfo(u)
	}
	return strings.Join(parts, ",")
}
