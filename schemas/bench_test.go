package schemas

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"io"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// fraudStruct is the baseline target for encoding/json.
type fraudStruct struct {
	TransactionID      string   `json:"transaction_id"`
	CardID             string   `json:"card_id"`
	Amount             float64  `json:"amount"`
	AvgAmount30d       *float64 `json:"avg_amount_30d"`
	MerchantCategory   *string  `json:"merchant_category"`
	Country            *string  `json:"country"`
	CardPresent        *bool    `json:"card_present"`
	DistanceFromHomeKm *float64 `json:"distance_from_home_km"`
	TxnCount24h        *float64 `json:"txn_count_24h"`
	Timestamp          string   `json:"timestamp"`
}

func benchDecoder(b *testing.B, format string, reg *Registry) (Decoder, *features.Row) {
	l := mustLayout(b, fraudInputs())
	d, err := NewDecoder(InputConfig{Format: format, AvroSchema: "fraud_transaction", EventIDField: "transaction_id"}, l, reg)
	if err != nil {
		b.Fatal(err)
	}
	return d, l.NewRow()
}

func runDecode(b *testing.B, d Decoder, row *features.Row, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(in, row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode decodes the fraud event in each format, next to the
// baselines measured in the same run: encoding/json into a struct and into
// a map, and goavro into its native map.
func BenchmarkDecode(b *testing.B) {
	b.Run("json", func(b *testing.B) {
		d, row := benchDecoder(b, FormatJSON, nil)
		runDecode(b, d, row, []byte(fraudJSON))
	})
	b.Run("baseline_encoding_json_struct", func(b *testing.B) {
		in := []byte(fraudJSON)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			var v fraudStruct
			if err := json.Unmarshal(in, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_encoding_json_map", func(b *testing.B) {
		in := []byte(fraudJSON)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(in, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("csv", func(b *testing.B) {
		d, l := newFraudCSVDecoder(b)
		runDecode(b, d, l.NewRow(), []byte(fraudCSV))
	})
	b.Run("avro", func(b *testing.B) {
		d, row := benchDecoder(b, FormatAvro, nil)
		runDecode(b, d, row, fraudAvro(b))
	})
	b.Run("baseline_goavro_native", func(b *testing.B) {
		c, err := EmbeddedCodec("fraud_transaction")
		if err != nil {
			b.Fatal(err)
		}
		in := fraudAvro(b)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.NativeFromBinary(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("confluent", func(b *testing.B) {
		srv, reg := newTestRegistry(b)
		text, _ := EmbeddedSchema("fraud_transaction")
		id, err := srv.Register("fraud-value", text, "")
		if err != nil {
			b.Fatal(err)
		}
		d, row := benchDecoder(b, FormatConfluent, reg)
		in := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
		in = append(in, fraudAvro(b)...)
		runDecode(b, d, row, in)
	})
}

// BenchmarkEncode encodes one prediction (two classes, six echoed features)
// in each format, next to goavro encoding the same record and
// encoding/json marshalling an equivalent struct.
func BenchmarkEncode(b *testing.B) {
	p := samplePrediction()
	run := func(b *testing.B, e Encoder) {
		buf, err := e.Append(nil, p)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = e.Append(buf[:0], p); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, format := range []string{FormatJSON, FormatAvro} {
		b.Run(format, func(b *testing.B) {
			e, err := NewEncoder(context.Background(), OutputConfig{Format: format, EchoFeatures: true}, nil)
			if err != nil {
				b.Fatal(err)
			}
			run(b, e)
		})
	}
	b.Run("confluent", func(b *testing.B) {
		_, reg := newTestRegistry(b)
		e, err := NewEncoder(context.Background(), OutputConfig{Format: FormatConfluent, Topic: "predictions", EchoFeatures: true}, reg)
		if err != nil {
			b.Fatal(err)
		}
		run(b, e)
	})
	b.Run("baseline_goavro", func(b *testing.B) {
		c, err := EmbeddedCodec(PredictionSchemaName)
		if err != nil {
			b.Fatal(err)
		}
		buf, err := c.BinaryFromNative(nil, predictionNative(p, true))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			// Building the native map is part of the cost of using goavro.
			if buf, err = c.BinaryFromNative(buf[:0], predictionNative(p, true)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_encoding_json_struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			key, id, et := string(p.Key), string(p.EventID), p.EventTime.UnixMilli()
			v := PredictionRecord{Key: &key, EventID: &id, EventTime: &et, ScoredTime: p.ScoredTime.UnixMilli(), Model: p.Model,
				ModelVersion: p.ModelVersion, Score: p.Score, Label: &p.Label}
			for i, c := range p.Classes {
				v.Probabilities = append(v.Probabilities, ClassProbability{c, p.Probs[i]})
			}
			var fs []FeatureValue
			for i, n := range p.FeatureNames {
				f := FeatureValue{Name: n}
				if finite(p.Features[i]) {
					f.Value = &p.Features[i]
				}
				fs = append(fs, f)
			}
			v.Features = &fs
			if _, err := json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// endlessCSV is a CSV file of the header and then record, repeated forever.
type endlessCSV struct {
	header, record []byte
	off            int
}

func (e *endlessCSV) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(e.header) > 0 {
			c := copy(p[n:], e.header)
			e.header = e.header[c:]
			n += c
			continue
		}
		c := copy(p[n:], e.record[e.off:])
		e.off = (e.off + c) % len(e.record)
		n += c
	}
	return n, nil
}

// BenchmarkCSVFile reads and decodes the fraud event from a CSV file, one
// record per op: CSVReader.Next and CSVDecoder.Decode, next to encoding/csv
// splitting the same record into strings (no typed values).
func BenchmarkCSVFile(b *testing.B) {
	file := func() io.Reader {
		return &endlessCSV{header: []byte(fraudCSVHeader + "\n"), record: []byte(fraudCSV + "\r\n")}
	}
	b.Run("reader_and_decoder", func(b *testing.B) {
		d, l := newFraudCSVDecoder(b)
		row := l.NewRow()
		r, err := NewCSVReader(file(), InputConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(fraudCSV) + 2))
		b.ReportAllocs()
		for b.Loop() {
			rec, _, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.Decode(rec, row); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_encoding_csv", func(b *testing.B) {
		r := csv.NewReader(file())
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(fraudCSV) + 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Read(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
