package reload

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/streamscore/streamscore/predict"
)

// Routes of the handlers, as the service mounts them.
const (
	RouteReload = "/admin/reload" // POST: AdminHandler, behind the admin token
	RouteModels = "/v1/models"    // GET: ModelsHandler
)

// ModelsDoc is the body of GET /v1/models (and of POST /admin/reload's
// answer): the lineup serving now and the last reload's outcome.
type ModelsDoc struct {
	Models     []ModelDoc `json:"models"`
	LastReload *ReloadDoc `json:"last_reload,omitempty"`
}

// ModelDoc is one model of the lineup.
type ModelDoc struct {
	Role          string    `json:"role"`
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Bundle        string    `json:"bundle"` // the configured path
	Dir           string    `json:"dir"`    // what it resolved to
	Checksum      string    `json:"checksum"`
	LoadedAt      time.Time `json:"loaded_at"`
	ReferenceRows int       `json:"reference_rows"`
	CanaryPercent *int      `json:"canary_percent,omitempty"` // canary only
	ShadowTopic   string    `json:"shadow_topic,omitempty"`   // shadow only
}

// ReloadDoc is a reload's outcome.
type ReloadDoc struct {
	At       time.Time    `json:"at"`
	Trigger  string       `json:"trigger"`
	Swapped  bool         `json:"swapped"`
	Failures []FailureDoc `json:"failures"`
}

// FailureDoc is one role that kept its old model.
type FailureDoc struct {
	Role   string `json:"role"`
	Bundle string `json:"bundle"`
	Dir    string `json:"dir"`
	Error  string `json:"error"`
}

// Doc describes the lineup serving now and the last reload.
func (r *Reloader) Doc() ModelsDoc {
	d := ModelsDoc{Models: []ModelDoc{}}
	if lu := r.Current(); lu != nil {
		for _, role := range predict.Roles {
			m := lu.model(role)
			if m == nil {
				continue
			}
			md := ModelDoc{Role: string(role), Name: m.Bundle.Name, Version: m.Bundle.Version, Bundle: m.Origin.Source,
				Dir: m.Origin.Dir, Checksum: m.Origin.Checksum, LoadedAt: m.Origin.LoadedAt.UTC(), ReferenceRows: m.Origin.ReferenceRows}
			switch role {
			case predict.RoleCanary:
				pct := lu.CanaryPercent
				md.CanaryPercent = &pct
			case predict.RoleShadow:
				md.ShadowTopic = lu.ShadowTopic
			}
			d.Models = append(d.Models, md)
		}
	}
	if o := r.Last(); o != nil {
		d.LastReload = outcomeDoc(o)
	}
	return d
}

func outcomeDoc(o *Outcome) *ReloadDoc {
	rd := &ReloadDoc{At: o.At.UTC(), Trigger: o.Trigger, Swapped: o.Swapped, Failures: []FailureDoc{}}
	for _, f := range o.Failures {
		rd.Failures = append(rd.Failures, FailureDoc{Role: f.Role, Bundle: f.Source, Dir: f.Dir, Error: f.Err.Error()})
	}
	return rd
}

// ModelsHandler serves GET /v1/models: the lineup serving now (role, name,
// version, load time, checksum, reference rows) and the last reload.
func (r *Reloader) ModelsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + req.Method + " not allowed on " + RouteModels + "; use GET"})
			return
		}
		writeJSON(w, http.StatusOK, r.Doc())
	})
}

// AdminHandler serves POST /admin/reload: a reload now, answered with its
// outcome and the lineup after it (200; 422 when a role kept its old
// model). It checks no credentials: the service mounts it behind the admin
// token (internal/bearer), on the admin listener.
func (r *Reloader) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + req.Method + " not allowed on " + RouteReload + "; use POST"})
			return
		}
		out := r.Reload(context.WithoutCancel(req.Context()), "admin")
		doc := r.Doc()
		doc.LastReload = outcomeDoc(&out)
		code := http.StatusOK
		if len(out.Failures) > 0 {
			code = http.StatusUnprocessableEntity
		}
		writeJSON(w, code, doc)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ") // plain structs and maps: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
