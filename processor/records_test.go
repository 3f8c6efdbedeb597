package processor

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/reject"
)

// TestFitDLQ: a DLQ copy over the DLQ topic's limit leaves out the
// original's value, then its headers, then its key, and says so; the
// reason headers always stay.
func TestFitDLQ(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 5000)
	for _, tc := range []struct {
		name        string
		key, value  []byte
		headers     []kgo.RecordHeader
		limit       int32
		wantOmitted string
	}{
		{"fits", []byte("k"), big, nil, 8000, ""},
		{"unknown limit", []byte("k"), big, nil, 0, ""},
		{"value too large", []byte("k"), big, []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}, 4000, "value"},
		{"headers too large", []byte("k"), big, []kgo.RecordHeader{{Key: "h", Value: big}}, 4000, "value,headers"},
		{"key too large", big, big, []kgo.RecordHeader{{Key: "h", Value: big}}, 4000, "value,headers,key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &kgo.Record{Topic: "in", Key: tc.key, Value: tc.value, Headers: tc.headers, Offset: 7}
			rec, omitted := fitDLQ(dlqRecord("dlq", "m@1", src, reject.StageDecode, reject.Malformed, "malformed: x", time.Now()), tc.limit, len(tc.headers))
			if omitted != tc.wantOmitted {
				t.Fatalf("omitted %q, want %q", omitted, tc.wantOmitted)
			}
			if tc.limit > 0 && recordBatchBound(rec) > int(tc.limit) {
				t.Errorf("copy of %d bytes (bound) over the limit %d", recordBatchBound(rec), tc.limit)
			}
			h := map[string]string{}
			for _, hd := range rec.Headers {
				h[hd.Key] = string(hd.Value)
			}
			if h[HeaderDLQReason] != "malformed" || h[HeaderDLQOffset] != "7" || h[HeaderDLQOmitted] != tc.wantOmitted {
				t.Errorf("headers %v: want the reason, the source offset and omitted=%q", h, tc.wantOmitted)
			}
			if tc.wantOmitted == "" && !bytes.Equal(rec.Value, tc.value) {
				t.Errorf("value changed although the copy fits")
			}
		})
	}
}
