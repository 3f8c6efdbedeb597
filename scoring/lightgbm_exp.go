package scoring

import (
	"math"
	"math/big"
)

// exp64 is e^x rounded to the nearest float64: the output transforms of
// LightGBM (sigmoid, softmax, exp) and scikit-learn's expit call the C
// library's exp, which glibc computes to within 0.51 ulp and which is the
// correctly rounded value for all but about 0.1% of arguments; Go's
// math.Exp differs from it in the last bit for about 13% of arguments (and
// numpy's vectorised exp for about 5%). So exp64 computes the correctly
// rounded value: argument reduction and the series in double-double
// arithmetic (error below 2^-78 relative), then one rounding. It is wrong
// only when e^x lies within 2^-78 of a halfway point between two float64
// values (probability about 2^-25 per call). Results in the subnormal range
// (x < -708.4) are rounded twice.
func exp64(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 709.8:
		return math.Inf(1)
	case x < -745.2:
		return 0
	case math.Abs(x) < 0x1p-54:
		return 1 + x
	}
	// x = k*ln2/64 + r, |r| <= ln2/128 (plus rounding)
	kf := math.Floor(x*expInvL + 0.5)
	k := int(kf)
	t1 := x - kf*expL1 // exact: kf*expL1 fits 53 bits, and x is near it
	p2, e2 := twoProd(kf, expL2)
	rh, rl := twoSum(t1, -p2)
	rl -= e2 + kf*expL3
	rh, rl = fastTwoSum(rh, rl)

	// e^r = 1 + r + r^2/2 + r^3/6 + ...: the first three terms in
	// double-double, the rest (below 2^-24 relative) in double.
	sq, sqe := twoProd(rh, rh)
	sqe += 2 * rh * rl
	sq, sqe = sq/2, sqe/2
	tail := rh * rh * rh * (1.0/6 + rh*(1.0/24+rh*(1.0/120+rh*(1.0/720+rh*(1.0/5040+rh*(1.0/40320+rh*(1.0/362880)))))))
	eh, el := twoSum(1, rh)
	el += rl
	eh, el = fastTwoSum(eh, el)
	s, se := twoSum(eh, sq)
	se += el + sqe + tail
	eh, el = fastTwoSum(s, se)

	// times 2^(j/64) (double-double table) and 2^m
	j := k & 63
	m := (k - j) >> 6
	th, tl := expTable[j][0], expTable[j][1]
	ph, pl := twoProd(th, eh)
	pl += th*el + tl*eh
	return math.Ldexp(ph+pl, m)
}

func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// fastTwoSum is twoSum for |a| >= |b|.
func fastTwoSum(a, b float64) (s, e float64) {
	s = a + b
	e = b - (s - a)
	return s, e
}

func twoProd(a, b float64) (p, e float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

// Constants of exp64, computed once from ln 2 in 256-bit arithmetic:
// ln2/64 as expL1 (32 significant bits, so kf*expL1 is exact) + expL2 +
// expL3, 64/ln2, and 2^(j/64) as double-double pairs.
var (
	expL1, expL2, expL3, expInvL float64
	expTable                     [64][2]float64
)

// ln2Digits is ln 2 to 80 decimal places.
const ln2Digits = "0.69314718055994530941723212145817656807550013436025525412068000949339362196969471560586"

func init() {
	const prec = 256
	ln2, _, err := big.ParseFloat(ln2Digits, 10, prec, big.ToNearestEven)
	if err != nil {
		panic(err)
	}
	l := new(big.Float).SetPrec(prec).Quo(ln2, big.NewFloat(64))
	f, _ := l.Float64()
	expL1 = math.Float64frombits(math.Float64bits(f) &^ (1<<21 - 1))
	rest := new(big.Float).SetPrec(prec).Sub(l, big.NewFloat(expL1))
	expL2, _ = rest.Float64()
	rest.Sub(rest, big.NewFloat(expL2))
	expL3, _ = rest.Float64()
	inv := new(big.Float).SetPrec(prec).Quo(big.NewFloat(64), ln2)
	expInvL, _ = inv.Float64()

	root := new(big.Float).SetPrec(prec).SetInt64(2) // 2^(1/64) by six square roots
	for range 6 {
		root.Sqrt(root)
	}
	p := new(big.Float).SetPrec(prec).SetInt64(1)
	for j := range expTable {
		hi, _ := p.Float64()
		lo, _ := new(big.Float).SetPrec(prec).Sub(p, big.NewFloat(hi)).Float64()
		expTable[j] = [2]float64{hi, lo}
		p.Mul(p, root)
	}
}
