package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/predict"
)

// TestSetPathSwapsTheLiveVersion: after SetPath, predictions, the OIP
// model metadata (with the bundle's load time and checksum) and the
// versioned OIP routes are the new version's; /v1/models is served from
// Options.Models.
func TestSetPathSwapsTheLiveVersion(t *testing.T) {
	b := loadBundle(t, "fraud")
	v2 := *b
	v2.Version = "2.0.0"
	loaded := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	origin := predict.Origin{Source: "/models/current", Dir: "/models/v2", Checksum: "sha256:abc", LoadedAt: loaded, ReferenceRows: 7}
	models := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"models":[]}`) })
	d := newTestDoorIn(t, Defaults(), streamInput, Options{Models: models})

	event := readReference(t, "fraud")[0].Event
	predictVersion := func() string {
		code, _, body := do(t, http.MethodPost, d.url+RoutePredict, "application/json", event)
		var rec struct {
			Version string `json:"model_version"`
		}
		if err := json.Unmarshal(body, &rec); err != nil || code != 200 {
			t.Fatalf("predict: %d %s: %v", code, body, err)
		}
		return rec.Version
	}
	if v := predictVersion(); v != "1.0.0" {
		t.Fatalf("before the swap: version %s", v)
	}
	if err := d.SetPath(jsonPath(t, &v2, streamInput, false).WithOrigin(origin)); err != nil {
		t.Fatal(err)
	}
	if v := predictVersion(); v != "2.0.0" {
		t.Errorf("after the swap: version %s, want 2.0.0", v)
	}
	if p := d.Path(); p == nil || p.Bundle().Version != "2.0.0" {
		t.Errorf("Path() after the swap: %v", p)
	}

	code, _, body := do(t, http.MethodGet, d.url+"/v2/models/fraud", "", nil)
	var meta struct {
		Versions   []string       `json:"versions"`
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal(body, &meta); err != nil || code != 200 {
		t.Fatalf("metadata: %d %s: %v", code, body, err)
	}
	if len(meta.Versions) != 1 || meta.Versions[0] != "2.0.0" || meta.Parameters["checksum"] != "sha256:abc" ||
		meta.Parameters["loaded_at"] != "2026-03-01T12:00:00Z" || meta.Parameters["reference_rows"] != 7.0 {
		t.Errorf("metadata %s: want version 2.0.0 with the origin's checksum, load time and reference rows", body)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/v2/models/fraud/versions/2.0.0", 200},
		{"/v2/models/fraud/versions/1.0.0", 404},
		{RouteModels, 200},
	} {
		if code, _, body := do(t, http.MethodGet, d.url+tc.path, "", nil); code != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
}

// TestNoModelsRouteWithoutOption: without Options.Models, /v1/models is
// no route.
func TestNoModelsRouteWithoutOption(t *testing.T) {
	s, err := New(Defaults(), jsonPath(t, loadBundle(t, "fraud"), streamInput, false), testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, RouteModels, nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "no route") {
		t.Errorf("GET %s without Options.Models: %d %s, want 404", RouteModels, rec.Code, rec.Body)
	}
}
