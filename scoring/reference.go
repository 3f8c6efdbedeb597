package scoring

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// ReferenceFile holds a bundle's reference rows: events as a producer
// would send them, and what the training library made of each. The
// exporter writes it (train/streamscore_export); parity tests and
// `streamscore validate` score its events through the stream's own path and
// compare.
const ReferenceFile = "reference.jsonl"

// MaxReferenceBytes bounds reference.jsonl.
const MaxReferenceBytes = 256 << 20

// ReferenceRow is one line of reference.jsonl. Exactly one of Scores and
// Reject is set.
type ReferenceRow struct {
	Event    json.RawMessage `json:"event"`    // the event, byte for byte as the exporter wrote it
	Scores   []float64       `json:"scores"`   // classifiers: per-class probabilities; regression: [value]
	Label    *string         `json:"label"`    // the decision policy's label, when the reference has one
	Reject   string          `json:"reject"`   // the reason the bundle rejects the event with
	Features []*float64      `json:"features"` // the model columns (nil entries: missing), when recorded
	Note     string          `json:"note"`     // what the row is for ("amount absent", "unseen category")
	Line     int             `json:"-"`        // 1-based line in the file
}

// ReadReference reads the bundle's reference rows from dir. A bundle
// without the file gives an error that is fs.ErrNotExist for errors.Is.
func ReadReference(dir string) ([]ReferenceRow, error) {
	data, err := readLimited(dir, ReferenceFile, MaxReferenceBytes)
	if err != nil {
		return nil, err
	}
	var rows []ReferenceRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), MaxReferenceBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var r ReferenceRow
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", ReferenceFile, n, jsonError(err, line))
		}
		if (r.Scores == nil) == (r.Reject == "") {
			return nil, fmt.Errorf("%s line %d: want exactly one of scores and reject", ReferenceFile, n)
		}
		if len(r.Event) == 0 {
			return nil, fmt.Errorf("%s line %d: no event", ReferenceFile, n)
		}
		r.Line = n
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", ReferenceFile, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s has no rows", ReferenceFile)
	}
	return rows, nil
}
