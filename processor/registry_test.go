package processor_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/schemas/srtest"
)

// TestRegistryOutageIsNotPoison: records whose writer schema cannot be
// fetched because the registry fails are retried, not dead-lettered. The
// registry here is the in-process srtest server (no Confluent-compatible
// registry can be installed on this machine); it fails its first requests.
func TestRegistryOutageIsNotPoison(t *testing.T) {
	e := newEnv(t, 2)
	srv := srtest.New(t)
	text, err := schemas.EmbeddedSchema("fraud_transaction")
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.Register(e.in+"-value", text, "AVRO")
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		native := map[string]any{
			"transaction_id": fmt.Sprintf("avro-%d", i), "card_id": "card-1", "amount": 10.0 + float64(i),
			"avg_amount_30d": goavro.Union("double", 25.0), "merchant_category": goavro.Union("string", "grocery"),
			"country": goavro.Union("string", "US"), "card_present": goavro.Union("boolean", true),
			"distance_from_home_km": goavro.Union("double", 3.0), "txn_count_24h": goavro.Union("double", 2.0),
			"timestamp": "2026-11-21T10:00:00Z",
		}
		v := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(v[1:], uint32(id))
		if v, err = codec.BinaryFromNative(v, native); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte("card-1"), Value: v, Timestamp: time.Now()})
	}
	kafkatest.ProduceRecords(t, e.brokers, recs)

	reg, err := schemas.NewRegistry(schemas.RegistryConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(3) // the first schema fetches answer 500
	in := schemas.InputConfig{Format: "confluent", MaxRecordBytes: 1 << 20, EventIDField: "transaction_id"}
	pipe := e.pipelineWith(func() (schemas.Decoder, error) { return schemas.NewDecoder(in, e.bundle.Layout(), reg) })
	cfg := e.config(processor.AtLeastOnce, kafkatest.UniqueName(t, "g"))
	p, err := processor.New(context.Background(), cfg, processor.KafkaConfig{Brokers: e.brokers[0]}, pipe, e.metrics, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	outs := kafkatest.ConsumeN(t, e.brokers, e.out, n)
	if len(outs) < n {
		t.Fatalf("predictions = %d, want %d", len(outs), n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil
	if got := p.Stats().DLQ; got != 0 {
		t.Errorf("DLQ records = %d, want 0: a registry outage is not the record's fault", got)
	}
	if got := srv.Failed(); got != 3 {
		t.Errorf("registry failures served = %d, want 3 (the outage must have been hit)", got)
	}
	if got := testutil.ToFloat64(e.metrics.DecodeRetries); got < 1 || got > 3 {
		t.Errorf("decode_retries_total = %v, want 1 to 3 (one per failed fetch the records waited on)", got)
	}
}
