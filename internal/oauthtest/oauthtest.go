// Package oauthtest is a token endpoint for tests of OAUTHBEARER: the OAuth
// 2.0 client credentials grant (RFC 6749, 4.4) with the client's id and
// secret in HTTP basic authentication, served on 127.0.0.1.
package oauthtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Issue decides a token request of client id with secret (r holds its
// form, n counts the requests from 1): the access token, or ok false to
// refuse it as invalid_client.
type Issue func(r *http.Request, id, secret string, n int) (token string, ok bool)

// Endpoint is a running token endpoint, closed when its test ends.
type Endpoint struct {
	URL      string
	requests atomic.Int32
}

// Requests is how many token requests the endpoint answered.
func (e *Endpoint) Requests() int { return int(e.requests.Load()) }

// Serve starts a token endpoint that answers the client credentials grant
// with issue's token (type Bearer, valid an hour) and everything else, or
// what issue refuses, with 401 and the RFC's invalid_client error.
func Serve(t testing.TB, issue Issue) *Endpoint {
	e := &Endpoint{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(e.requests.Add(1))
		w.Header().Set("Content-Type", "application/json")
		id, secret, ok := r.BasicAuth()
		var token string
		if ok && r.FormValue("grant_type") == "client_credentials" {
			token, ok = issue(r, id, secret, n)
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "bad client credentials"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// UnsignedJWT is a token Kafka's unsecured OAUTHBEARER validator accepts
// (alg none; principal = sub; issued a minute ago, expiring at exp), which
// the secured test broker uses: the tests check the client's token
// handling, not an identity provider.
func UnsignedJWT(sub string, exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none"}) + "." + enc(map[string]any{"sub": sub, "iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix()}) + "."
}
