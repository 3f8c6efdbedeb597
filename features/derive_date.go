package features

import (
	"fmt"
	"math"
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
	if d > daysIn(year, m) {
		return math.NaN()
	}
	return float64(daysFromCivil(year, m, d) * 86_400_000)
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, the inverse of civil in pipeline.go).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
