package schemas_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

// Decode JSON events into the row slots of a bundle's inputs; a record that
// cannot be decoded says why.
func ExampleNewDecoder() {
	layout, _ := features.NewLayout([]features.Input{
		{Name: "amount", Type: features.Number, Required: true},
		{Name: "country", Type: features.Category, Path: "merchant.country"},
		{Name: "timestamp", Type: features.Timestamp},
	})
	dec, err := schemas.NewDecoder(schemas.InputConfig{Format: schemas.FormatJSON, EventIDField: "id"}, layout, nil)
	if err != nil {
		panic(err)
	}
	row := layout.NewRow()

	meta, err := dec.Decode([]byte(`{"id":"tx-1","amount":12.5,"merchant":{"country":"DE"},"timestamp":"2026-01-02T03:04:05Z","extra":[1,2]}`), row)
	fmt.Println(string(meta.EventID), row.Num[layout.Slot(0)], string(row.Cat[layout.Slot(1)]), row.Num[layout.Slot(2)], err)

	_, err = dec.Decode([]byte(`{"amount":"12.5"}`), row)
	var de *reject.Error
	if errors.As(err, &de) {
		fmt.Println(de.Reason, de.Field)
	}
	// Output:
	// tx-1 12.5 DE 1.767323045e+12 <nil>
	// wrong_type amount
}

// Encode a prediction as JSON, appending to a reused buffer.
func ExampleNewEncoder() {
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		panic(err)
	}
	buf, err := enc.Append(nil, &schemas.Prediction{
		Key: []byte("card-42"), ScoredTime: time.UnixMilli(1767323045000), Model: "fraud", ModelVersion: "1.0.0",
		Score: 0.93, Label: "High Risk", Classes: []string{"Low Risk", "High Risk"}, Probs: []float64{0.07, 0.93},
	})
	fmt.Println(string(buf), err)
	// Output:
	// {"key":"card-42","event_id":null,"event_time":null,"scored_time":1767323045000,"model":"fraud","model_version":"1.0.0","score":0.93,"label":"High Risk","probabilities":[{"class":"Low Risk","probability":0.07},{"class":"High Risk","probability":0.93}],"features":null} <nil>
}
