package scoring

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestExpfMatchesGlibc checks expf against glibc's expf on a sample of the
// arguments where glibc is not correctly rounded (testdata/expf_glibc.txt:
// float32 bits of x and of glibc's expf(x), one pair per line, written from
// glibc 2.36 on x86-64 with FMA), and that it is within one ULP of the
// correctly rounded value elsewhere.
func TestExpfMatchesGlibc(t *testing.T) {
	pairs := readBitPairs(t, "testdata/expf_glibc.txt", 32)
	for _, p := range pairs {
		x, want := math.Float32frombits(uint32(p[0])), math.Float32frombits(uint32(p[1]))
		if got := expf(x); got != want {
			t.Errorf("expf(%v) = %v, glibc %v", x, got, want)
		}
		if got := float32(math.Exp(float64(x))); got == want {
			t.Errorf("expf(%v): glibc %v is correctly rounded, the sample should hold only cases that are not", x, want)
		}
	}
	if len(pairs) < 1000 {
		t.Fatalf("only %d cases in testdata/expf_glibc.txt", len(pairs))
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))}, {89, float32(math.Inf(1))}, {-104, 0},
		{88.7, 3.3259769e+38}, {5.4205594, 226.00552}, // a fraud margin: the correctly rounded value is 226.00551
		{32.564632, 1.3888015e+14}, // glibc rounds up, correctly rounded is 1.3888014e+14
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := expf(float32(math.NaN())); got == got {
		t.Errorf("expf(NaN) = %v", got)
	}
	for b := uint32(0); b < math.Float32bits(88); b += 1 << 12 {
		for _, x := range []float32{math.Float32frombits(b), -math.Float32frombits(b)} {
			got, want := expf(x), float32(math.Exp(float64(x)))
			if d := int64(math.Float32bits(got)) - int64(math.Float32bits(want)); d < -1 || d > 1 {
				t.Fatalf("expf(%v) = %v, more than one ULP from %v", x, got, want)
			}
		}
	}
}

// readBitPairs reads a golden file of two hexadecimal float bit patterns
// (size bits each) per line: an argument and the reference's result.
func readBitPairs(t *testing.T, path string, size int) [][2]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pairs [][2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		a, err1 := strconv.ParseUint(fs[0], 16, size)
		b, err2 := strconv.ParseUint(fs[1], 16, size)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		pairs = append(pairs, [2]uint64{a, b})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return pairs
}
