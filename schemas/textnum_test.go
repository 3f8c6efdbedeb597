package schemas

import (
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	good := []string{
		"2024-01-02T03:04:05Z", "2024-02-29T23:59:59.999999999Z", "1970-01-01T00:00:00Z",
		"1969-12-31T23:59:59.9995Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59",
		"2026-03-14T09:26:53.589-07:30", "2000-02-29T12:00:00.1+00:00",
	}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("time.Parse(%s): %v", s, err)
		}
		got, ok := parseRFC3339([]byte(s))
		if !ok || got != float64(want.UnixMilli()) {
			t.Errorf("parseRFC3339(%s) = %v, %v; want %d", s, got, ok, want.UnixMilli())
		}
	}
	bad := []string{"", "2024-01-02", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05", "2023-02-29T00:00:00Z",
		"2024-13-01T00:00:00Z", "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
		"2024-01-01T00:00:60Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+2400", "2024-01-01T00:00:00+24:00",
		"2024-01-01t00:00:00Z", "2024-01-01T00:00:00z", "2024-01-01T00:00:00ZZ", "+024-01-01T00:00:00Z"}
	for _, s := range bad {
		if v, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("parseRFC3339(%q) = %v, want rejection", s, v)
		}
	}
}

func TestParseNumberLiteral(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "123456789012345", "1234567890123456789", "0.1", "-2.5",
		"3.141592653589793", "1e3", "1E-3", "5e-324", "1.7976931348623157e308", "0.000000000000000000000001",
		"123.456e2", "9007199254740993", "1e400"} {
		want, _ := strconv.ParseFloat(s, 64)
		if got := parseNumberLiteral([]byte(s)); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("parseNumberLiteral(%s) = %v, want %v", s, got, want)
		}
		if _, _, got, ok := scanNumberValue([]byte(s), 0); !ok || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("scanNumberValue(%s) = %v, want %v", s, got, want)
		}
	}
}

// FuzzParseRFC3339 checks the hand-written RFC 3339 parser against the
// standard library: whatever it accepts, time.Parse accepts with the same
// instant; whatever time.Parse accepts, it accepts too, except for the
// shapes Go also allows and RFC 3339 does not (one-digit hours, a comma
// before the fraction).
var strictRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "1969-12-31T23:59:59.9995-01:30", "2024-02-29T00:00:00.000+14:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok {
			if err != nil {
				t.Fatalf("parseRFC3339(%q) = %v, time.Parse says %v", s, got, err)
			}
			if got != float64(want.UnixMilli()) {
				t.Fatalf("parseRFC3339(%q) = %v, want %d", s, got, want.UnixMilli())
			}
		} else if err == nil && strictRFC3339.MatchString(s) {
			t.Fatalf("parseRFC3339(%q) rejected what time.Parse accepts (%v)", s, want)
		}
	})
}

// FuzzParseNumber checks the JSON number scanner and the fast float path
// against strconv.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "1e10", "123456789012345678", "0.1234567890123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		end, _, ok := scanNumber([]byte(s), 0)
		if !ok || end != len(s) {
			return
		}
		want, _ := strconv.ParseFloat(s, 64)
		if got := parseNumberLiteral([]byte(s)); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseNumberLiteral(%q) = %v, want %v", s, got, want)
		}
		vend, visInt, v, vok := scanNumberValue([]byte(s), 0)
		_, isInt, _ := scanNumber([]byte(s), 0)
		if !vok || vend != end || visInt != isInt || math.Float64bits(v) != math.Float64bits(want) {
			t.Fatalf("scanNumberValue(%q) = %d %v %v %v, want %d %v %v", s, vend, visInt, v, vok, end, isInt, want)
		}
	})
}
