package features

import (
	"math"
	"time"

	"github.com/streamscore/streamscore/internal/civil"
)

// zone answers "what is the UTC offset at this instant" from a transition
// table built once at compile time (1900-2200), instead of the time
// package's lookup, whose one-period cache misses for most event times.
// Outside the table it falls back to the time package.
type zone struct {
	loc    *time.Location
	utc    bool
	starts []int64 // unix seconds at which offs[i] takes effect, ascending
	offs   []int64
	hi     int64 // the table is valid for starts[0] <= sec < hi
}

const maxZonePeriods = 4000

func newZone(loc *time.Location) zone {
	z := zone{loc: loc, utc: loc == time.UTC}
	if z.utc {
		return z
	}
	t := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).In(loc)
	for range maxZonePeriods {
		_, off := t.Zone()
		z.starts = append(z.starts, t.Unix())
		z.offs = append(z.offs, int64(off))
		_, end := t.ZoneBounds()
		if end.IsZero() {
			z.hi = math.MaxInt64
			return z
		}
		z.hi = end.Unix()
		if end.Year() >= 2200 || !end.After(t) {
			return z
		}
		t = end
	}
	return z
}

func (z *zone) offset(sec int64) int64 {
	if z.utc {
		return 0
	}
	if sec < z.starts[0] || sec >= z.hi {
		_, off := time.Unix(sec, 0).In(z.loc).Zone()
		return int64(off)
	}
	lo, hi := 0, len(z.starts) // largest i with starts[i] <= sec
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if z.starts[m] <= sec {
			lo = m
		} else {
			hi = m
		}
	}
	return z.offs[lo]
}

// The instants datepart reads, years 1 to 9999 UTC (what RFC 3339 can
// write); outside them a part is missing, as the exporter computes it too
// (pandas cannot convert such a time to a zone).
const (
	datepartMinMs = -62135596800000 // 0001-01-01T00:00:00Z
	datepartMaxMs = 253402300800000 // 10000-01-01T00:00:00Z, excluded
)

// part extracts a calendar part of an epoch-milliseconds time, with pandas'
// conventions (weekday Monday=0, month 1-12, dayofyear 1-366), by integer
// arithmetic on the local time.
func (z *zone) part(ms float64, part uint8) float64 {
	if !(ms >= datepartMinMs && ms < datepartMaxMs) {
		return math.NaN()
	}
	sec := civil.FloorDiv(int64(math.Floor(ms)), 1000)
	sec += z.offset(sec)
	days := civil.FloorDiv(sec, 86400)
	sod := sec - days*86400
	switch part {
	case partHour:
		return float64(sod / 3600)
	case partMinute:
		return float64(sod % 3600 / 60)
	case partWeekday:
		return float64(floorMod(days+3, 7)) // 1970-01-01 was a Thursday (3 with Monday=0)
	}
	y, m, d := civil.Date(days)
	if part == partMonth {
		return float64(m)
	}
	return float64(dayOfYear(y, m, d))
}
