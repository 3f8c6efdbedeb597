package schemas

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEmbeddedSchemas(t *testing.T) {
	want := []string{"churn", "fraud_transaction", "iris", "prediction"}
	if got := EmbeddedNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("EmbeddedNames() = %v, want %v", got, want)
	}
	for _, name := range want {
		if _, err := EmbeddedCodec(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := EmbeddedCodec(name + ".avsc"); err != nil {
			t.Errorf("%s.avsc: %v", name, err)
		}
	}
	if _, err := EmbeddedSchema("nope"); err == nil {
		t.Error("EmbeddedSchema(nope) succeeded")
	}
}

// fieldTypes maps each top-level field of an embedded schema to its type
// as JSON text, for checking the schemas against their specification.
func fieldTypes(t *testing.T, name string) map[string]string {
	t.Helper()
	text, err := EmbeddedSchema(name)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range s.Fields {
		m[f.Name] = string(f.Type)
	}
	return m
}

func TestFraudSchemaFields(t *testing.T) {
	want := map[string]string{
		"transaction_id":        `"string"`,
		"card_id":               `"string"`,
		"amount":                `"double"`,
		"avg_amount_30d":        `["null", "double"]`,
		"merchant_category":     `["null", "string"]`,
		"country":               `["null", "string"]`,
		"card_present":          `["null", "boolean"]`,
		"distance_from_home_km": `["null", "double"]`,
		"txn_count_24h":         `["null", "double"]`,
		"timestamp":             `"string"`,
	}
	if got := fieldTypes(t, "fraud_transaction"); !reflect.DeepEqual(got, want) {
		t.Errorf("fraud_transaction fields:\n%v\nwant:\n%v", got, want)
	}
	iris := fieldTypes(t, "iris")
	for _, f := range []string{"sepal_length", "sepal_width", "petal_length", "petal_width"} {
		if iris[f] != `["null", "double"]` {
			t.Errorf("iris %s = %s, want nullable double", f, iris[f])
		}
	}
}

func TestPredictionSchemaFields(t *testing.T) {
	got := fieldTypes(t, PredictionSchemaName)
	for _, f := range []string{"key", "event_id", "event_time", "scored_time", "model", "model_version",
		"score", "label", "probabilities", "features"} {
		if _, ok := got[f]; !ok {
			t.Errorf("prediction schema lacks %s", f)
		}
	}
	if len(got) != 10 {
		t.Errorf("prediction schema has %d fields, want 10", len(got))
	}
}
