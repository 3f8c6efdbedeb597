package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestSectionValidate: the input and output sections' Validate, by the
// Err* value each wrong setting wraps.
func TestSectionValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  interface{ Validate() error }
		want error
	}{
		{"input: zero value is json", InputConfig{}, nil},
		{"input: avro with schema", InputConfig{Format: FormatAvro, AvroSchema: "iris"}, nil},
		{"input: confluent", InputConfig{Format: FormatConfluent}, nil},
		{"input: avro without schema", InputConfig{Format: FormatAvro}, ErrNoAvroSchema},
		{"input: unknown format", InputConfig{Format: "xml"}, ErrUnknownFormat},
		{"input: negative limit", InputConfig{MaxRecordBytes: -1}, ErrNegativeLimit},
		{"output: zero value is json", OutputConfig{}, nil},
		{"output: avro", OutputConfig{Format: FormatAvro}, nil},
		{"output: confluent with topic", OutputConfig{Format: FormatConfluent, Topic: "p"}, nil},
		{"output: confluent with subject", OutputConfig{Format: FormatConfluent, Subject: "s"}, nil},
		{"output: confluent with neither", OutputConfig{Format: FormatConfluent}, ErrNoSubject},
		{"output: unknown format", OutputConfig{Format: "csv"}, ErrUnknownFormat},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := (OutputConfig{Topic: "scores"}).WithDefaults().Subject; got != "scores-value" {
		t.Errorf("default subject = %q, want scores-value", got)
	}
}

func TestRegistryConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg RegistryConfig
		ok  bool
	}{
		{RegistryConfig{}, true},
		{RegistryConfig{URL: "http://127.0.0.1:8081, https://sr.example:8081"}, true},
		{RegistryConfig{URL: "127.0.0.1:8081"}, false},
		{RegistryConfig{URL: "http://x", Timeout: -time.Second}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}

func TestRegistryConfigNeverPrintsPassword(t *testing.T) {
	const pw = "hunter2"
	cfg := RegistryConfig{URL: "https://alice:pw-in-url@sr.example", Username: "u", Password: pw}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outputs = append(outputs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "cfg", cfg)
	outputs = append(outputs, logs.String())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), pw) {
		t.Errorf("json shows the password: %s", j)
	}
	for _, out := range outputs {
		if strings.Contains(out, pw) || strings.Contains(out, "pw-in-url") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if err := (RegistryConfig{URL: "alice:pw-in-url@sr.example"}).Validate(); err == nil || strings.Contains(err.Error(), "pw-in-url") {
		t.Errorf("Validate of a URL without scheme: %v, want an error that does not show the password", err)
	}
}

func TestValidateShowsKeyAndValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"input format", InputConfig{Format: "xml"}.Validate(), `input.format "xml"`},
		{"input limit", InputConfig{MaxDepth: -3}.Validate(), "input.max_depth -3"},
		{"output format", OutputConfig{Format: "csv"}.Validate(), `output.format "csv"`},
		{"registry url", RegistryConfig{URL: "ftp://x"}.Validate(), `registry.url "ftp://x"`},
		{"registry timeout", RegistryConfig{Timeout: -time.Second}.Validate(), `registry.timeout "-1s"`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestDefaultsAreValid(t *testing.T) {
	if err := DefaultInputConfig().Validate(); err != nil {
		t.Errorf("DefaultInputConfig: %v", err)
	}
	if err := DefaultOutputConfig().Validate(); err != nil {
		t.Errorf("DefaultOutputConfig: %v", err)
	}
	if err := DefaultRegistryConfig().Validate(); err != nil {
		t.Errorf("DefaultRegistryConfig: %v", err)
	}
	if got, want := (InputConfig{}).WithDefaults(), DefaultInputConfig(); got.Format != want.Format ||
		got.MaxRecordBytes != want.MaxRecordBytes || got.MaxDepth != want.MaxDepth || got.MaxFields != want.MaxFields {
		t.Errorf("InputConfig{}.WithDefaults() = %+v, want the limits and format of %+v", got, want)
	}
}
