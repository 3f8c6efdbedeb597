package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/doctest"
)

// execCLI runs the command line args in process, stdin from stdin, and
// returns what it wrote and its error.
func execCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

const (
	irisBundle = "../../examples/iris"
	irisCSV    = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4\n"
	irisJSONL  = `{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}` + "\n"
)

// writeTemp writes body to name in a fresh temporary directory.
func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScoreRefusesToOverwriteItsInput: --out or --rejects naming the input
// file (by the same or another path) would empty it before it is read;
// --rejects naming --out would interleave two writers. Each is an error
// before anything is written, and the input is left as it was.
func TestScoreRefusesToOverwriteItsInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(in string) []string
		want string
	}{
		{"out is the input", func(in string) []string { return []string{"--out", in} }, "--out " + "%s is the input file"},
		{"out is the input by another path", func(in string) []string {
			return []string{"--out", filepath.Join(filepath.Dir(in), ".", filepath.Base(in))}
		}, "is the input file"},
		{"rejects is a link to the input", func(in string) []string {
			link := filepath.Join(t.TempDir(), "link.csv")
			if err := os.Symlink(in, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--rejects", link}
		}, "--rejects " + "%s is the input file"},
		{"rejects is the output", func(in string) []string {
			out := filepath.Join(t.TempDir(), "out.jsonl")
			return []string{"--out", out, "--rejects", out}
		}, "is the --out file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeTemp(t, "rows.csv", irisCSV)
			args := tc.args(in)
			_, _, err := execCLI(t, "", append([]string{"score", irisBundle, "--in", in}, args...)...)
			want := strings.Replace(tc.want, "%s", args[1], 1)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v, want one saying %q", err, want)
			}
			if got, _ := os.ReadFile(in); string(got) != irisCSV {
				t.Errorf("input after the run: %q, want it unchanged", got)
			}
		})
	}
}

// TestScoreFailsWhenNoRowDecodes: a CSV file read as JSON Lines (stdin, or
// a name without .csv) has every row rejected as malformed; that is an
// error naming the format and --format, not a run that exits 0.
func TestScoreFailsWhenNoRowDecodes(t *testing.T) {
	txt := writeTemp(t, "rows.txt", irisCSV)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string // in the error; nil: no error
	}{
		{"CSV on stdin", irisCSV, []string{"--in", "-"}, []string{"none of the 3 rows of stdin could be decoded as jsonl", "--format csv"}},
		{"CSV in a .txt file", "", []string{"--in", txt}, []string{"none of the 3 rows of " + txt, "taken from the file name", "--format csv"}},
		{"jsonl asked for", "", []string{"--in", txt, "--format", "jsonl"}, []string{"could be decoded as jsonl"}},
		{"CSV on stdin with --format csv", irisCSV, []string{"--in", "-", "--format", "csv"}, nil},
		{"CSV on stdin with --format CSV", irisCSV, []string{"--in", "-", "--format", "CSV"}, nil},
		{"JSON Lines on stdin", irisJSONL, []string{"--in", "-"}, nil},
		{"an empty file is no rows, not an error", "", []string{"--in", "-"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := execCLI(t, tc.stdin, append([]string{"score", irisBundle}, tc.args...)...)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err %v, want none", err)
				}
				if strings.Contains(out, `"reject"`) {
					t.Errorf("output has rejects:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one saying %q; output:\n%s", tc.want, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q: want it to say %q", err, w)
				}
			}
			if !strings.Contains(out, `"reject":"malformed"`) {
				t.Errorf("the rejects are not in the output:\n%s", out)
			}
		})
	}
}

// TestScoreBundleSources: the bundle is the argument, --bundle, or
// model.bundle from any source (flag, environment, config file), and the
// built-in one by name.
func TestScoreBundleSources(t *testing.T) {
	in := writeTemp(t, "rows.csv", irisCSV)
	cfgFile := writeTemp(t, "streamscore.yaml", "model:\n  bundle: "+irisBundle+"\n")
	fraudEvent := writeTemp(t, "fraud.jsonl", `{"transaction_id":"t1","amount":12.5,"timestamp":"2026-03-14T09:26:53Z","country":"DE"}`+"\n")
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string
		model string // in every prediction
		err   string
	}{
		{name: "argument", args: []string{irisBundle, "--in", in}, model: `"model":"iris"`},
		{name: "--bundle", args: []string{"--bundle", irisBundle, "--in", in}, model: `"model":"iris"`},
		{name: "--model.bundle", args: []string{"--model.bundle", irisBundle, "--in", in}, model: `"model":"iris"`},
		{name: "environment", env: map[string]string{"STREAMSCORE_MODEL_BUNDLE": irisBundle}, args: []string{"--in", in}, model: `"model":"iris"`},
		{name: "config file", args: []string{"--config", cfgFile, "--in", in}, model: `"model":"iris"`},
		{name: "the argument wins over the config file", args: []string{"../../examples/iris-xgb", "--config", cfgFile, "--in", in}, model: `"model":"iris-xgb"`},
		{name: "built-in", args: []string{"embedded", "--in", fraudEvent}, model: `"model":"fraud"`},
		{name: "none", args: []string{"--in", in}, err: "no bundle: give it as the argument or with --bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, _, err := execCLI(t, "", append([]string{"score"}, tc.args...)...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			for _, l := range lines {
				if !strings.Contains(l, tc.model) {
					t.Errorf("prediction %s: want %s", l, tc.model)
				}
			}
		})
	}
}

// TestValidateBundleErrors: validate names its own way of giving a bundle,
// and checks the built-in one (which has no reference rows).
func TestValidateBundleErrors(t *testing.T) {
	_, _, err := execCLI(t, "", "validate")
	if err == nil || !strings.Contains(err.Error(), "no bundle: give it as the argument or with --bundle") || strings.Contains(err.Error(), "--in") {
		t.Errorf("validate without a bundle: err %v, want one saying how to give it, not score's usage", err)
	}
	out, _, err := execCLI(t, "", "validate", embeddedName)
	if err != nil {
		t.Fatalf("validate %s: %v\n%s", embeddedName, err, out)
	}
	if !strings.Contains(out, "bundle     fraud@") || !strings.Contains(out, "reference  none") || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("validate %s printed:\n%s", embeddedName, out)
	}
}

// TestTrialCommandsCheckFirst: demo and bench refuse options they cannot
// run with, and a bundle the fraud generator's events do not fit (every
// prediction would be made of imputed values), before starting anything.
func TestTrialCommandsCheckFirst(t *testing.T) {
	noHTTP := []string{"--http.listen", ""}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--duration", "-1s"}, "--duration -1s: want 0"},
		{[]string{"demo", "--samples", "-1"}, "--samples -1"},
		{[]string{"demo", "--model.bundle", irisBundle}, "do not carry the inputs of iris@1.0.0"},
		{[]string{"bench", "--events", "0"}, "--events 0: want at least 1"},
		{[]string{"bench", "--partitions", "0"}, "--partitions 0: want at least 1"},
		{[]string{"bench", "--latency-for", "-1s"}, "--latency-for -1s"},
		{[]string{"bench", "--rate", "0"}, "--rate 0: the latency phase needs a positive offered rate"},
		{[]string{"bench", "--modes", "twice"}, `--modes "twice": want at-least-once, exactly-once or both`},
		{[]string{"bench", "--modes", ""}, "--modes is empty"},
		{[]string{"bench", "--model.bundle", irisBundle}, "bench sends card transactions of the fraud example"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := execCLI(t, "", append(tc.args, noHTTP...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("it started before failing; output:\n%s", out)
			}
		})
	}
}

// TestEventTimeAsDocumented: without input.event_time_field, a prediction's
// event_time is null from a file and the request's arrival over HTTP, as
// docs/formats.md's output table and the key's help say.
func TestEventTimeAsDocumented(t *testing.T) {
	out, _, err := execCLI(t, irisJSONL, "score", irisBundle, "--in", "-")
	if err != nil || !strings.Contains(out, `"event_time":null,`) {
		t.Errorf("score: err %v, output %s: want event_time null", err, out)
	}
	url := startDoor(t, irisBundle, 1<<20)
	resp, err := http.Post(url, "application/json", strings.NewReader(irisJSONL))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"event_time":\d+,`).Match(body) {
		t.Errorf("HTTP door answered %s: want event_time in epoch ms", body)
	}

	path := filepath.Join("..", "..", "docs", "formats.md")
	heading := "## Output: the prediction record"
	var row string
	for _, r := range doctest.TableRows(t, path+" "+heading, doctest.Section(t, path, heading), "| field |") {
		if c := doctest.Cells(r); c[0] == "event_time" {
			row = c[len(c)-1]
		}
	}
	def := defaultConfig()
	leaves, _ := walkConfig(&def)
	var help string
	for _, l := range leaves {
		if l.key == "input.event_time_field" {
			help = l.help
		}
	}
	for what, text := range map[string]string{path + " event_time": row, "input.event_time_field help": help} {
		if !strings.Contains(text, "arrival over HTTP") || !regexp.MustCompile(`(null|none) (in|for) files`).MatchString(text) {
			t.Errorf("%s: %q: want it to say the arrival over HTTP and null/none for files", what, text)
		}
	}
}

// TestScoreRowNumbers: a reject's row is the line in JSON Lines (blank
// lines counted) and the record after the header in CSV (blank lines and
// the header not counted), as score's help and docs/formats.md say.
func TestScoreRowNumbers(t *testing.T) {
	for _, tc := range []struct{ format, in, want string }{
		{"jsonl", irisJSONL + "\n" + "not json\n", `{"row":3,"line":3,"reject":"malformed"`},
		{"csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n\nx,3.5,1.4,0.2\n", `{"row":2,"line":4,"reject":"wrong_type"`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			out, _, err := execCLI(t, tc.in, "score", irisBundle, "--in", "-", "--format", tc.format)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output:\n%s\nwant a reject %s", err, out, tc.want)
			}
		})
	}
	help, _, _ := execCLI(t, "", "score", "--help")
	if !strings.Contains(strings.Join(strings.Fields(help), " "), "(JSON Lines: the line, blank lines counted; CSV: the record, 1 for the first after the header, blank lines not counted)") {
		t.Errorf("score --help does not say what a reject's row is:\n%s", help)
	}
}

// TestSinkNeedsADestination: `sink` without one, or with one that does not
// exist, is an error (cobra's default is the help and exit 0).
func TestSinkNeedsADestination(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sink"}, "sink needs a destination: streamscore sink postgres"},
		{[]string{"sink", "mysql"}, `unknown sink "mysql": want postgres`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if _, _, err := execCLI(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestServeChecksKafkaOnlyWhenItLogs: serve reads the kafka section only
// for http.log_to_topic, so a shared config whose kafka.* files the serve
// host lacks does not stop it; with log_to_topic on, the same file is the
// error. The missing bundle makes serve stop right after its configuration.
func TestServeChecksKafkaOnlyWhenItLogs(t *testing.T) {
	missingCA := filepath.Join(t.TempDir(), "ca.crt")
	args := []string{"serve", "--model.bundle", filepath.Join(t.TempDir(), "no-bundle"), "--http.listen", "127.0.0.1:0",
		"--kafka.brokers", "kafka:9092", "--kafka.tls.enabled", "--kafka.tls.ca_file", missingCA}
	_, _, err := execCLI(t, "", args...)
	if err == nil || strings.Contains(err.Error(), "kafka.tls.ca_file") || !strings.Contains(err.Error(), "no-bundle") {
		t.Errorf("without http.log_to_topic: %v, want the missing bundle, not the kafka section", err)
	}
	_, _, err = execCLI(t, "", append(args, "--http.log_to_topic")...)
	if err == nil || !strings.Contains(err.Error(), "kafka.tls.ca_file") {
		t.Errorf("with http.log_to_topic: %v, want the missing kafka.tls.ca_file", err)
	}
}
