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

func TestInputConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  InputConfig
		want error
	}{
		{"zero value is json", InputConfig{}, nil},
		{"avro with schema", InputConfig{Format: FormatAvro, AvroSchema: "iris"}, nil},
		{"confluent", InputConfig{Format: FormatConfluent}, nil},
		{"avro without schema", InputConfig{Format: FormatAvro}, ErrNoAvroSchema},
		{"unknown format", InputConfig{Format: "xml"}, ErrUnknownFormat},
		{"negative limit", InputConfig{MaxRecordBytes: -1}, ErrNegativeLimit},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestOutputConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  OutputConfig
		want error
	}{
		{"zero value is json", OutputConfig{}, nil},
		{"avro", OutputConfig{Format: FormatAvro}, nil},
		{"confluent with topic", OutputConfig{Format: FormatConfluent, Topic: "p"}, nil},
		{"confluent with subject", OutputConfig{Format: FormatConfluent, Subject: "s"}, nil},
		{"confluent with neither", OutputConfig{Format: FormatConfluent}, ErrNoSubject},
		{"unknown format", OutputConfig{Format: "csv"}, ErrUnknownFormat},
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

func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2"
	cfg := RegistryConfig{URL: "http://x", Username: "u", Password: Secret(pw)}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, cfg.Password))
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "password", cfg.Password, "cfg", cfg)
	outputs = append(outputs, logs.String())
	for _, out := range outputs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if !strings.Contains(string(j), "[redacted]") {
		t.Errorf("json %s does not say [redacted]", j)
	}
	if cfg.Password.Reveal() != pw {
		t.Errorf("Reveal() = %q", cfg.Password.Reveal())
	}
	var back RegistryConfig
	if err := json.Unmarshal([]byte(`{"Password":"p2"}`), &back); err != nil || back.Password.Reveal() != "p2" {
		t.Errorf("unmarshal: %v %q", err, back.Password.Reveal())
	}
}
