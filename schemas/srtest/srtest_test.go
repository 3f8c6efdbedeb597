package srtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/proctest"
)

const schemaA = `{"type":"record","name":"A","fields":[{"name":"x","type":"long"}]}`

// schemaASpaced is schemaA written differently: same canonical form.
const schemaASpaced = `{ "type": "record", "name": "A", "doc": "d", "fields": [ {"name": "x", "type": "long"} ] }`

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	resp, b := proctest.HTTP(t, nil, method, url, strings.NewReader(body))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func body(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

func TestServer(t *testing.T) {
	s := New(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s is not on 127.0.0.1", s.URL())
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantField  string
		wantValue  any
	}{
		{"register", "POST", "/subjects/a-value/versions", body(schemaA), 200, "id", 1.0},
		{"same schema, other text, same id", "POST", "/subjects/a-value/versions", body(schemaASpaced), 200, "id", 1.0},
		{"same schema, other subject, same id", "POST", "/subjects/b-value/versions", body(schemaA), 200, "id", 1.0},
		{"invalid schema", "POST", "/subjects/a-value/versions", body(`{"type":"nope"}`), 422, "error_code", 42201.0},
		{"schema by id", "GET", "/schemas/ids/1", "", 200, "schema", schemaA},
		{"unknown id", "GET", "/schemas/ids/2", "", 404, "error_code", 40403.0},
		{"latest version", "GET", "/subjects/a-value/versions/latest", "", 200, "version", 1.0},
		{"unknown version", "GET", "/subjects/a-value/versions/2", "", 404, "error_code", 40402.0},
		{"unknown subject", "GET", "/subjects/zz/versions/latest", "", 404, "error_code", 40401.0},
		{"lookup", "POST", "/subjects/b-value", body(schemaA), 200, "id", 1.0},
		{"lookup of an unregistered schema", "POST", "/subjects/b-value", body(`{"type":"string"}`), 404, "error_code", 40403.0},
	}
	for _, tc := range tests {
		status, m := do(t, tc.method, s.URL()+tc.path, tc.body)
		if status != tc.wantStatus || m[tc.wantField] != tc.wantValue {
			t.Errorf("%s: %d %v, want %d with %s=%v", tc.name, status, m, tc.wantStatus, tc.wantField, tc.wantValue)
		}
	}
	if got := s.Requests("GET /schemas/ids/{id}"); got != 2 {
		t.Errorf("Requests(GET /schemas/ids/{id}) = %d, want 2", got)
	}
	s.RequireBasicAuth("u", "p")
	if status, _ := do(t, "GET", s.URL()+"/subjects", ""); status != 401 {
		t.Errorf("without credentials: %d, want 401", status)
	}
	s.RequireBasicAuth("", "")
	s.FailNext(1)
	if status, _ := do(t, "GET", s.URL()+"/subjects", ""); status != 500 {
		t.Errorf("injected failure: %d, want 500", status)
	}
	if status, _ := do(t, "GET", s.URL()+"/subjects", ""); status != 200 {
		t.Errorf("after the injected failure: %d, want 200", status)
	}
}
