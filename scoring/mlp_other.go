//go:build !amd64

package scoring

// asmTile: no assembly kernels on this platform; dense uses goTile.
func asmTile[T float32 | float64]() tileFunc[T] { return nil }
