// Package bearer guards HTTP routes with a bearer token kept in a file
// (a Kubernetes Secret mounted as a file, say). The file is read at every
// request, so a rotated token counts at once and the old one stops working
// at the same moment.
//
// A guarded request must carry "Authorization: Bearer <token>"; the token
// is compared in constant time (of SHA-256 digests, so not even its length
// leaks). Without it, or with another, the answer is 401 with
// WWW-Authenticate: Bearer. A Guard without a token file answers 404 and
// says the route is off, so a route that exposes internals is never open
// by accident. Answers are JSON: {"error": "..."}.
//
// A Guard is safe for concurrent use.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

// maxTokenBytes bounds the token file.
const maxTokenBytes = 4096

// Guard checks the bearer token of requests against the content of a file.
type Guard struct {
	file string // empty: guarded routes are off
	key  string // the setting that names file, for messages
	log  *slog.Logger
}

// New returns a guard of the token in file; key is the setting that names
// it (in the answers of refused requests and in errors). The file is read
// now, so a missing or empty one is a start-up error; file "" makes a
// guard whose routes are off.
func New(file, key string, log *slog.Logger) (*Guard, error) {
	if file != "" {
		if _, err := ReadToken(file); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return &Guard{file: file, key: key, log: log}, nil
}

// On reports whether the guard has a token file (its routes are served).
func (g *Guard) On() bool { return g.file != "" }

// Wrap serves h to requests that carry the token.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.file == "" {
			writeError(w, http.StatusNotFound, fmt.Sprintf("%s is off: set %s to a file holding the admin bearer token", r.URL.Path, g.key))
			return
		}
		want, err := ReadToken(g.file)
		if err != nil {
			g.log.Error("admin request refused: the token file cannot be read", "path", r.URL.Path, "file", g.file, "err", err)
			writeError(w, http.StatusInternalServerError, "the admin token file cannot be read (see the service log)")
			return
		}
		if !matches(r.Header.Get("Authorization"), want) {
			g.log.Warn("admin request refused: no valid bearer token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamscore admin"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <the content of "+g.key+">)")
			return
		}
		g.log.Info("admin request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		h.ServeHTTP(w, r)
	})
}

// matches reports whether the Authorization header carries the bearer
// token want. The scheme is case-insensitive (RFC 7235).
func matches(header, want string) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// ReadToken reads the bearer token from path: the file's content without
// surrounding white space, which must not be empty.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("%s is larger than %d bytes: not a token", path, maxTokenBytes)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s holds no token (it is empty or white space only)", path)
	}
	return tok, nil
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg}) // a map of strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
