package schemas_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

// Read a CSV file record by record and decode each into the row slots of a
// bundle's inputs; a record that cannot be decoded says why, by line.
func ExampleNewCSVDecoder() {
	layout, _ := features.NewLayout([]features.Input{
		{Name: "amount", Type: features.Number, Required: true},
		{Name: "country", Type: features.Category, Path: "merchant.country"},
		{Name: "card_present", Type: features.Bool},
	})
	file := "id,amount,merchant.country,card_present,note\n" +
		"tx-1,12.5,DE,True,\"a \"\"quoted\"\" note\"\n" +
		"tx-2,,FR,False,\n" +
		"tx-3,7,5411,1,\n"
	cfg := schemas.InputConfig{EventIDField: "id"}
	r, err := schemas.NewCSVReader(strings.NewReader(file), cfg)
	if err != nil {
		panic(err)
	}
	dec, err := schemas.NewCSVDecoder(cfg, layout, r.Header())
	if err != nil {
		panic(err)
	}
	fmt.Println("unknown columns:", dec.UnknownColumns(), "missing inputs:", dec.MissingInputs())
	row := layout.NewRow()
	for {
		rec, line, err := r.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			var meta schemas.Meta
			if meta, err = dec.Decode(rec, row); err == nil {
				fmt.Println(line, string(meta.EventID), row.Num[layout.Slot(0)], string(row.Cat[layout.Slot(1)]), row.Num[layout.Slot(2)])
				continue
			}
		}
		if reason, poison := reject.Of(err); poison {
			fmt.Println(line, reason, err)
			continue
		}
		panic(err) // the file could not be read
	}
	// Output:
	// unknown columns: [note] missing inputs: []
	// 2 tx-1 12.5 DE 1
	// 3 missing_field missing_field: field amount: required input is absent or null
	// 4 wrong_type wrong_type: field card_present: a cell that is not true or false where a bool is expected
}
