package drift

import "math"

// Epsilon stands in for an empty bin's fraction, on either side, so that
// ln(a/e) stays finite: a bin the training data never filled and live
// traffic now fills (an unseen category) adds about a*ln(a/Epsilon), a large
// term, as it should.
const Epsilon = 1e-4

// PSI is the population stability index of live counts against the
// expected fractions of the same bins:
//
//	PSI = sum over bins i of (a_i - e_i) * ln(a_i / e_i)
//
// with a_i = counts[i] / total and both a_i and e_i raised to Epsilon when
// smaller. It is NaN when total is 0 (no data, no verdict). len(counts)
// must be len(expected), and total the sum of counts.
func PSI(expected []float64, counts []uint64, total uint64) float64 {
	if total == 0 {
		return math.NaN()
	}
	n := float64(total)
	psi := 0.0
	for i, e := range expected {
		a := max(float64(counts[i])/n, Epsilon)
		e = max(e, Epsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}
