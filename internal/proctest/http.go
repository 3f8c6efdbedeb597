package proctest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// HTTPDo sends one request through client (http.DefaultClient when nil)
// with the headers given as name, value pairs, reads the whole answer and
// closes it: the response (for its status and headers) and its body. A body
// of nil sends none; one that is not a *bytes.Reader, *bytes.Buffer or
// *strings.Reader is sent chunked (http.NewRequest). For tests that poll or
// expect a failure; HTTP fails the test instead.
func HTTPDo(client *http.Client, method, url string, body io.Reader, header ...string) (*http.Response, []byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, b, fmt.Errorf("%s %s: read the body: %w", method, url, err)
	}
	return resp, b, nil
}

// HTTP is HTTPDo that fails the test when the request cannot be sent or its
// answer read.
func HTTP(t testing.TB, client *http.Client, method, url string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := HTTPDo(client, method, url, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
