package features

import (
	"math"
	"testing"
	"time"
)

func TestDateMillis(t *testing.T) {
	day := func(y int, m time.Month, d int) float64 {
		return float64(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMilli())
	}
	for _, c := range []struct {
		year       int64
		month, day float64
		want       float64
	}{
		{2012, 1, 1, day(2012, 1, 1)},
		{2012, 2, 29, day(2012, 2, 29)},
		{2011, 12, 31, day(2011, 12, 31)},
		{1900, 3, 1, day(1900, 3, 1)},
		{1, 1, 1, day(1, 1, 1)},
		{9999, 12, 31, day(9999, 12, 31)},
		{2011, 2, 29, math.NaN()},
		{1900, 2, 29, math.NaN()},
		{2012, 4, 31, math.NaN()},
		{2012, 13, 1, math.NaN()},
		{2012, 0, 1, math.NaN()},
		{2012, 1, 0, math.NaN()},
		{2012, 1.5, 1, math.NaN()},
		{2012, 1, 2.25, math.NaN()},
		{2012, -1, 1, math.NaN()},
		{2012, 1e300, 1, math.NaN()},
	} {
		got := dateMillis(c.year, c.month, c.day)
		if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("dateMillis(%d, %v, %v): got %v, want %v", c.year, c.month, c.day, got, c.want)
		}
	}
}
