package schemas

import (
	"errors"
	"strings"
	"testing"

	"slices"

	"github.com/streamscore/streamscore/features"
)

// typesHeader is a header for typesInputs: every input by name, the nested
// one by its path.
const typesHeader = "n,c,b,ts,card.country,req"

func TestCSVDecode(t *testing.T) {
	const allMissing = "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\n"
	row := func(n, c, b, ts, country, req string) string {
		return "n=" + n + "\nc=" + c + "\nb=" + b + "\nts=" + ts + "\ncountry=" + country + "\nreq=" + req + "\n"
	}
	tests := []struct {
		name    string
		cfg     InputConfig
		header  string // typesHeader when empty
		in      string
		want    string // rowText when wantErr is "ok"
		wantErr string // describeErr
		wantID  string
		wantKey string
	}{
		{name: "all types", in: `1.5,x,true,2024-01-02T03:04:05Z,DE,0`,
			want: row("1.5", `"x"`, "1", "1704164645000", `"DE"`, "0"), wantErr: "ok"},
		{name: "columns in any order, unknown columns skipped", header: "zzz,req,card.country,b,other",
			in: `"[1,2]",2,FR,false,9`, want: "n=missing\nc=missing\nb=0\nts=missing\ncountry=\"FR\"\nreq=2\n", wantErr: "ok"},
		{name: "a nested input by name", header: "req,country", in: `1,FR`,
			want: "n=missing\nc=missing\nb=missing\nts=missing\ncountry=\"FR\"\nreq=1\n", wantErr: "ok"},
		{name: "empty cells are missing", in: `,,,,,1`, want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "quoted empty cells are missing", in: `"","","","","",1`, want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "nan is missing for numbers, bools and timestamps", in: `nan,x,NaN,NAN,DE,1`,
			want: row("missing", `"x"`, "missing", "missing", `"DE"`, "1"), wantErr: "ok"},
		{name: "nan is a category's text", in: `1,nan,,,NaN,1`,
			want: row("1", `"nan"`, "missing", "missing", `"NaN"`, "1"), wantErr: "ok"},
		{name: "what pandas writes for floats", in: `1e-05,,,,,-0.0`, want: row("0.00001", "missing", "missing", "missing", "missing", "-0"), wantErr: "ok"},
		{name: "float exponent with sign", in: `1.5e+20,,,,,12345678901234567890`,
			want: row("150000000000000000000", "missing", "missing", "missing", "missing", "12345678901234567000"), wantErr: "ok"},
		{name: "quoted number", in: `"2.5",,,,,"3"`, want: row("2.5", "missing", "missing", "missing", "missing", "3"), wantErr: "ok"},
		{name: "pandas bools", in: `,,True,,,1`, want: row("missing", "missing", "1", "missing", "missing", "1"), wantErr: "ok"},
		{name: "pandas false", in: `,,False,,,1`, want: row("missing", "missing", "0", "missing", "missing", "1"), wantErr: "ok"},
		{name: "upper case bools", in: `,,TRUE,,,1`, want: row("missing", "missing", "1", "missing", "missing", "1"), wantErr: "ok"},
		{name: "lower case false", in: `,,false,,,1`, want: row("missing", "missing", "0", "missing", "missing", "1"), wantErr: "ok"},
		{name: "epoch millis timestamp", in: `,,,1704164645123,,1`, want: row("missing", "missing", "missing", "1704164645123", "missing", "1"), wantErr: "ok"},
		{name: "epoch millis as a float", in: `,,,1.7e12,,1`, want: row("missing", "missing", "missing", "1700000000000", "missing", "1"), wantErr: "ok"},
		{name: "timestamp with offset and fraction", in: `,,,2024-01-02T05:04:05.1239+02:00,,1`,
			want: row("missing", "missing", "missing", "1704164645123", "missing", "1"), wantErr: "ok"},
		{name: "integer category is its text", in: `,5411,,,-0,1`, want: row("missing", `"5411"`, "missing", "missing", `"-0"`, "1"), wantErr: "ok"},
		{name: "any text is a category", in: `,1.5,,,true,1`, want: row("missing", `"1.5"`, "missing", "missing", `"true"`, "1"), wantErr: "ok"},
		{name: "quoted category with commas, quotes, line breaks", in: "1,\"a,\"\"b\"\"\r\nc\",,,\" DE \",1",
			want: row("1", `"a,\"b\"\nc"`, "missing", "missing", `" DE "`, "1"), wantErr: "ok"},
		{name: "UTF-8 as is", in: `,é😀,,,,1`, want: row("missing", `"é😀"`, "missing", "missing", "missing", "1"), wantErr: "ok"},
		{name: "key and event id", cfg: InputConfig{EventIDField: "id", KeyField: "k"}, header: "req,id,k", in: `1,ev-1,card-9`,
			want: "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok", wantID: "ev-1", wantKey: "card-9"},
		{name: "event id", cfg: InputConfig{EventIDField: "id"}, header: "req,id", in: `1,ev-1`,
			want: allMissing + "req=1\n", wantErr: "ok", wantID: "ev-1"},
		{name: "empty event id is absent", cfg: InputConfig{EventIDField: "id"}, header: "req,id", in: `1,`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "quoted event id", cfg: InputConfig{EventIDField: "meta.id"}, header: "meta.id,req", in: `"ev ""7""",1`,
			want: allMissing + "req=1\n", wantErr: "ok", wantID: `ev "7"`},
		{name: "event id is also an input", cfg: InputConfig{EventIDField: "c"}, header: "req,c", in: `1,tx-1`,
			want: "n=missing\nc=\"tx-1\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok", wantID: "tx-1"},

		{name: "required empty", in: `1,x,true,,DE,`, wantErr: `missing_field field="req"`},
		{name: "required quoted empty", in: `1,x,true,,DE,""`, wantErr: `missing_field field="req"`},
		{name: "required nan", in: `1,x,true,,DE,nan`, wantErr: `missing_field field="req"`},
		{name: "text for number", in: `abc,,,,,1`, wantErr: `wrong_type field="n"`},
		{name: "number with trailing text", in: `,,,,,12abc`, wantErr: `wrong_type field="req"`},
		{name: "number with a plus sign", in: `,,,,,+1`, wantErr: `wrong_type field="req"`},
		{name: "number without a leading digit", in: `,,,,,.5`, wantErr: `wrong_type field="req"`},
		{name: "number with a space", in: `,,,,, 1`, wantErr: `wrong_type field="req"`},
		{name: "number with a thousands separator", in: `,,,,,"1,000"`, wantErr: `wrong_type field="req"`},
		{name: "hex number", in: `,,,,,0x10`, wantErr: `wrong_type field="req"`},
		{name: "bool for number", in: `,,,,,true`, wantErr: `wrong_type field="req"`},
		{name: "1 for bool", in: `,,1,,,1`, wantErr: `wrong_type field="b"`},
		{name: "0 for bool", in: `,,0,,,1`, wantErr: `wrong_type field="b"`},
		{name: "yes for bool", in: `,,yes,,,1`, wantErr: `wrong_type field="b"`},
		{name: "mixed case bool", in: `,,tRUE,,,1`, wantErr: `wrong_type field="b"`},
		{name: "bad timestamp text", in: `,,,2024-13-01T00:00:00Z,,1`, wantErr: `wrong_type field="ts"`},
		{name: "pandas default datetime is not RFC 3339", in: `,,,2024-01-02 03:04:05,,1`, wantErr: `wrong_type field="ts"`},
		{name: "bool for timestamp", in: `,,,true,,1`, wantErr: `wrong_type field="ts"`},
		{name: "inf", in: `inf,,,,,1`, wantErr: `not_finite field="n"`},
		{name: "-inf", in: `,,,,,-inf`, wantErr: `not_finite field="req"`},
		{name: "Infinity", in: `,,,,,Infinity`, wantErr: `not_finite field="req"`},
		{name: "signed nan", in: `,,,,,-nan`, wantErr: `not_finite field="req"`},
		{name: "overflow", in: `,,,,,1e999`, wantErr: `not_finite field="req"`},
		{name: "timestamp overflow", in: `,,,-1e999,,1`, wantErr: `not_finite field="ts"`},
		{name: "first bad cell in column order", in: `abc,,1,,,1`, wantErr: `wrong_type field="n"`},

		{name: "more fields than the header", in: `1,x,true,,DE,1,extra`, wantErr: `malformed field=""`},
		{name: "fewer fields than the header", in: `1,x`, wantErr: `malformed field=""`},
		{name: "malformed before wrong_type", in: `abc,x,true,,DE,1,extra`, wantErr: `malformed field=""`},
		{name: "bare quote", in: `1,x"y,true,,DE,1`, wantErr: `malformed field=""`},
		{name: "quote after leading space", in: `1, "x",true,,DE,1`, wantErr: `malformed field=""`},
		{name: "text after the closing quote", in: `1,"x"y,true,,DE,1`, wantErr: `malformed field=""`},
		{name: "unclosed quote", in: `1,"x,true,,DE,1`, wantErr: `malformed field=""`},
		{name: "line break outside quotes", in: "1,x\ny,true,,DE,1", wantErr: `malformed field=""`},
		{name: "trailing line break", in: "1,x,true,,DE,1\n", wantErr: `malformed field=""`},
		{name: "empty record", in: ``, wantErr: `malformed field=""`},
		{name: "too large", cfg: InputConfig{MaxRecordBytes: 8}, in: `1,x,true,,DE,1`, wantErr: `too_large field=""`},
		{name: "at the limit", cfg: InputConfig{MaxRecordBytes: 6}, in: `,,,,,1`, want: allMissing + "req=1\n", wantErr: "ok"},
	}
	l := mustLayout(t, typesInputs())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == "" {
				header = typesHeader
			}
			d, err := NewCSVDecoder(tc.cfg, l, strings.Split(header, ","))
			if err != nil {
				t.Fatalf("NewCSVDecoder: %v", err)
			}
			checkDecode(t, l, d, []byte(tc.in), decoded{tc.wantErr, tc.want, tc.wantID, tc.wantKey})
		})
	}
}

func TestCSVDecodeMessages(t *testing.T) {
	l := mustLayout(t, typesInputs())
	d, err := NewCSVDecoder(InputConfig{}, l, strings.Split(typesHeader, ","))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{`abc,,,,,1`, "wrong_type: field n: a cell that is not a number"},
		{`,,1,,,1`, "wrong_type: field b: a cell that is not true or false where a bool is expected"},
		{`,,,,,1e999`, "not_finite: field req: number is NaN, infinite or out of float64 range"},
		{`,,,,,`, "missing_field: field req: required input is absent or null"},
		{`1,2`, "malformed: record has 2 fields, the header 6"},
		{`1,2,3,4,5,6,7`, "malformed: more fields than the header's 6"},
		{`1,x"y,,,,1`, "malformed: field 2: a quote inside an unquoted field"},
		{`1,"x"y,,,,1`, `malformed: field 2: 'y' after the closing quote`},
		{`1,"x`, "malformed: field 2: quoted field not closed"},
	}
	for _, tc := range tests {
		_, err := d.Decode([]byte(tc.in), l.NewRow())
		if err == nil || err.Error() != tc.want {
			t.Errorf("Decode(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestNewCSVDecoderHeader(t *testing.T) {
	l := mustLayout(t, typesInputs())
	tests := []struct {
		name    string
		cfg     InputConfig
		header  []string
		wantErr string // in the error, which wraps ErrCSVHeader; empty: no error
		unknown []string
		missing []string
	}{
		{name: "every input", header: strings.Split(typesHeader, ",")},
		{name: "unknown columns and missing inputs", cfg: InputConfig{EventIDField: "id"},
			header: []string{"id", "req", "zzz", "n", "", "sepal_widht"}, unknown: []string{"zzz", "", "sepal_widht"},
			missing: []string{"c", "b", "ts", "country"}},
		{name: "an event id column that is not in the header is not reported", cfg: InputConfig{EventIDField: "id"},
			header: []string{"req"}, missing: []string{"n", "c", "b", "ts", "country"}},
		{name: "duplicate column", header: []string{"req", "n", "x", "n"}, wantErr: `column "n" appears twice`},
		{name: "duplicate unused column", header: []string{"req", "x", "x"}, wantErr: `column "x" appears twice`},
		{name: "name and path of one input", header: []string{"req", "country", "card.country"},
			wantErr: `columns "country" and "card.country" both feed input "country"`},
		{name: "no input", header: []string{"sepal_length", "x"},
			wantErr: `csv header ("sepal_length", "x") names none of the bundle's inputs ("n", "c", "b", "ts", "country", "req")`},
		{name: "only the event id", cfg: InputConfig{EventIDField: "req_id"}, header: []string{"req_id"},
			wantErr: "names none of the bundle's inputs"},
		{name: "empty header", header: nil, wantErr: "names none of the bundle's inputs"},
		{name: "required input without a column", header: []string{"n", "c"}, wantErr: `no column for required input "req"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewCSVDecoder(tc.cfg, l, tc.header)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrCSVHeader) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewCSVDecoder(%q) error = %v, want one wrapping ErrCSVHeader containing %q", tc.header, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewCSVDecoder(%q): %v", tc.header, err)
			}
			if got := d.UnknownColumns(); !slices.Equal(got, tc.unknown) {
				t.Errorf("UnknownColumns = %q, want %q", got, tc.unknown)
			}
			if got := d.MissingInputs(); !slices.Equal(got, tc.missing) {
				t.Errorf("MissingInputs = %q, want %q", got, tc.missing)
			}
		})
	}
	if _, err := NewCSVDecoder(InputConfig{}, nil, []string{"a"}); err == nil {
		t.Error("NewCSVDecoder with a nil layout: no error")
	}
	if _, err := NewCSVDecoder(InputConfig{MaxRecordBytes: -1}, l, []string{"req"}); !errors.Is(err, ErrNegativeLimit) {
		t.Errorf("negative limit: error = %v, want ErrNegativeLimit", err)
	}
}

// TestCSVDecodeBatchKeepsRows checks that rows decoded earlier keep their
// bytes while later records are decoded, for cells that alias the record
// and for quoted cells the decoder unquoted.
func TestCSVDecodeBatchKeepsRows(t *testing.T) {
	l := mustLayout(t, typesInputs())
	d, err := NewCSVDecoder(InputConfig{EventIDField: "id"}, l, []string{"req", "c", "id"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000 // enough quoted text to fill several arena chunks
	rows := make([]*features.Row, n)
	ids := make([][]byte, n)
	long := strings.Repeat(`""`, 40)
	for i := range rows {
		rows[i] = l.NewRow()
		in := []byte(`1,"` + long + itoa(i) + `",id` + itoa(i))
		m, err := d.Decode(in, rows[i])
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = m.EventID
	}
	wantLong := strings.Repeat(`"`, 40)
	for i := range rows {
		if got, want := string(rows[i].Cat[0]), wantLong+itoa(i); got != want {
			t.Fatalf("row %d category = %q, want %q", i, got, want)
		}
		if got, want := string(ids[i]), "id"+itoa(i); got != want {
			t.Fatalf("row %d event id = %q, want %q", i, got, want)
		}
	}
}

// fraudCSVHeader and fraudCSV are fraudJSON as a CSV file would carry it.
const (
	fraudCSVHeader = "transaction_id,card_id,amount,avg_amount_30d,merchant_category,country,card_present," +
		"distance_from_home_km,txn_count_24h,timestamp"
	fraudCSV = `tx-000123,card-42,120.5,48.25,electronics,DE,false,523.7,7,2026-03-14T09:26:53.589Z`
)

func newFraudCSVDecoder(t testing.TB) (*CSVDecoder, *features.Layout) {
	t.Helper()
	l := mustLayout(t, fraudInputs())
	d, err := NewCSVDecoder(InputConfig{EventIDField: "transaction_id"}, l, strings.Split(fraudCSVHeader, ","))
	if err != nil {
		t.Fatal(err)
	}
	return d, l
}

func TestCSVDecodeZeroAllocs(t *testing.T) {
	d, l := newFraudCSVDecoder(t)
	row := l.NewRow()
	for _, in := range []string{fraudCSV,
		`"tx-000123","card-42","120.5",,"electronics","DE","False",523.7,7,"2026-03-14T09:26:53.589Z"`} {
		b := []byte(in)
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := d.Decode(b, row); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("CSV decode of %q: %v allocs per record, want 0", in, allocs)
		}
	}
}
