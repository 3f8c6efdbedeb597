package schemas

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/streamscore/streamscore/internal/civil"
)

// scanNumber checks a JSON number starting at b[i] and returns the index
// after it and whether it is an integer literal (no fraction, no exponent).
// ok is false when b[i:] does not start with a valid JSON number.
func scanNumber(b []byte, i int) (end int, isInt bool, ok bool) {
	n := len(b)
	if i < n && b[i] == '-' {
		i++
	}
	if i >= n {
		return i, false, false
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false, false
	}
	isInt = true
	if i < n && b[i] == '.' {
		isInt = false
		i++
		start := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false, false
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		if i, ok = scanExponent(b, i); !ok {
			return i, false, false
		}
	}
	return i, isInt, true
}

// scanExponent steps over the exponent at b[i] ('e' or 'E', an optional
// sign, digits) and returns the index after it; ok is false without digits.
func scanExponent(b []byte, i int) (end int, ok bool) {
	i++
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i, i > start
}

// scanNumberValue is scanNumber that also computes the value on the way:
// literals of at most 15 digits with no exponent take the exact fast path of
// parseNumberLiteral; others are handed to strconv.
func scanNumberValue(b []byte, i int) (end int, isInt bool, v float64, ok bool) {
	start := i
	n := len(b)
	neg := false
	if i < n && b[i] == '-' {
		neg = true
		i++
	}
	if i >= n {
		return i, false, 0, false
	}
	var mant uint64
	nd := 0
	switch c := b[i]; {
	case c == '0':
		i++
		nd = 1
	case c >= '1' && c <= '9':
		for i < n && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
			i++
		}
	default:
		return i, false, 0, false
	}
	isInt = true
	frac := 0
	if i < n && b[i] == '.' {
		isInt = false
		i++
		fs := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
			i++
		}
		frac = i - fs
		if frac == 0 {
			return i, false, 0, false
		}
	}
	slow := nd > 15 || frac > 22
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		isInt, slow = false, true
		if i, ok = scanExponent(b, i); !ok {
			return i, false, 0, false
		}
	}
	if slow {
		return i, isInt, parseFloatBytes(b[start:i]), true
	}
	v = float64(mant)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	return i, isInt, v, true
}

// parseFloatBytes parses a validated JSON number literal without allocating.
// Overflow gives ±Inf, which callers report as not_finite.
func parseFloatBytes(b []byte) float64 {
	if len(b) == 0 {
		return math.NaN()
	}
	// The string does not outlive the call: the error (which would keep it)
	// is dropped, and the literal was already validated.
	v, _ := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	return v
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumberLiteral parses a validated JSON number literal. Literals with at
// most 15 significant digits and a small decimal exponent take the exact fast
// path (an integer below 2^53 times or divided by an exact power of ten is
// correctly rounded by one IEEE operation, as in strconv); the rest go to
// strconv.ParseFloat.
func parseNumberLiteral(b []byte) float64 {
	i, neg := 0, false
	if len(b) > 0 && b[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	nd, exp := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		mant = mant*10 + uint64(b[i]-'0')
		nd++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
			exp--
		}
	}
	if i != len(b) || nd > 15 || exp < -22 { // exponent part, too many digits or too small
		return parseFloatBytes(b)
	}
	f := float64(mant)
	if exp < 0 {
		f /= pow10[-exp]
	}
	if neg {
		f = -f
	}
	return f
}

// numericText parses a string that should hold a number (NumericStrings).
// It returns notFinite for NaN/Inf spellings and for overflow, ok=false for
// anything that is not a JSON number literal.
func numericText(s []byte) (v float64, ok, notFinite bool) {
	if isNonFiniteWord(s) {
		return 0, false, true
	}
	end, _, valid := scanNumber(s, 0)
	if !valid || end != len(s) {
		return 0, false, false
	}
	v = parseNumberLiteral(s)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false, true
	}
	return v, true, false
}

// isNonFiniteWord matches NaN, Inf, Infinity with an optional sign, in any case.
func isNonFiniteWord(s []byte) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return equalFoldASCII(s, "nan") || equalFoldASCII(s, "inf") || equalFoldASCII(s, "infinity")
}

func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseRFC3339 parses an RFC 3339 date-time (as Go's time.RFC3339 accepts
// it: "T" and "Z" upper case, an optional fraction after ".") into epoch
// milliseconds, rounding toward negative infinity. It does not allocate.
func parseRFC3339(s []byte) (float64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	d := func(i int) (int, bool) { // two digits at s[i:]
		a, b := s[i]-'0', s[i+1]-'0'
		return int(a)*10 + int(b), a <= 9 && b <= 9
	}
	y1, ok1 := d(0)
	y2, ok2 := d(2)
	month, ok3 := d(5)
	day, ok4 := d(8)
	hour, ok5 := d(11)
	minute, ok6 := d(14)
	sec, ok7 := d(17)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	year := y1*100 + y2
	if month < 1 || month > 12 || day < 1 || int64(day) > civil.DaysIn(int64(year), int64(month)) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	ms := 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-start < 3 {
				ms = ms*10 + int(s[i]-'0')
			}
			i++
		}
		nd := i - start
		if nd == 0 {
			return 0, false
		}
		for ; nd < 3; nd++ {
			ms *= 10
		}
	}
	if i >= len(s) {
		return 0, false
	}
	offset := 0
	switch s[i] {
	case 'Z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, false
		}
		oh, okh := digits(s[i+1 : i+3])
		om, okm := digits(s[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(s) {
		return 0, false
	}
	days := civil.Days(int64(year), int64(month), int64(day))
	secs := days*86400 + int64(hour*3600+minute*60+sec-offset)
	return float64(secs*1000 + int64(ms)), true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
