package scoring

import "math"

// expf is glibc's single-precision exp, bit for bit: XGBoost's objective
// transforms (sigmoid, softmax, exp for count:poisson) call the C library's
// expf in float32, and glibc's is not correctly rounded everywhere (0.502
// ULP at worst: about 1 in 40,000 float32 arguments below 88 differ from
// float32(math.Exp(x))). Computing exp in float64 and rounding, as before,
// made 0.05% of XGBoost scores one float32 step off.
//
// This is the algorithm of glibc >= 2.27 (from Arm's optimized-routines,
// MIT licence): exp(x) = 2^(k/32) * 2^(r/32), a 32-entry table of 2^(i/32)
// and a cubic polynomial in double, in the fused multiply-add form glibc
// selects on x86-64 CPUs with FMA (every x86-64-v3 CPU; math.FMA is exact
// on every platform, so the result does not depend on the CPU serving).
// Checked against this machine's glibc 2.36 on every float32 below 88 in
// magnitude (testdata/expf_glibc.txt keeps a sample of the inputs where
// glibc is not correctly rounded).
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 0x1.62e42ep6: // log(0x1p128): overflow
		return float32(math.Inf(1))
	case x < -0x1.9fe368p6: // log(0x1p-150): underflow
		return 0
	}
	xd := float64(x)
	// x*32/ln2 = k + r with r in [-1/2, 1/2] and integer k; the shift rounds
	// to nearest, ties to even.
	kd := expfInvLn2N*xd + expfShift
	ki := math.Float64bits(kd)
	kd -= expfShift
	r := math.FMA(expfInvLn2N, xd, -kd)
	s := math.Float64frombits(expfTab[ki%32] + ki<<47)
	z := math.FMA(expfC0, r, expfC1)
	y := math.FMA(expfC2, r, 1)
	y = math.FMA(z, r*r, y)
	return float32(y * s)
}

const (
	expfInvLn2N = 0x1.71547652b82fep+0 * 32
	expfShift   = 0x1.8p+52
	expfC0      = 0x1.c6af84b912394p-5 / 32 / 32 / 32
	expfC1      = 0x1.ebfce50fac4f3p-3 / 32 / 32
	expfC2      = 0x1.62e42ff0c52d6p-1 / 32
)

// expfTab[i] is the bits of 2^(i/32) minus i<<47, so that adding k<<47
// scales it by 2^(k/32).
var expfTab = [32]uint64{
	0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
	0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
	0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
	0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
	0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
	0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
	0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
	0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
}
