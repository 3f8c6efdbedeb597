package scoring

import "golang.org/x/sys/cpu"

// asmTile returns the AVX2 + FMA tile kernel of mlp_amd64.s for T, or nil
// when the CPU lacks AVX2 or FMA (dense then uses goTile).
func asmTile[T float32 | float64]() tileFunc[T] {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil
	}
	var f any
	switch any(T(0)).(type) {
	case float32:
		f = tileFunc[float32](sgemm4x16)
	case float64:
		f = tileFunc[float64](dgemm4x8)
	}
	return f.(tileFunc[T])
}

// sgemm4x16 and dgemm4x8: see mlp_amd64.s.
//
//go:noescape
func sgemm4x16(x *float32, xs uintptr, w *float32, k int, c *float32, cs uintptr)

//go:noescape
func dgemm4x8(x *float64, xs uintptr, w *float64, k int, c *float64, cs uintptr)
