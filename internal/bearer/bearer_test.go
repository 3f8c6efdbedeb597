package bearer

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuard: no token file (off), missing, wrong and right tokens, a
// rotated file, a file that went away, the scheme's case.
func TestGuard(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("s3cret\n")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "inside") })
	on, err := New(file, "http.admin_token_file", log)
	if err != nil {
		t.Fatal(err)
	}
	off, err := New("", "http.admin_token_file", log)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		guard  *Guard
		before func()
		auth   string
		code   int
		body   string
	}{
		{"no token file configured", off, nil, "Bearer s3cret", 404, "/debug/pprof/ is off: set http.admin_token_file"},
		{"no header", on, nil, "", 401, "a valid bearer token is required"},
		{"another scheme", on, nil, "Basic czNjcmV0", 401, "a valid bearer token is required"},
		{"wrong token", on, nil, "Bearer nope", 401, "a valid bearer token is required"},
		{"prefix of the token", on, nil, "Bearer s3c", 401, "a valid bearer token is required"},
		{"right token", on, nil, "Bearer s3cret", 200, "inside"},
		{"scheme in lower case", on, nil, "bearer s3cret", 200, "inside"},
		{"rotated: the old token", on, func() { write("n3w\n") }, "Bearer s3cret", 401, "a valid bearer token is required"},
		{"rotated: the new token", on, nil, "Bearer n3w", 200, "inside"},
		{"file gone", on, func() { os.Remove(file) }, "Bearer n3w", 500, "cannot be read"},
		{"file empty", on, func() { write(" \n") }, "Bearer ", 500, "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			req := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			tc.guard.Wrap(inner).ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %d with %q", rec.Code, rec.Body, tc.code, tc.body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); (tc.code == 401) != strings.HasPrefix(got, "Bearer ") {
				t.Errorf("HTTP %d with WWW-Authenticate %q, want a Bearer challenge exactly on 401", rec.Code, got)
			}
		})
	}
	for _, secret := range []string{"s3cret", "n3w"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows the token %q:\n%s", secret, logs.String())
		}
	}
}

// TestNewChecksTheFile: a token file that cannot be used is a start-up
// error naming the setting.
func TestNewChecksTheFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	big := filepath.Join(dir, "big")
	os.WriteFile(empty, []byte("\n"), 0o600)
	os.WriteFile(big, bytes.Repeat([]byte("x"), maxTokenBytes+1), 0o600)
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "none"), "no such file"},
		{empty, "is empty"},
		{big, "not a token"},
	} {
		_, err := New(tc.file, "http.admin_token_file", slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "http.admin_token_file: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want an error naming http.admin_token_file and %q", tc.file, err, tc.want)
		}
	}
}
