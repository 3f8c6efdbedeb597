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
	// HeaderDLQOmitted is on a DLQ record that left out parts of the
	// original so that it fits the DLQ topic's size limit (fitDLQ): "value",
	// "value,headers" or "value,headers,key".
	HeaderDLQOmitted = "streamscore-dlq-omitted"
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

// recordBatchBound is an upper bound of the bytes a batch holding only r
// takes, as the producer counts them against the topic's batch limit: the
// batch header and every field of the record at its widest varint.
func recordBatchBound(r *kgo.Record) int {
	n := 61 + 5 + 1 + 10 + 5 + 5 + len(r.Key) + 5 + len(r.Value) + 5
	for _, h := range r.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// fitDLQ returns rec, a DLQ copy from dlqRecord with the reason headers
// last, or, when it would not fit limit (the DLQ topic's batch limit; 0:
// unknown), a copy that leaves out the original's value, then its headers,
// then its key, until it does, naming what it left out in
// HeaderDLQOmitted. Without it the producer refuses the copy and the
// service stops on that record at every restart. The original stays in
// the input topic (the source headers say where) until its retention.
func fitDLQ(rec *kgo.Record, limit int32, srcHeaders int) (*kgo.Record, string) {
	if limit <= 0 || recordBatchBound(rec) <= int(limit) {
		return rec, ""
	}
	out := *rec
	own := rec.Headers[srcHeaders:]
	out.Value = nil
	omitted := "value"
	out.Headers = append(append(make([]kgo.RecordHeader, 0, len(rec.Headers)+1), rec.Headers...), kgo.RecordHeader{Key: HeaderDLQOmitted})
	if recordBatchBound(&out) > int(limit) {
		omitted = "value,headers"
		out.Headers = append(append(make([]kgo.RecordHeader, 0, len(own)+1), own...), kgo.RecordHeader{Key: HeaderDLQOmitted})
	}
	if recordBatchBound(&out) > int(limit) {
		omitted = "value,headers,key"
		out.Key = nil
	}
	out.Headers[len(out.Headers)-1].Value = []byte(omitted)
	return &out, omitted
}

// dataRecords is recs without its control records (the commit and abort
// markers of a transactional producer), compacted in place: the client keeps
// them (kgo.KeepControlRecords) because a marker takes an offset, and the
// offset past it must be committed like a record's, or an idle partition
// written by a transactional producer keeps a lag of 1. A marker is no
// event: nothing scores it, counts it or dead-letters it.
func dataRecords(recs []*kgo.Record) []*kgo.Record {
	n := 0
	for _, r := range recs {
		if !r.Attrs.IsControl() {
			recs[n] = r
			n++
		}
	}
	return recs[:n]
}

// countData counts the records of recs that are not control records.
func countData(recs []*kgo.Record) int {
	n := len(recs)
	for _, r := range recs {
		if r.Attrs.IsControl() {
			n--
		}
	}
	return n
}
