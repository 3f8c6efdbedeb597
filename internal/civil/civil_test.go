package civil

import (
	"testing"
	"time"
)

// TestAgainstTimePackage: Days, Date and DaysIn agree with the time package
// on every day from 0001-01-01 to 9999-12-31 (the RFC 3339 range).
func TestAgainstTimePackage(t *testing.T) {
	first := Days(1, 1, 1)
	last := Days(9999, 12, 31)
	for z := first; z <= last; z++ {
		want := time.Unix(z*86400, 0).UTC()
		y, m, d := Date(z)
		if y != int64(want.Year()) || m != int64(want.Month()) || d != int64(want.Day()) {
			t.Fatalf("Date(%d) = %d-%d-%d, want %s", z, y, m, d, want.Format(time.DateOnly))
		}
		if back := Days(y, m, d); back != z {
			t.Fatalf("Days(%d, %d, %d) = %d, want %d", y, m, d, back, z)
		}
		if d == 1 {
			n := int64(want.AddDate(0, 1, -1).Day())
			if got := DaysIn(y, m); got != n {
				t.Fatalf("DaysIn(%d, %d) = %d, want %d", y, m, got, n)
			}
		}
	}
}

func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{7, 2, 3}, {-7, 2, -4}, {7, -2, -4}, {-7, -2, 3}, {-8, 2, -4}, {0, 5, 0}, {-1, 1000, -1},
	} {
		if got := FloorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
