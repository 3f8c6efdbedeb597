package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/reject"
)

// Registry is a Confluent-compatible schema registry client (franz-go
// pkg/sr) with a cache of writer schemas by id. Schema ids are immutable, so
// a schema once fetched is kept for the life of the process; an id the
// registry does not know is remembered for NegativeTTL so a stream of
// records with a bogus id does not become a stream of HTTP requests.
//
// A Registry is safe for concurrent use. A nil *Registry is valid and
// answers every lookup with ErrNoRegistry.
type Registry struct {
	cl      *sr.Client
	timeout time.Duration

	mu       sync.Mutex
	byID     map[int]*registryEntry
	inflight map[int]*registryFetch
	notFound map[int]time.Time
	now      func() time.Time
}

// NegativeTTL is how long an unknown schema id is remembered.
const NegativeTTL = 30 * time.Second

const maxNegative = 1024

type registryEntry struct {
	schema *embeddedSchema // nil when err is set
	err    error           // permanent: not Avro, or not parseable
}

type registryFetch struct {
	done chan struct{}
	ent  *registryEntry
	err  error // transient
}

// NewRegistry returns a registry client, or (nil, nil) when cfg.URL is empty.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	urls := cfg.urls()
	if len(urls) == 0 {
		return nil, nil
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultRegistryTimeout
	}
	opts := []sr.ClientOpt{
		sr.URLs(urls...),
		sr.HTTPClient(&http.Client{Timeout: timeout}),
		sr.UserAgent("streamscore"),
	}
	if slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, "https://") }) {
		tc, err := cfg.Client("registry.")
		if err != nil {
			return nil, err
		}
		opts = append(opts, sr.DialTLSConfig(tc))
	}
	auth, err := cfg.auth()
	if err != nil {
		return nil, err
	}
	if auth.pass != nil || auth.token != nil {
		// Read at every request, so a rotated password or token file is
		// used without a restart.
		opts = append(opts, sr.PreReq(func(req *http.Request) error {
			if auth.pass != nil {
				p, err := auth.pass()
				if err != nil {
					return err
				}
				req.SetBasicAuth(auth.user, p.Reveal())
				return nil
			}
			t, err := auth.token()
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+t.Reveal())
			return nil
		}))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return &Registry{
		cl:       cl,
		timeout:  timeout,
		byID:     map[int]*registryEntry{},
		inflight: map[int]*registryFetch{},
		notFound: map[int]time.Time{},
		now:      time.Now,
	}, nil
}

// Check makes one request with the configured credentials, the list of
// subjects (any user may ask; a registry with ACLs lists those it may
// read), so wrong credentials or an untrusted certificate stop the start
// instead of holding up every record of a confluent input in retries.
func (r *Registry) Check(ctx context.Context) error {
	if r == nil {
		return ErrNoRegistry
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if _, err := r.cl.Subjects(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrRegistryRequest, hinted(err))
	}
	return nil
}

// Client returns the underlying franz-go client (nil for a nil Registry).
func (r *Registry) Client() *sr.Client {
	if r == nil {
		return nil
	}
	return r.cl
}

// SchemaText returns the text of the Avro schema with the given id.
// Errors wrap ErrSchemaNotFound or ErrNotAvro (the id can never be used)
// or ErrRegistryRequest (try again later).
func (r *Registry) SchemaText(ctx context.Context, id int) (string, error) {
	s, err := r.writerSchema(ctx, id)
	if err != nil {
		return "", err
	}
	return s.text, nil
}

func (r *Registry) writerSchema(ctx context.Context, id int) (*embeddedSchema, error) {
	if r == nil {
		return nil, ErrNoRegistry
	}
	r.mu.Lock()
	if e := r.byID[id]; e != nil {
		r.mu.Unlock()
		return e.schema, e.err
	}
	if t, ok := r.notFound[id]; ok {
		if r.now().Sub(t) < NegativeTTL {
			r.mu.Unlock()
			return nil, fmt.Errorf("schema id %d: %w", id, ErrSchemaNotFound)
		}
		delete(r.notFound, id)
	}
	if f := r.inflight[id]; f != nil {
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("schema id %d: %w: %w", id, ErrRegistryRequest, ctx.Err())
		}
		if f.err != nil {
			return nil, f.err
		}
		return f.ent.schema, f.ent.err
	}
	f := &registryFetch{done: make(chan struct{})}
	r.inflight[id] = f
	r.mu.Unlock()

	ent, err := r.fetch(ctx, id)

	r.mu.Lock()
	delete(r.inflight, id)
	switch {
	case ent != nil:
		r.byID[id] = ent
	case errors.Is(err, ErrSchemaNotFound):
		if len(r.notFound) >= maxNegative {
			clear(r.notFound)
		}
		r.notFound[id] = r.now()
	}
	f.ent, f.err = ent, err
	r.mu.Unlock()
	close(f.done)
	if err != nil {
		return nil, err
	}
	return ent.schema, ent.err
}

func (r *Registry) fetch(ctx context.Context, id int) (*registryEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("schema id %d: %w", id, ErrSchemaNotFound)
		}
		return nil, fmt.Errorf("schema id %d: %w: %w", id, ErrRegistryRequest, hinted(err))
	}
	if s.Type != sr.TypeAvro {
		return &registryEntry{err: fmt.Errorf("schema id %d is %s: %w", id, s.Type, ErrNotAvro)}, nil
	}
	if len(s.References) > 0 {
		return &registryEntry{err: fmt.Errorf("schema id %d uses references, which are not supported: %w", id, ErrNotAvro)}, nil
	}
	es, err := compileSchemaText(s.Schema)
	if err != nil {
		return &registryEntry{err: fmt.Errorf("schema id %d: %w: %w", id, ErrNotAvro, err)}, nil
	}
	return &registryEntry{schema: es}, nil
}

// hinted adds to a failed request the settings to look at: the registry's
// certificate not verified, or the credentials refused (the registry's own
// message says only "Unauthorized").
func hinted(err error) error {
	if h := tlsfiles.Hint("registry.", err); h != "" {
		return fmt.Errorf("%s: %w", h, err)
	}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("the registry refused the credentials (HTTP 401): check registry.username and registry.password or password_file, or registry.token or token_file: %w", err)
		case http.StatusForbidden:
			return fmt.Errorf("the registry denied the request (HTTP 403): the user needs read access to the subjects (and write to output.subject to register): %w", err)
		}
	}
	return err
}

// Register returns the id of schema under subject: looked up first (so a
// pre-registered schema works with a read-only account), registered when
// absent.
func (r *Registry) Register(ctx context.Context, subject, schema string) (int, error) {
	if r == nil {
		return 0, ErrNoRegistry
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s := sr.Schema{Schema: schema, Type: sr.TypeAvro}
	if ss, err := r.cl.LookupSchema(ctx, subject, s); err == nil {
		return ss.ID, nil
	} else if re := (*sr.ResponseError)(nil); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		return 0, fmt.Errorf("looking up schema under subject %s: %w: %w", subject, ErrRegistryRequest, hinted(err))
	}
	id, err := r.cl.RegisterSchema(ctx, subject, s, -1, -1)
	if err != nil {
		return 0, fmt.Errorf("registering schema under subject %s: %w: %w", subject, ErrRegistryRequest, hinted(err))
	}
	return id, nil
}

// confluentDecoder reads the Confluent wire format: magic byte 0, a 4-byte
// big-endian schema id, then Avro binary written with that schema. Plans are
// compiled per schema id and kept by the decoder.
type confluentDecoder struct {
	avroRunner
	reg      *Registry
	plans    map[uint32]*avroPlan
	lastID   uint32
	lastPlan *avroPlan
}

const maxPlans = 256

func (d *confluentDecoder) Decode(b []byte, row *features.Row) (Meta, error) {
	if err := d.start(b, row); err != nil {
		return Meta{}, err
	}
	if len(b) < 5 {
		return Meta{}, malformed("%d bytes is shorter than the 5-byte confluent header", len(b))
	}
	if b[0] != 0 {
		return Meta{}, malformed("confluent magic byte is %d, want 0", b[0])
	}
	id := binary.BigEndian.Uint32(b[1:5])
	p := d.lastPlan
	if p == nil || id != d.lastID {
		p = d.plans[id]
		if p == nil {
			var err error
			if p, err = d.compile(id); err != nil {
				return Meta{SchemaID: int(id)}, err
			}
		}
		d.lastID, d.lastPlan = id, p
	}
	m, err := d.run(p, b[5:])
	m.SchemaID = int(id)
	return m, err
}

func (d *confluentDecoder) compile(id uint32) (*avroPlan, error) {
	if id > 1<<31-1 {
		return nil, &reject.Error{Reason: reject.UnknownSchemaID, Err: fmt.Errorf("schema id %d out of range", id)}
	}
	ws, err := d.reg.writerSchema(context.Background(), int(id))
	if err != nil {
		if errors.Is(err, ErrSchemaNotFound) || errors.Is(err, ErrNotAvro) {
			return nil, &reject.Error{Reason: reject.UnknownSchemaID, Err: err}
		}
		return nil, fmt.Errorf("decode confluent record: %w", err)
	}
	p := compilePlan(ws.parsed, d.root)
	if len(d.plans) >= maxPlans {
		clear(d.plans)
	}
	d.plans[id] = p
	return p, nil
}
