package processor

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/reject"
)

// Header names written by the processor. Downstream services and DLQ
// tooling read them; docs/operations.md lists them.
const (
	HeaderModel        = "streamscore-model"
	HeaderShadowOf     = "streamscore-shadow-of" // on shadow predictions: the version whose prediction went to the output
	HeaderDLQReason    = "streamscore-dlq-reason"
	HeaderDLQStage     = "streamscore-dlq-stage"
	HeaderDLQError     = "streamscore-dlq-error"
	HeaderDLQTopic     = "streamscore-dlq-source-topic"
	HeaderDLQPartition = "streamscore-dlq-source-partition"
	HeaderDLQOffset    = "streamscore-dlq-source-offset"
	HeaderDLQModel     = "streamscore-dlq-model"
	HeaderDLQTime      = "streamscore-dlq-time"
)

// stageProduceAck labels the stage duration from handing a batch to the
// producer until the broker acknowledged its last output (at-least-once),
// or until its transaction ended (exactly-once: flush and commit of the
// whole poll). The record stages (decode, features, encode) are reject.Stage
// values.
const stageProduceAck = "produce_ack"

// copiedHeaders are passed from the input record to its prediction so a
// trace continues downstream.
var copiedHeaders = map[string]bool{"traceparent": true, "tracestate": true, "b3": true, "uber-trace-id": true}

// dlqRecord keeps the original key, value and headers unchanged and adds the
// reason headers.
func dlqRecord(topic, model string, src *kgo.Record, stage reject.Stage, reason reject.Reason, errText string, now time.Time) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(src.Headers)+8)
	h = append(h, src.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(errText)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		kgo.RecordHeader{Key: HeaderDLQModel, Value: []byte(model)},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: now.UTC().AppendFormat(nil, time.RFC3339Nano)},
	)
	return &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: h, Timestamp: src.Timestamp}
}
