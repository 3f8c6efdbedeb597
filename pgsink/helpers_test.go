package pgsink

import (
	"bytes"
	"fmt"
	"math"
	"strings"
)

func nan() float64 { return math.NaN() }

func ptrString[T any](p *T) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprint(*p)
}

// diffRow names every field of got that differs from want ("" when equal).
func diffRow(got, want Row) string {
	var d []string
	check := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s: got %s, want %s", name, g, w))
		}
	}
	check("model", got.Model, want.Model)
	check("model_version", got.ModelVersion, want.ModelVersion)
	check("event_id", ptrString(got.EventID), ptrString(want.EventID))
	check("key", ptrString(got.Key), ptrString(want.Key))
	check("event_time", ptrString(got.EventTime), ptrString(want.EventTime))
	check("scored_time", got.ScoredTime.String(), want.ScoredTime.String())
	check("label", ptrString(got.Label), ptrString(want.Label))
	check("score", fmt.Sprint(got.Score), fmt.Sprint(want.Score))
	if !bytes.Equal(got.Probabilities, want.Probabilities) {
		d = append(d, fmt.Sprintf("probabilities: got %s, want %s", got.Probabilities, want.Probabilities))
	}
	if !bytes.Equal(got.Features, want.Features) || (got.Features == nil) != (want.Features == nil) {
		d = append(d, fmt.Sprintf("features: got %s, want %s", got.Features, want.Features))
	}
	check("source", fmt.Sprint(got.Topic, got.Partition, got.Offset), fmt.Sprint(want.Topic, want.Partition, want.Offset))
	return strings.Join(d, "; ")
}
