package scoring

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// ReferenceSpec is the manifest's optional "reference" object: how many
// rows reference.jsonl had and its SHA-256 when the exporter wrote it. A
// copy cut short at a line boundary still reads as good rows, and a check
// on fewer rows passes; with the spec, Load refuses it.
type ReferenceSpec struct {
	Rows   int    `json:"rows"`
	SHA256 string `json:"sha256"` // lowercase hex of the file's bytes
}

// referenceKeys are the "reference" object's keys, all required;
// bundle.schema.json must agree (tested).
var referenceKeys = []string{"rows", "sha256"}

// DescribeReference gives the spec of reference.jsonl's bytes: its rows
// counted as ReadReference counts them (lines that are not blank) and the
// SHA-256 of the bytes, as the exporter records them.
func DescribeReference(data []byte) ReferenceSpec {
	rows := 0
	for line := range bytes.Lines(data) {
		if len(bytes.TrimSpace(line)) > 0 {
			rows++
		}
	}
	sum := sha256.Sum256(data)
	return ReferenceSpec{Rows: rows, SHA256: hex.EncodeToString(sum[:])}
}

// check compares reference.jsonl in dir with the spec. A bundle without
// the file passes: it may ship without its reference rows (the built-in
// one does), and what has none checks none (ReadReference says so).
func (s *ReferenceSpec) check(dir string) error {
	data, err := readLimited(dir, ReferenceFile, MaxReferenceBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	got := DescribeReference(data)
	switch {
	case got.Rows != s.Rows:
		return fmt.Errorf("%s has %d rows where bundle.json records %d (sha256 %s): a copy cut short? Copy the bundle again",
			ReferenceFile, got.Rows, s.Rows, s.SHA256)
	case got.SHA256 != s.SHA256:
		return fmt.Errorf("%s has the %d rows bundle.json records, but its sha256 is %s where bundle.json records %s: the file changed after export",
			ReferenceFile, got.Rows, got.SHA256, s.SHA256)
	}
	return nil
}

// parseReferenceSpec decodes the manifest's "reference" object.
func parseReferenceSpec(raw json.RawMessage) (*ReferenceSpec, error) {
	if _, err := requiredObject(raw, referenceKeys, referenceKeys, "reference"); err != nil {
		return nil, err
	}
	s := &ReferenceSpec{}
	if err := decodeInto(raw, s); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if s.Rows < 1 {
		return nil, fmt.Errorf("reference: rows %d, want at least 1", s.Rows)
	}
	if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != s.SHA256 {
		return nil, fmt.Errorf("reference: sha256 %q, want 64 lowercase hex digits", s.SHA256)
	}
	return s, nil
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
