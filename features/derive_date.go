package features

import (
	"fmt"
	"math"

	"github.com/streamscore/streamscore/internal/civil"
)

// The derive op "date" builds a date from two number inputs, a (month 1-12)
// and b (day of month), in the fixed calendar year Year, as a timestamp
// (epoch milliseconds at 00:00 UTC), so datepart can take its dayofyear or
// weekday. Producers that send month and day (a bike-demand form) need no
// year in the event; the bundle says which year the model was trained on.
// A month or day that is not a whole number, or not a real date of that
// year (February 30), is missing, as a missing input is.

// minYear and maxYear bound Year (proleptic Gregorian calendar).
const minYear, maxYear = 1, 9999

func compileDate(d *Derive) (kind, float64, error) {
	if d.Year < minYear || d.Year > maxYear {
		return kindNum, 0, fmt.Errorf("date: year %d out of range [%d, %d]", d.Year, minYear, maxYear)
	}
	return kindTime, float64(d.Year), nil
}

// dateMillis is 00:00 UTC of year-month-day in epoch milliseconds, or NaN
// when month and day do not name a date of that year.
func dateMillis(year int64, month, day float64) float64 {
	if month != math.Trunc(month) || day != math.Trunc(day) || month < 1 || month > 12 || day < 1 || day > 31 {
		return math.NaN()
	}
	m, d := int64(month), int64(day)
	if d > civil.DaysIn(year, m) {
		return math.NaN()
	}
	return float64(civil.Days(year, m, d) * 86_400_000)
}
