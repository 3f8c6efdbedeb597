package features

import (
	"fmt"
	"time"
	_ "time/tzdata" // datepart zones must load on minimal images without /usr/share/zoneinfo
)

// Datepart is a calendar part of a timestamp in an IANA time zone. Zones are
// loaded here, once, so the record path never touches the zone database.
type Datepart struct {
	Part string `json:"part" bundle:"required"` // hour | weekday (Monday=0) | month (1-12) | dayofyear (1-366) | minute
	TZ   string `json:"tz,omitempty"`           // IANA name; default UTC
}

// Op implements Step.
func (Datepart) Op() string { return "datepart" }

var dateparts = map[string]uint8{
	"hour": partHour, "weekday": partWeekday, "month": partMonth, "dayofyear": partDayOfYear, "minute": partMinute,
}

func (s Datepart) compile(c *chain, k kind) (kind, error) {
	if err := needs(k, kindTime); err != nil {
		return k, err
	}
	part, ok := dateparts[s.Part]
	if !ok {
		return k, fmt.Errorf("part %q (want hour, weekday, month, dayofyear or minute)", s.Part)
	}
	tz := s.TZ
	if tz == "" {
		tz = "UTC"
	}
	li, ok := c.locIdx[tz]
	if !ok {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			return k, fmt.Errorf("time zone %q: not an IANA zone name", tz)
		}
		c.p.zones = append(c.p.zones, newZone(loc))
		li = int32(len(c.p.zones) - 1)
		c.locIdx[tz] = li
	}
	c.emit(step{op: opDatepart, mode: part, a: li})
	return kindNum, nil
}
