package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/scoring"
)

// obj is a JSON object of the OpenAPI document; encoding/json writes map
// keys sorted, so the document is deterministic.
type obj = map[string]any

// OpenAPI returns the OpenAPI 3.1 document of the door for bundle b: the
// event schema (a property per input with its JSON type, required inputs,
// the categories seen in training as an enum), the prediction record, the
// error object and every route.
func OpenAPI(b *scoring.Bundle, cfg Config) ([]byte, error) {
	ref := func(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
	jsonBody := func(desc string, schema obj) obj {
		return obj{"description": desc, "content": obj{contentJSON: obj{"schema": schema}}}
	}
	errResp := func(desc string) obj { return jsonBody(desc, ref("Error")) }
	oipErr := func(desc string) obj { return jsonBody(desc, ref("OIPError")) }
	modelParams := []any{
		obj{"name": "name", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []string{b.Name}}},
	}
	verParams := append(append([]any{}, modelParams...),
		obj{"name": "version", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []string{b.Version}}})

	predictOp := obj{
		"summary": "Score one event, or an array of events",
		"description": "The body is one event (a JSON object) or a JSON array of events. One event answers its prediction " +
			"record (400 with the error object when it is rejected, 500 when the service failed on it); an array answers " +
			"an array in the same order, each element a prediction record or an error object, and fails as a whole " +
			"only when the body is not JSON. A missing Content-Type is taken as application/json.",
		"operationId": "predict",
		"requestBody": obj{"required": true, "content": obj{contentJSON: obj{"schema": obj{
			"oneOf": []any{ref("Event"), obj{"type": "array", "items": ref("Event")}}}}}},
		"responses": obj{
			"200": jsonBody("The prediction record, or an array of prediction records and error objects", obj{
				"oneOf": []any{ref("Prediction"), obj{"type": "array", "items": obj{"oneOf": []any{ref("Prediction"), ref("Error")}}}}}),
			"400": errResp("The event was rejected (reason, stage and field say why), or the array body is not JSON"),
			"405": errResp("Not POST"),
			"408": errResp("The body did not arrive within http.request_timeout"),
			"413": errResp(fmt.Sprintf("The body is past http.max_body_bytes (%d here), or an array of more than http.max_events (%d here)", cfg.MaxBodyBytes, cfg.MaxEvents)),
			"415": errResp("A content type other than application/json, or a Content-Encoding (bodies are not decompressed)"),
			"429": errResp("http.max_concurrent requests in flight; see Retry-After"),
			"500": errResp("The service failed on the event (internal_error, encode_failed)"),
			"503": errResp("No model loaded, shutting down, or the prediction log (http.log_to_topic) unavailable"),
		},
	}
	// The binary tensor data extension: the JSON part, its length in
	// Inference-Header-Content-Length, then the tensors' bytes.
	binary := obj{"schema": obj{"type": "string", "contentMediaType": contentOctets,
		"description": "the JSON part (" + headerInferLength + " bytes) followed by the binary tensor data"}}
	inferLength := obj{headerInferLength: obj{"description": "length of the JSON part of a binary answer",
		"schema": obj{"type": "integer"}}}
	inferOp := func(params []any) obj {
		ok := jsonBody("Outputs score, probabilities (classifiers) and label; application/octet-stream when an output is asked for as binary data", ref("InferenceResponse"))
		ok["content"].(obj)[contentOctets] = binary
		ok["headers"] = inferLength
		return obj{
			"summary":     "Open Inference Protocol v2 inference: one named input tensor per bundle input",
			"operationId": "infer" + map[bool]string{true: "Version", false: ""}[len(params) > 1],
			"parameters":  params,
			"requestBody": obj{"required": true, "content": obj{contentJSON: obj{"schema": ref("InferenceRequest")}, contentOctets: binary}},
			"responses": obj{
				"200": ok,
				"400": oipErr("A bad request, or a rejected row (the first one's reason)"),
				"404": oipErr("Unknown model or version"),
				"408": oipErr("The body did not arrive within http.request_timeout"),
				"413": oipErr("Body past http.max_body_bytes, or more rows than http.max_events"),
				"415": oipErr("A content type other than application/json or application/octet-stream, or a Content-Encoding"),
				"429": oipErr("http.max_concurrent requests in flight"),
				"500": oipErr("The service failed on a row (internal_error, encode_failed)"),
				"503": oipErr("Not ready, shutting down, or the prediction log unavailable"),
			},
		}
	}
	get := func(id, summary string, params []any, ok obj, extra obj) obj {
		op := obj{"summary": summary, "operationId": id, "responses": obj{"200": ok}}
		if params != nil {
			op["parameters"] = params
		}
		for k, v := range extra {
			op["responses"].(obj)[k] = v
		}
		return obj{"get": op}
	}
	anyJSON := func(desc string) obj { return jsonBody(desc, obj{"type": "object"}) }

	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "streamscore HTTP door: " + b.Name + " " + b.Version,
			"version": b.Version,
			"description": "Predictions of bundle " + b.Name + "@" + b.Version + " (" + b.Description + "), the same records " +
				"the stream writes to its prediction topic. Generated from the bundle by streamscore (GET /openapi.json).",
		},
		"paths": obj{
			RoutePredict:       obj{"post": predictOp},
			RouteInfer:         obj{"post": inferOp(modelParams)},
			RouteModelVerInfer: obj{"post": inferOp(verParams)},
			RouteOpenAPI:       get("openapi", "This document", nil, anyJSON("OpenAPI 3.1 document"), obj{"503": errResp("No model loaded")}),
			RouteLive:          get("serverLive", "Liveness", nil, anyJSON(`{"live": true}`), nil),
			RouteReady:         get("serverReady", "Readiness: a model is loaded and the server is not draining", nil, anyJSON(`{"ready": true}`), obj{"503": anyJSON(`{"ready": false}`)}),
			RouteServerMeta:    get("serverMetadata", "Server metadata", nil, anyJSON("name, version, extensions"), nil),
			RouteModelMeta:     get("modelMetadata", "Model metadata: inputs and outputs with datatypes and shapes", modelParams, jsonBody("Model metadata", ref("ModelMetadata")), obj{"404": oipErr("Unknown model"), "503": oipErr("No model loaded")}),
			RouteModelVerMeta:  get("modelVersionMetadata", "Model metadata of a version", verParams, jsonBody("Model metadata", ref("ModelMetadata")), obj{"404": oipErr("Unknown model or version"), "503": oipErr("No model loaded")}),
			RouteModelReady:    get("modelReady", "Model readiness", modelParams, anyJSON(`{"name": ..., "ready": true}`), obj{"404": oipErr("Unknown model"), "503": anyJSON("not ready")}),
			RouteModelVerReady: get("modelVersionReady", "Model readiness of a version", verParams, anyJSON(`{"name": ..., "ready": true}`), obj{"404": oipErr("Unknown model or version"), "503": anyJSON("not ready")}),
		},
		"components": obj{"schemas": obj{
			"Event":             eventSchema(b.Layout()),
			"Prediction":        predictionSchema(b),
			"Error":             errorSchema(),
			"OIPError":          obj{"type": "object", "required": []string{"error"}, "properties": obj{"error": obj{"type": "string"}}},
			"ModelMetadata":     modelMetadataSchema(),
			"InferenceRequest":  inferenceRequestSchema(),
			"InferenceResponse": inferenceResponseSchema(),
		}},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return append(out, '\n'), nil
}

// eventSchema is the event: one property per input at its (dotted) path.
func eventSchema(l *features.Layout) obj {
	root := obj{"type": "object", "properties": obj{}, "additionalProperties": true,
		"description": "An event. Fields the bundle does not read are ignored; an absent or null input is missing " +
			"(imputed by the bundle, or missing_field when it is required)."}
	for _, in := range l.Inputs {
		path := in.FieldPath()
		node := root
		for _, seg := range path[:len(path)-1] {
			props := node["properties"].(obj)
			child, ok := props[seg].(obj)
			if !ok {
				child = obj{"type": "object", "properties": obj{}, "additionalProperties": true}
				props[seg] = child
			}
			node = child
		}
		leaf := path[len(path)-1]
		node["properties"].(obj)[leaf] = inputSchema(in)
		if in.Required {
			req, _ := node["required"].([]string)
			node["required"] = append(req, leaf)
		}
	}
	return root
}

func inputSchema(in features.Input) obj {
	var s obj
	desc := "input " + in.Name + " (" + string(in.Type) + ")"
	switch in.Type {
	case features.Number:
		s = obj{"type": []string{"number", "null"}}
		if in.Range != nil {
			desc += fmt.Sprintf("; training range [%g, %g]", in.Range[0], in.Range[1])
		}
	case features.Category:
		// The training categories are examples, not an enum: the door
		// scores any other value by the bundle's unknown-category rule, and
		// a client generated from an enum could not send one.
		s = obj{"type": []string{"string", "integer", "null"}}
		desc += "; an integer is the category of its decimal text"
		if len(in.Categories) > 0 {
			s["examples"] = anySlice(in.Categories)
			desc += "; examples: the categories seen in training (another value is scored by the bundle's unknown-category rule, or rejected as unknown_category where the bundle says so)"
		}
	case features.Timestamp:
		s = obj{"oneOf": []any{
			obj{"type": "string", "format": "date-time", "description": "RFC 3339"},
			obj{"type": "number", "description": "epoch milliseconds"},
			obj{"type": "null"},
		}}
	case features.Bool:
		s = obj{"type": []string{"boolean", "null"}}
	}
	s["description"] = desc
	return s
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// predictionSchema is the stream's prediction record (schemas/avro/prediction.avsc as JSON).
func predictionSchema(b *scoring.Bundle) obj {
	nullable := func(t, desc string) obj { return obj{"type": []string{t, "null"}, "description": desc} }
	label := nullable("string", "the decision policy's label; null when none")
	if ls := b.Labels(); len(ls) > 0 {
		label["enum"] = append(anySlice(ls), nil)
	}
	class := obj{"type": "string"}
	if cs := b.Classes(); len(cs) > 0 {
		class["enum"] = cs
	}
	fields := []string{"key", "event_id", "event_time", "scored_time", "model", "model_version", "score", "label", "probabilities", "features"}
	return obj{
		"type": "object", "required": fields, "additionalProperties": false,
		"description": "The stream's prediction record: every field always present, null for absent optional values.",
		"properties": obj{
			"key":           nullable("string", "the event's key (input.key_field); null when none"),
			"event_id":      nullable("string", "the event id field (input.event_id_field); null when absent"),
			"event_time":    nullable("integer", "epoch ms: the request's arrival for HTTP, the record timestamp for the stream"),
			"scored_time":   obj{"type": "integer", "description": "epoch ms when the event was scored"},
			"model":         obj{"type": "string", "const": b.Name},
			"model_version": obj{"type": "string", "const": b.Version},
			"score":         obj{"type": "number", "description": "the positive class's probability (binary), the top class's (multiclass), or the value (regression)"},
			"label":         label,
			"probabilities": obj{"type": "array", "description": "one per class, in the bundle's class order (empty for regression)",
				"items": obj{"type": "object", "required": []string{"class", "probability"}, "additionalProperties": false,
					"properties": obj{"class": class, "probability": obj{"type": "number"}}}},
			"features": obj{"description": "the model's feature vector when output.echo_features is on, else null",
				"oneOf": []any{obj{"type": "null"}, obj{"type": "array", "items": obj{"type": "object",
					"required": []string{"name", "value"}, "additionalProperties": false,
					"properties": obj{"name": obj{"type": "string"}, "value": obj{"type": []string{"number", "null"}}}}}}},
		},
	}
}

func errorSchema() obj {
	var reasons []any
	for _, r := range reject.Reasons() {
		if r.OnRecordPath() {
			reasons = append(reasons, string(r.Reason))
		}
	}
	for _, r := range RequestReasons() {
		if !containsAny(reasons, string(r.Reason)) {
			reasons = append(reasons, string(r.Reason))
		}
	}
	stages := []any{string(reject.StageDecode), string(reject.StageFeatures), string(reject.StageEncode), StageRequest}
	return obj{
		"type": "object", "required": []string{"error"}, "additionalProperties": false,
		"properties": obj{"error": obj{
			"type": "object", "required": []string{"reason", "stage", "field", "message"}, "additionalProperties": false,
			"properties": obj{
				"reason":  obj{"type": "string", "enum": reasons, "description": "the stream's reject reason for an event; a request-level reason with stage request"},
				"stage":   obj{"type": "string", "enum": stages},
				"field":   obj{"type": []string{"string", "null"}, "description": "the input, feature or model column at fault (dotted path); null when not one field"},
				"message": obj{"type": "string"},
			},
		}},
	}
}

func containsAny(xs []any, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func tensorMetaSchema() obj {
	return obj{"type": "object", "required": []string{"name", "datatype", "shape"}, "properties": obj{
		"name": obj{"type": "string"}, "datatype": obj{"type": "string"},
		"shape": obj{"type": "array", "items": obj{"type": "integer"}}}}
}

func modelMetadataSchema() obj {
	return obj{"type": "object", "required": []string{"name", "platform", "inputs", "outputs"}, "properties": obj{
		"name": obj{"type": "string"}, "versions": obj{"type": "array", "items": obj{"type": "string"}},
		"platform": obj{"type": "string"},
		"inputs":   obj{"type": "array", "items": tensorMetaSchema()},
		"outputs":  obj{"type": "array", "items": tensorMetaSchema()}}}
}

func inferenceRequestSchema() obj {
	dts := strings.Fields("BOOL INT8 INT16 INT32 INT64 UINT8 UINT16 UINT32 UINT64 FP32 FP64 BYTES")
	tensor := obj{"type": "object", "required": []string{"name", "shape", "datatype"}, "properties": obj{
		"name":       obj{"type": "string", "description": "a bundle input"},
		"shape":      obj{"type": "array", "items": obj{"type": "integer"}, "description": "[n] or [n, 1]"},
		"datatype":   obj{"type": "string", "enum": dts},
		"parameters": obj{"type": "object"},
		"data":       obj{"type": "array", "description": "n values, flat or nested, row-major; null is a missing value"},
	}}
	return obj{"type": "object", "required": []string{"inputs"}, "properties": obj{
		"id": obj{"type": "string"}, "parameters": obj{"type": "object"},
		"inputs":  obj{"type": "array", "items": tensor},
		"outputs": obj{"type": "array", "items": obj{"type": "object", "required": []string{"name"}, "properties": obj{"name": obj{"type": "string"}, "parameters": obj{"type": "object"}}}},
	}}
}

func inferenceResponseSchema() obj {
	out := tensorMetaSchema()
	out["properties"].(obj)["data"] = obj{"type": "array"}
	out["properties"].(obj)["parameters"] = obj{"type": "object"}
	return obj{"type": "object", "required": []string{"model_name", "outputs"}, "properties": obj{
		"model_name": obj{"type": "string"}, "model_version": obj{"type": "string"}, "id": obj{"type": "string"},
		"outputs": obj{"type": "array", "items": out}}}
}

// serveOpenAPI is GET /openapi.json.
func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	md := s.model.Load()
	if md == nil {
		w.Header().Set("Retry-After", retryAfterDraining)
		writeError(w, http.StatusServiceUnavailable, ReasonUnavailable, "no model loaded yet")
		return
	}
	writeJSON(w, http.StatusOK, md.openapi)
}
