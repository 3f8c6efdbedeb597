package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestNeverPrints puts a recognisable secret through every way a value
// leaves the process as text.
func TestNeverPrints(t *testing.T) {
	const pw = "hunter2-S3CRET"
	type holder struct {
		User     string
		Password Value
	}
	h := holder{User: "u", Password: pw}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, h), fmt.Sprintf(verb, h.Password))
	}
	j, _ := json.Marshal(h)
	y, _ := yaml.Marshal(h)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cfg", h, "pw", h.Password)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "cfg", h, "pw", h.Password)
	outs = append(outs, string(j), string(y), logs.String(), fmt.Errorf("connect as %v: %w", h, fmt.Errorf("%s", h.Password)).Error())
	for _, o := range outs {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret printed: %s", o)
		}
	}
	if !strings.Contains(string(j), Redacted) {
		t.Errorf("json %s: want %s", j, Redacted)
	}
	if h.Password.Reveal() != pw {
		t.Error("Reveal lost the value")
	}
	if Value("").String() != "" {
		t.Error("an unset secret should print empty")
	}
	var back Value
	if err := back.UnmarshalText([]byte(pw)); err != nil || back.Reveal() != pw {
		t.Errorf("UnmarshalText: %v %q", err, back.Reveal())
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/pw"
	if err := os.WriteFile(file, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := dir + "/empty"
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v          Value
		file, want string
		wantErr    string
	}{
		{v: "direct", want: "direct"},
		{file: file, want: "from-file"},
		{},
		{v: "direct", file: file, wantErr: "x.password and x.password_file both are set: use one"},
		{file: dir + "/missing", wantErr: "x.password_file: open " + dir + "/missing: no such file or directory"},
		{file: empty, wantErr: "x.password_file: " + empty + " is empty"},
	} {
		got, err := Resolve("x.password", tc.v, tc.file)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("Resolve(%q, %q): %v, want %q", tc.v.Reveal(), tc.file, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.Reveal() != tc.want {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q", tc.v.Reveal(), tc.file, got.Reveal(), err, tc.want)
		}
	}
}
