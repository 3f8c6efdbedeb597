// Package interop checks streamscore against third-party Kafka clients: the
// events are written and the predictions read by kcat (librdkafka's command
// line tool) and by Python (confluent-kafka + fastavro), never by franz-go,
// so the wire formats are checked by independent implementations.
//
//   - kcat_test.go: JSON events from kcat, scored and read back by kcat against
//     XGBoost's own reference scores (examples/fraud/reference.jsonl); DLQ
//     records read by kcat with their headers.
//   - avro_test.go: Confluent-Avro events from Python (confluent-kafka's
//     SchemaRegistryClient and AvroSerializer) through a real schema registry
//     (Apicurio Registry, deploy/registry), a second schema version registered
//     mid-stream, predictions in Confluent Avro read back by Python
//     (AvroDeserializer) and by kcat.
//   - http_test.go: `streamscore serve` against tritonclient's HTTP client (Open
//     Inference Protocol v2: health, metadata, binary and JSON tensors, errors)
//     on the fraud reference rows, and openapi-spec-validator on /openapi.json.
//
// Every test runs the built binary (`streamscore run --config FILE`) as a
// subprocess: STREAMSCORE_TEST_BIN when set (`make test` builds it), otherwise a
// `go build` into a temporary directory once per run.
//
// Kafka is the real broker named by STREAMSCORE_TEST_BROKERS (`make test`
// starts it with `make kafka-up`). Without it the tests use an in-process kfake
// cluster (internal/kafkatest), which kcat and confluent-kafka talk to as well
// for everything used here (produce, fetch, read_committed, headers). The schema
// registry is the one named by STREAMSCORE_TEST_REGISTRY_URL (`make test` starts
// it with `make registry-up`); against a real broker without it, avro_test.go
// fails, saying how to start it, and with kfake (`make test-unit`) the
// in-process schemas/srtest registry stands in. The tools are required: a missing kcat fails the test (scripts/install-deps.sh installs
// it); the Python venv is made by train/venv.sh when it is missing (about 1.5
// minutes the first time). Nothing is skipped.
package interop

import (
	"testing"

	"github.com/streamscore/streamscore/internal/proctest"
)

// bin is the streamscore binary under test, repoRoot the module root (go.mod).
var bin, repoRoot string

func TestMain(m *testing.M) { proctest.Main(m, &repoRoot, &bin) }
