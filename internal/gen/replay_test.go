package gen

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// readAll returns every event of a non-looping replay, as "key value".
func readAll(t *testing.T, r *Replay) []string {
	t.Helper()
	var out []string
	for {
		key, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(key)+" "+string(v))
	}
}

// TestReplayJSONL: lines go out as they are (broken ones too), blank lines
// are skipped, reference lines are unwrapped to their event, keys come
// from the key field; looping starts again at the top.
func TestReplayJSONL(t *testing.T) {
	file := `{"id":"a","x":1}

{"event":{"id":"b","x":2},"scores":[0.5],"note":"reference line"}
  {"id":7,"x":3}  
not json
{"x":4}
{"event":"a string is no reference event","id":"c","scores":[1]}
{"event":{"id":"d"},"note":"an event with an event object"}`
	want := []string{
		`a {"id":"a","x":1}`,
		`b {"id":"b","x":2}`,
		`7 {"id":7,"x":3}`,
		` not json`,
		` {"x":4}`,
		`c {"event":"a string is no reference event","id":"c","scores":[1]}`,
		` {"event":{"id":"d"},"note":"an event with an event object"}`,
	}
	r, err := NewReplay(strings.NewReader(file), nil, ReplayOptions{Format: ReplayJSONL, KeyField: "id"})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	loop, err := NewReplay(strings.NewReader(file), nil, ReplayOptions{Format: ReplayJSONL, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * len(want) {
		_, v, err := loop.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if _, w, _ := strings.Cut(want[i%len(want)], " "); string(v) != w {
			t.Fatalf("event %d: %s, want %s", i, v, w)
		}
	}

	empty, err := NewReplay(strings.NewReader("\n\n"), nil, ReplayOptions{Format: ReplayJSONL, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := empty.Next(); !errors.Is(err, ErrNoEvents) {
		t.Errorf("looping over a file without events: %v, want ErrNoEvents", err)
	}
}

// TestReplayReferenceFiles: each example's reference.jsonl replays as its
// reference events, byte for byte.
func TestReplayReferenceFiles(t *testing.T) {
	for name, b := range exampleBundles(t) {
		dir := filepath.Join("../../examples", name)
		refs, err := scoring.ReadReference(dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, scoring.ReferenceFile))
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReplay(f, b.Layout(), ReplayOptions{Format: ReplayJSONL})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		f.Close()
		if len(got) != len(refs) {
			t.Fatalf("%s: %d events replayed, %d reference rows", name, len(got), len(refs))
		}
		for i, ref := range refs {
			if got[i] != " "+string(ref.Event) {
				t.Fatalf("%s row %d: replayed %s, reference event %s", name, i, got[i], ref.Event)
			}
		}
	}
}

// TestReplayCSVMatchesTheCSVDecoder: each CSV row, turned into a JSON
// event, gives through the stream's JSON decoder the row, or the reject
// reason, that `streamscore score`'s CSV decoder gives the row itself.
func TestReplayCSVMatchesTheCSVDecoder(t *testing.T) {
	layout, err := features.NewLayout([]features.Input{
		{Name: "amount", Type: features.Number, Required: true},
		{Name: "country", Type: features.Category, Path: "card.country"},
		{Name: "present", Type: features.Bool},
		{Name: "at", Type: features.Timestamp},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := "\xef\xbb\xbfid,amount,card.country,present,at,note\n" +
		"t1,12.5,DE,true,2026-02-07T19:26:47Z,plain\n" +
		"t2,-3e2,007,False,1704164645000,numbers\n" +
		"t3,,US,TRUE,,\n" + // required amount empty: missing_field
		"t4,NaN,US,true,2026-02-07T19:26:47Z,nan is missing\n" +
		"t5,inf,US,true,2026-02-07T19:26:47Z,not finite\n" +
		"t6,-Infinity,US,true,2026-02-07T19:26:47Z,not finite\n" +
		"t7,1e999,US,true,2026-02-07T19:26:47Z,overflow\n" +
		"t8,lots,US,true,2026-02-07T19:26:47Z,wrong type\n" +
		"t9,1.5,US,yes,2026-02-07T19:26:47Z,wrong bool\n" +
		"t10,1.5,US,nan,yesterday,wrong time\n" +
		"t11,+1,\"a, \"\"quoted\"\" one\",false,-inf,sign\n" +
		"t12,0x10,,,1.5,hex\n" +
		"t13,2,US,true,nan,\n"
	cfg := schemas.DefaultInputConfig()
	cfg.EventIDField, cfg.KeyField = "id", "id"
	cr, err := schemas.NewCSVReader(strings.NewReader(file), cfg)
	if err != nil {
		t.Fatal(err)
	}
	csvDec, err := schemas.NewCSVDecoder(cfg, layout, cr.Header())
	if err != nil {
		t.Fatal(err)
	}
	jsonDec, err := schemas.NewDecoder(cfg, layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplay(strings.NewReader(file), layout, ReplayOptions{Format: ReplayCSV, KeyField: "id"})
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for {
		rec, _, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		key, ev, rerr := r.Next()
		if rerr != nil {
			t.Fatalf("row %d: replay: %v", rows+1, rerr)
		}
		rows++
		want, got := layout.NewRow(), layout.NewRow()
		wantMeta, werr := csvDec.Decode(rec, want)
		gotMeta, gerr := jsonDec.Decode(ev, got)
		wr, _ := reject.Of(werr)
		gr, _ := reject.Of(gerr)
		if wr != gr || (werr == nil) != (gerr == nil) {
			t.Errorf("row %q: CSV decoder %v, replayed event %s: %v", rec, werr, ev, gerr)
			continue
		}
		if werr != nil {
			continue
		}
		if !sameRow(want, got) || !bytes.Equal(wantMeta.EventID, gotMeta.EventID) || !bytes.Equal(wantMeta.Key, gotMeta.Key) || !bytes.Equal(key, wantMeta.Key) {
			t.Errorf("row %q: CSV decoder %v %q meta %+v, replayed event %s: %v %q meta %+v key %q",
				rec, want.Num, want.Cat, wantMeta, ev, got.Num, got.Cat, gotMeta, key)
		}
	}
	if rows != 13 {
		t.Errorf("%d rows compared, want 13", rows)
	}
	if _, _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v, want io.EOF", err)
	}
}

func sameRow(a, b *features.Row) bool {
	for i := range a.Num {
		if a.Num[i] != b.Num[i] && !(math.IsNaN(a.Num[i]) && math.IsNaN(b.Num[i])) {
			return false
		}
	}
	for i := range a.Cat {
		if (a.Cat[i] == nil) != (b.Cat[i] == nil) || !bytes.Equal(a.Cat[i], b.Cat[i]) {
			return false
		}
	}
	return true
}

// TestReplayCSVEvents pins the JSON a few rows become, nesting included.
func TestReplayCSVEvents(t *testing.T) {
	layout, err := features.NewLayout([]features.Input{
		{Name: "amount", Type: features.Number},
		{Name: "country", Type: features.Category, Path: "card.country"},
		{Name: "present", Type: features.Bool, Path: "card.present"},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := "country,amount,present,meta.src\nDE,12.5,true,app\n,3,,\n,,,\n"
	r, err := NewReplay(strings.NewReader(file), layout, ReplayOptions{Format: ReplayCSV, KeyField: "meta.src"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`app {"card":{"country":"DE","present":true},"amount":12.5,"meta":{"src":"app"}}`,
		` {"amount":3}`,
		` {}`,
	}
	if got := readAll(t, r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReplayCSVBadFiles: files that cannot be replayed say why.
func TestReplayCSVBadFiles(t *testing.T) {
	layout, err := features.NewLayout([]features.Input{
		{Name: "amount", Type: features.Number},
		{Name: "country", Type: features.Category, Path: "card.country"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, file, want string }{
		{"empty", "", "empty file"},
		{"no input column", "a,b\n1,2\n", "names none of the bundle's inputs"},
		{"two columns for one input", "country,card.country\nDE,US\n", `both feed input "country"`},
		{"a column under an input", "amount,amount.x\n1,2\n", `column "amount.x"`},
		{"a short row", "amount,country\n1\n", "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReplay(strings.NewReader(tt.file), layout, ReplayOptions{Format: ReplayCSV})
			if err == nil {
				_, _, err = r.Next()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
	if _, err := NewReplay(strings.NewReader("x\n"), nil, ReplayOptions{Format: ReplayCSV}); err == nil {
		t.Error("csv without a layout: no error")
	}
	if _, err := NewReplay(strings.NewReader("x\n"), layout, ReplayOptions{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("format xml: %v", err)
	}
}
