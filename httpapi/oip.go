package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
)

// The Open Inference Protocol v2 (KServe "V2 inference protocol", Triton's
// HTTP/REST API): health, server and model metadata, and inference with
// named input tensors, one per bundle input, mapped onto the stream's
// decoder (see infer.go).

// OIP output tensor names.
const (
	OutputScore         = "score"
	OutputProbabilities = "probabilities"
	OutputLabel         = "label"
	platform            = "streamscore"
)

// oipModel is what the protocol says about a bundle: inputs with their
// datatypes, outputs, and the metadata document.
type oipModel struct {
	name, version string
	inputs        []oipInput // in the bundle's order
	byName        map[string]int
	outputs       []oipTensor
	classes       []string
	tree          *eventNode
	meta          []byte // GET /v2/models/{name}
}

type oipInput struct {
	name     string
	typ      features.InputType
	datatype string // what metadata announces
}

// oipTensor is a tensor in metadata: name, datatype, shape (-1: any).
type oipTensor struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// inputDatatype is the datatype metadata announces for an input type.
// infer.go accepts more (see docs/http.md): numbers and timestamps also as
// any integer or float type, timestamps also as BYTES (RFC 3339).
func inputDatatype(t features.InputType) string {
	switch t {
	case features.Category:
		return "BYTES"
	case features.Bool:
		return "BOOL"
	case features.Timestamp:
		return "INT64" // epoch milliseconds
	}
	return "FP64"
}

// oipParameters are the model metadata's parameters: where the live
// bundle came from (an extension the protocol allows; clients ignore what
// they do not know).
type oipParameters struct {
	LoadedAt      string `json:"loaded_at"`
	Checksum      string `json:"checksum"`
	ReferenceRows int    `json:"reference_rows"`
}

func newOIPModel(path *predict.Path) *oipModel {
	b := path.Bundle()
	m := &oipModel{name: b.Name, version: b.Version, byName: map[string]int{}, classes: b.Classes()}
	meta := struct {
		Name       string         `json:"name"`
		Versions   []string       `json:"versions"`
		Platform   string         `json:"platform"`
		Inputs     []oipTensor    `json:"inputs"`
		Outputs    []oipTensor    `json:"outputs"`
		Parameters *oipParameters `json:"parameters,omitempty"`
	}{Name: b.Name, Versions: []string{b.Version}, Platform: platform}
	if o := path.Origin(); !o.LoadedAt.IsZero() {
		meta.Parameters = &oipParameters{LoadedAt: o.LoadedAt.UTC().Format(time.RFC3339Nano), Checksum: o.Checksum,
			ReferenceRows: o.ReferenceRows}
	}
	for i, in := range b.Layout().Inputs {
		dt := inputDatatype(in.Type)
		m.inputs = append(m.inputs, oipInput{name: in.Name, typ: in.Type, datatype: dt})
		m.byName[in.Name] = i
		meta.Inputs = append(meta.Inputs, oipTensor{Name: in.Name, Datatype: dt, Shape: []int64{-1}})
	}
	m.outputs = append(m.outputs, oipTensor{Name: OutputScore, Datatype: "FP64", Shape: []int64{-1}})
	if k := len(m.classes); k > 0 {
		m.outputs = append(m.outputs, oipTensor{Name: OutputProbabilities, Datatype: "FP64", Shape: []int64{-1, int64(k)}})
	}
	if len(b.Labels()) > 0 {
		m.outputs = append(m.outputs, oipTensor{Name: OutputLabel, Datatype: "BYTES", Shape: []int64{-1}})
	}
	meta.Outputs = m.outputs
	m.meta, _ = json.Marshal(meta) // plain structs: cannot fail
	m.meta = append(m.meta, '\n')
	m.tree = newEventTree(b.Layout())
	return m
}

// hasOutput reports whether name is one of the model's outputs.
func (m *oipModel) hasOutput(name string) bool {
	for _, o := range m.outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// lookup finds the model of a /v2/models/{name}[/versions/{version}] URL,
// answering 404 (or 503 without a model) itself when it is not this one.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *model {
	md := s.model.Load()
	if md == nil {
		w.Header().Set("Retry-After", retryAfterDraining)
		writeOIPError(w, http.StatusServiceUnavailable, "no model loaded yet")
		return nil
	}
	return s.match(w, r, md)
}

func (s *Server) match(w http.ResponseWriter, r *http.Request, md *model) *model {
	name, version := r.PathValue("name"), r.PathValue("version")
	if name != md.oip.name {
		writeOIPError(w, http.StatusNotFound, fmt.Sprintf("unknown model %q (this server serves %q)", name, md.oip.name))
		return nil
	}
	if version != "" && version != md.oip.version {
		writeOIPError(w, http.StatusNotFound, fmt.Sprintf("model %s has no version %q (it is version %s)", name, version, md.oip.version))
		return nil
	}
	return md
}

// serveLive is GET /v2/health/live: the process answers.
func (s *Server) serveLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"live":true}`+"\n"))
}

// serveReady is GET /v2/health/ready: 200 with a model and not draining,
// else 503 (any status but 200 means "not ready" to OIP clients).
func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	if !s.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`+"\n"))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"ready":true}`+"\n"))
}

// serveServerMeta is GET /v2.
func (s *Server) serveServerMeta(w http.ResponseWriter, _ *http.Request) {
	b, _ := json.Marshal(struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}{platform, s.opt.Version, []string{"binary_tensor_data"}})
	writeJSON(w, http.StatusOK, append(b, '\n'))
}

// serveModelMeta is GET /v2/models/{name}[/versions/{version}].
func (s *Server) serveModelMeta(w http.ResponseWriter, r *http.Request) {
	if md := s.lookup(w, r); md != nil {
		writeJSON(w, http.StatusOK, md.oip.meta)
	}
}

// serveModelReady is GET /v2/models/{name}[/versions/{version}]/ready.
func (s *Server) serveModelReady(w http.ResponseWriter, r *http.Request) {
	md := s.lookup(w, r)
	if md == nil {
		return
	}
	b := append([]byte(`{"name":`), schemas.AppendJSONString(nil, md.oip.name)...)
	if !s.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, append(b, `,"ready":false}`+"\n"...))
		return
	}
	writeJSON(w, http.StatusOK, append(b, `,"ready":true}`+"\n"...))
}

// eventNode is one level of the JSON event infer builds per row: the
// bundle's dotted input paths as nested objects.
type eventNode struct {
	key      []byte // the JSON-quoted key, with the colon
	input    int    // the input at this leaf; -1 for an object
	children []*eventNode
}

func newEventTree(l *features.Layout) *eventNode {
	root := &eventNode{input: -1}
	for i, in := range l.Inputs {
		n := root
		path := in.FieldPath()
		for d, seg := range path {
			key := append(schemas.AppendJSONString(nil, seg), ':')
			var c *eventNode
			for _, ch := range n.children {
				if string(ch.key) == string(key) && (ch.input < 0) == (d < len(path)-1) {
					c = ch
					break
				}
			}
			if c == nil {
				c = &eventNode{key: key, input: -1}
				if d == len(path)-1 {
					c.input = i
				}
				n.children = append(n.children, c)
			}
			n = c
		}
	}
	return root
}

// appendEvent writes row's event: each input given (cols[input] != nil) at
// its path, with its JSON value for the row.
func (n *eventNode) appendEvent(b []byte, cols []*column, row int) []byte {
	b = append(b, '{')
	first := true
	for _, c := range n.children {
		if !c.present(cols) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, c.key...)
		if c.input >= 0 {
			b = append(b, cols[c.input].value(row)...)
		} else {
			b = c.appendEvent(b, cols, row)
		}
	}
	return append(b, '}')
}

// present reports whether any input under n is in the request.
func (n *eventNode) present(cols []*column) bool {
	if n.input >= 0 {
		return cols[n.input] != nil
	}
	for _, c := range n.children {
		if c.present(cols) {
			return true
		}
	}
	return false
}

// column is one input tensor as JSON values, one per row.
type column struct {
	buf  []byte
	ends []int
}

func (c *column) add(v []byte) { c.buf = append(c.buf, v...); c.ends = append(c.ends, len(c.buf)) }

func (c *column) value(row int) []byte {
	start := 0
	if row > 0 {
		start = c.ends[row-1]
	}
	return c.buf[start:c.ends[row]]
}

func appendFloat(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }
