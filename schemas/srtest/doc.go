// Package srtest is an in-process fake of the Confluent Schema Registry,
// for the unit tests that need what a real registry cannot be made to do on
// demand: fail the next requests (FailNext), count the requests it served
// (Requests), demand credentials, speak only TLS, or be gone. The tests of
// interoperability with third-party clients (test/interop) use a real
// registry instead: Apicurio Registry's Confluent-compatible API, built from
// its Maven Central jars and started by deploy/registry/registry-up.sh
// (Confluent's own registry and Karapace cannot be installed here); only the
// unit layer (`make test-unit`: kfake, no Java) runs them on srtest. srtest
// implements the documented REST subset that franz-go's pkg/sr client uses
// for streamscore:
//
//	GET  /schemas/ids/{id}                  schema by global id
//	GET  /schemas/ids/{id}/versions         subject/version pairs using an id
//	GET  /subjects                          subject names
//	GET  /subjects/{subject}/versions       version numbers
//	GET  /subjects/{subject}/versions/{v}   one version, or "latest"
//	POST /subjects/{subject}/versions       register (same schema, same id)
//	POST /subjects/{subject}                look up a schema under a subject
//
// Avro schemas are validated with goavro and compared in Parsing Canonical
// Form, so the same schema text gets the same id under every subject, as
// the real registry does. Compatibility rules, modes, contexts, deletes and
// references are not implemented. Errors use the registry's JSON shape and
// codes (40401 subject, 40402 version, 40403 schema not found, 42201 invalid
// schema). The server listens on 127.0.0.1 only.
//
// Like a production registry it can demand credentials (RequireBasicAuth,
// RequireBearerToken: 401 otherwise) and speak only TLS, with a client
// certificate required when given client CAs (StartTLS, NewTLS).
//
// A Server is safe for concurrent use.
//
// Lifecycle: New(tb) starts a server for one test and closes it in
// tb.Cleanup; Start and Close do the same by hand.
package srtest
