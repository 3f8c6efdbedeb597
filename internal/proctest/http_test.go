package proctest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestHTTPDo: the method, headers and body arrive; the status, headers and
// whole body come back; a refused connection is an error naming the call.
func TestHTTPDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "got "+string(b))
	}))
	defer srv.Close()
	resp, body := HTTP(t, nil, "PUT", srv.URL+"/x", strings.NewReader("hello"), "Authorization", "Bearer t", "Content-Type", "text/plain")
	if resp.StatusCode != http.StatusTeapot || string(body) != "got hello" {
		t.Errorf("got %d %q, want 418 %q", resp.StatusCode, body, "got hello")
	}
	if got, want := resp.Header.Get("X-Seen"), "PUT Bearer t text/plain"; got != want {
		t.Errorf("the server saw %q, want %q", got, want)
	}
	srv.Close()
	if _, _, err := HTTPDo(srv.Client(), "GET", srv.URL+"/y", nil); err == nil || !strings.Contains(err.Error(), "GET "+srv.URL+"/y") {
		t.Errorf("closed server: %v, want an error naming GET %s/y", err, srv.URL)
	}
}

func TestMergeKeysAndTempFile(t *testing.T) {
	got := MergeKeys(BaseKeys("/b"), map[string]any{"log.level": "debug", "input.topic": "in"}, nil)
	want := map[string]any{"model.bundle": "/b", "http.listen": "127.0.0.1:0", "log.format": "json", "log.level": "debug", "input.topic": "in"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeKeys: got %v, want %v", got, want)
	}
	path := TempFile(t, "secret", "s3cret\n")
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "s3cret\n" {
		t.Fatalf("TempFile wrote %q, %v; want %q", b, err, "s3cret\n")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("TempFile mode %v, want 0600", fi.Mode().Perm())
	}
}
