package srtest

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// Server is a running fake registry.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	nextID   int
	byID     map[int]*stored
	byKey    map[string]int   // schema type + canonical text -> id
	subjects map[string][]int // subject -> ids, version n at index n-1
	requests map[string]int   // route pattern -> count
	user     string
	pass     string
	token    string
	failNext int

	// counters the handlers only add to
	failed, unauthorized atomic.Int64
}

type stored struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
	References []any  `json:"references,omitempty"`
}

// Start starts a server on 127.0.0.1. Close it when done.
func Start() *Server { return start(nil) }

// StartTLS starts a server on 127.0.0.1 that speaks only TLS with cert (a
// certificate for 127.0.0.1). With clientCAs it also requires a client
// certificate signed by one of them (mutual TLS). Close it when done.
func StartTLS(cert tls.Certificate, clientCAs *x509.CertPool) *Server {
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		tc.ClientCAs, tc.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	return start(tc)
}

func start(tc *tls.Config) *Server {
	s := &Server{
		nextID:   1,
		byID:     map[int]*stored{},
		byKey:    map[string]int{},
		subjects: map[string][]int{},
		requests: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /schemas/ids/{id}", s.getSchema)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", s.getIDVersions)
	mux.HandleFunc("GET /subjects", s.getSubjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", s.getVersions)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", s.getVersion)
	mux.HandleFunc("POST /subjects/{subject}/versions", s.withSchema(s.postVersion))
	mux.HandleFunc("POST /subjects/{subject}", s.withSchema(s.lookup))
	s.srv = httptest.NewUnstartedServer(s.middleware(mux)) // httptest listens on 127.0.0.1
	if tc == nil {
		s.srv.Start()
		return s
	}
	s.srv.TLS = tc
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what the tests make
	s.srv.StartTLS()
	return s
}

// New starts a server and closes it when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// NewTLS is StartTLS, closed when the test ends.
func NewTLS(tb testing.TB, cert tls.Certificate, clientCAs *x509.CertPool) *Server {
	tb.Helper()
	s := StartTLS(cert, clientCAs)
	tb.Cleanup(s.Close)
	return s
}

// URL is the base URL to configure clients with.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// RequireBasicAuth makes every request need these credentials (401 otherwise).
func (s *Server) RequireBasicAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// RequireBearerToken makes every request need "Authorization: Bearer
// token" (401 otherwise), as registries behind an OAuth proxy do.
func (s *Server) RequireBearerToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Unauthorized returns how many requests were refused for their
// credentials (401).
func (s *Server) Unauthorized() int { return int(s.unauthorized.Load()) }

// FailNext makes the next n requests answer 500, to test transient failures.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Failed returns how many requests FailNext failed so far.
func (s *Server) Failed() int { return int(s.failed.Load()) }

// Requests returns how many requests matched a route pattern, for example
// "GET /schemas/ids/{id}".
func (s *Server) Requests(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[pattern]
}

// Register stores a schema under subject as the registry would on POST
// /subjects/{subject}/versions and returns its id. schemaType "" means AVRO.
func (s *Server) Register(subject, schema, schemaType string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _, err := s.register(subject, &stored{Schema: schema, SchemaType: schemaType})
	return id, err
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		user, pass, token, fail := s.user, s.pass, s.token, s.failNext > 0
		if fail {
			s.failNext--
		}
		s.mu.Unlock()
		if !authorized(r, user, pass, token) {
			s.unauthorized.Add(1)
			writeErr(w, http.StatusUnauthorized, 40101, "Unauthorized")
			return
		}
		if fail {
			s.failed.Add(1)
			writeErr(w, http.StatusInternalServerError, 50001, "injected failure")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks the request's credentials against the required ones
// (none required: every request passes), in constant time.
func authorized(r *http.Request, user, pass, token string) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || !eq(u, user) || !eq(p, pass) {
			return false
		}
	}
	if token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !eq(got, token) {
			return false
		}
	}
	return true
}

func (s *Server) count(r *http.Request) {
	s.requests[r.Pattern]++
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"error_code": code, "message": msg})
}

func (s *Server) getSchema(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(r)
	id, _ := strconv.Atoi(r.PathValue("id"))
	st, ok := s.byID[id]
	if !ok {
		writeErr(w, http.StatusNotFound, 40403, "Schema "+r.PathValue("id")+" not found")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) getIDVersions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(r)
	id, _ := strconv.Atoi(r.PathValue("id"))
	if _, ok := s.byID[id]; !ok {
		writeErr(w, http.StatusNotFound, 40403, "Schema not found")
		return
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, subj := range s.sortedSubjects() {
		for v, sid := range s.subjects[subj] {
			if sid == id {
				out = append(out, sv{subj, v + 1})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) sortedSubjects() []string {
	names := make([]string, 0, len(s.subjects))
	for n := range s.subjects {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) getSubjects(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(r)
	writeJSON(w, http.StatusOK, s.sortedSubjects())
}

func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(r)
	ids, ok := s.subjects[r.PathValue("subject")]
	if !ok {
		writeErr(w, http.StatusNotFound, 40401, "Subject not found")
		return
	}
	vs := make([]int, len(ids))
	for i := range ids {
		vs[i] = i + 1
	}
	writeJSON(w, http.StatusOK, vs)
}

type subjectSchema struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	stored
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(r)
	subj := r.PathValue("subject")
	ids, ok := s.subjects[subj]
	if !ok {
		writeErr(w, http.StatusNotFound, 40401, "Subject not found")
		return
	}
	v := len(ids)
	if vs := r.PathValue("version"); vs != "latest" && vs != "-1" {
		n, err := strconv.Atoi(vs)
		if err != nil || n < 1 {
			writeErr(w, http.StatusUnprocessableEntity, 42202, "Invalid version")
			return
		}
		v = n
	}
	if v < 1 || v > len(ids) {
		writeErr(w, http.StatusNotFound, 40402, "Version not found")
		return
	}
	id := ids[v-1]
	writeJSON(w, http.StatusOK, subjectSchema{Subject: subj, Version: v, ID: id, stored: *s.byID[id]})
}

func readStored(r *http.Request) (*stored, error) {
	var st stored
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(&st); err != nil {
		return nil, err
	}
	if st.SchemaType == "AVRO" {
		st.SchemaType = ""
	}
	return &st, nil
}

// key identifies a schema: its type and Avro Parsing Canonical Form.
func key(st *stored) (string, error) {
	if st.SchemaType != "" {
		return st.SchemaType + "\x00" + st.Schema, nil
	}
	c, err := goavro.NewCodec(st.Schema)
	if err != nil {
		return "", fmt.Errorf("invalid schema: %w", err)
	}
	return "AVRO\x00" + c.CanonicalSchema(), nil
}

func (s *Server) register(subject string, st *stored) (id, version int, err error) {
	k, err := key(st)
	if err != nil {
		return 0, 0, err
	}
	id, ok := s.byKey[k]
	if !ok {
		id = s.nextID
		s.nextID++
		s.byKey[k] = id
		s.byID[id] = st
	}
	for v, sid := range s.subjects[subject] {
		if sid == id {
			return id, v + 1, nil
		}
	}
	s.subjects[subject] = append(s.subjects[subject], id)
	return id, len(s.subjects[subject]), nil
}

// withSchema reads the schema in the request body and hands it to h with
// the lock held and the request counted; a bad body is a 400.
func (s *Server) withSchema(h func(w http.ResponseWriter, r *http.Request, st *stored)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := readStored(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.count(r)
		if err != nil {
			writeErr(w, http.StatusBadRequest, 400, "bad request body: "+err.Error())
			return
		}
		h(w, r, st)
	}
}

func (s *Server) postVersion(w http.ResponseWriter, r *http.Request, st *stored) {
	id, _, err := s.register(r.PathValue("subject"), st)
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, 42201, "Invalid schema: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, st *stored) {
	subj := r.PathValue("subject")
	ids, ok := s.subjects[subj]
	if !ok {
		writeErr(w, http.StatusNotFound, 40401, "Subject not found")
		return
	}
	k, err := key(st)
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, 42201, "Invalid schema: "+err.Error())
		return
	}
	for v, id := range ids {
		if s.byKey[k] == id {
			writeJSON(w, http.StatusOK, subjectSchema{Subject: subj, Version: v + 1, ID: id, stored: *s.byID[id]})
			return
		}
	}
	writeErr(w, http.StatusNotFound, 40403, "Schema not found")
}
