package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamscore/streamscore/batch"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func newScoreCmd() *cobra.Command {
	var bundleDir, inPath, outPath, rejectsPath, inFormat string
	var flags *configFlags
	cmd := &cobra.Command{
		Use:   "score [BUNDLE] --in FILE [--out FILE] [--rejects FILE]",
		Short: "Score a CSV or JSON Lines file with a bundle, as the stream would",
		Long: `score runs a file through the stream's own code path: the stream's decoders
(JSON Lines: one event per line; CSV with a header: the CSV decoder with the
same type rules), features, model, policy and the stream's JSON prediction
encoder, with the same input.* settings (--config, flags, environment). It
writes one prediction record per scored row, byte for byte what the stream
would produce for the same event, apart from scored_time, and key and
event_time, which a file has only through input.key_field and
input.event_time_field (else null). "-" reads stdin; output defaults to stdout.

Rows that cannot be scored go to --rejects as JSON lines with their row number
(JSON Lines: the line, blank lines counted; CSV: the record, 1 for the first
after the header, blank lines not counted), the line the row starts on, stage,
reason (the stream's DLQ reasons) and detail, or, without --rejects, inline
into the output, so the output has one line per row.

On stderr, score names once the fields the bundle does not read and, per
input, how many rows lacked it; it fails when no row carries any input, and
when not one row decodes (a CSV file read as JSON Lines: give --format).
--out and --rejects may not name the input file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := flags.load()
			if err != nil {
				return err
			}
			dir, err := scoreBundleDir(args, bundleDir, cfg.Model.Bundle)
			if err != nil {
				return err
			}
			b, err := loadBundle(dir)
			if err != nil {
				return err
			}
			if err := scoreCheckPaths(inPath, outPath, rejectsPath); err != nil {
				return err
			}
			enc, err := schemas.NewEncoder(cmd.Context(), schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: cfg.Output.EchoFeatures}, nil)
			if err != nil {
				return err
			}
			in, closeIn, err := scoreOpenIn(cmd.InOrStdin(), inPath)
			if err != nil {
				return err
			}
			defer closeIn()
			inFormat = strings.ToLower(strings.TrimSpace(inFormat)) // --format CSV is csv, as FormatOf reads .CSV
			guessed := inFormat == ""
			if guessed {
				inFormat = batch.FormatOf(inPath)
			}
			out, closeOut, err := scoreCreateOut(cmd.OutOrStdout(), outPath)
			if err != nil {
				return err
			}
			var rejects io.Writer
			closeRej := func() error { return nil }
			if rejectsPath != "" {
				if rejects, closeRej, err = scoreCreateOut(nil, rejectsPath); err != nil {
					closeOut()
					return err
				}
			}
			opt := batch.Options{InFormat: inFormat}
			stderr := cmd.ErrOrStderr()
			start := time.Now()
			tty := scoreIsTerminal(stderr)
			var last time.Time
			if tty {
				opt.Progress = func(st batch.Stats) {
					if now := time.Now(); now.Sub(last) >= 250*time.Millisecond {
						last = now
						fmt.Fprintf(stderr, "\rscored %d rows (%d rejected), %.0f rows/s ", st.Rows, st.Rejected, scoreRate(st.Rows, now.Sub(start)))
					}
				}
			}
			st, runErr := batch.Run(cmd.Context(), b, cfg.Input.InputConfig, enc, cfg.Output.EchoFeatures, in, out, rejects, opt)
			errOut, errRej := closeOut(), closeRej()
			if tty {
				fmt.Fprintf(stderr, "\rscored %d rows (%d rejected), %.0f rows/s\n", st.Rows, st.Rejected, scoreRate(st.Rows, time.Since(start)))
			}
			var noInputs *batch.NoInputsError
			if runErr == nil || errors.As(runErr, &noInputs) {
				writeInputReport(stderr, b, st)
			}
			if runErr == nil {
				runErr = noneDecoded(st, inPath, inFormat, guessed)
			}
			return errors.Join(runErr, errOut, errRej)
		},
	}
	// score reads events and writes predictions: the input and output
	// settings are the stream's, the broker ones do not apply.
	flags = addConfigFlags(cmd.Flags(), defaultConfig(), "input", "output", "model")
	f := cmd.Flags()
	f.StringVar(&bundleDir, "bundle", "", "bundle directory (or give it as the argument, or model.bundle)")
	f.StringVar(&inPath, "in", "", `input file, CSV or JSON Lines; "-" for stdin (required)`)
	f.StringVar(&outPath, "out", "", "output file (JSON Lines); default stdout")
	f.StringVar(&rejectsPath, "rejects", "", "file for rejected rows (JSON Lines); default: inline into the output")
	f.StringVar(&inFormat, "format", "", "input format: csv or jsonl (default: csv for a .csv file, else jsonl; jsonl for stdin)")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

// scoreBundleDir picks the bundle: the argument, --bundle, else
// model.bundle (configured: from a flag, the environment or the config
// file; "" when not set, or for a command without the key); two different
// ones are an error.
func scoreBundleDir(args []string, flag, configured string) (string, error) {
	var got []string
	if len(args) == 1 {
		got = append(got, args[0])
	}
	if flag != "" {
		got = append(got, flag)
	}
	if len(got) == 0 && strings.TrimSpace(configured) != "" {
		got = append(got, configured)
	}
	switch {
	case len(got) == 0:
		return "", errors.New("no bundle: give it as the argument or with --bundle")
	case len(got) == 2 && got[0] != got[1]:
		return "", fmt.Errorf("two bundles given (%s and %s): give one", got[0], got[1])
	}
	return got[0], nil
}

// writeInputReport names the fields the bundle does not read and, per
// input, the rows that lacked it.
func writeInputReport(w io.Writer, b *scoring.Bundle, st batch.Stats) {
	if len(st.UnknownFields) > 0 {
		fmt.Fprintf(w, "score: fields the bundle does not read: %s\n", strings.Join(st.UnknownFields, ", "))
	}
	c := st.Inputs
	if c.Events == 0 {
		return
	}
	for i, in := range b.Layout().Inputs {
		if n := c.Missing[i]; n > 0 {
			fmt.Fprintf(w, "score: input %s missing (absent or null) in %d of %d rows (%.1f%%)\n",
				in.Name, n, c.Events, 100*float64(n)/float64(c.Events))
		}
	}
}

// scoreCheckPaths refuses an output or rejects file that is the input file
// (creating it would empty the input before it is read) or each other (two
// writers would overwrite each other's lines).
func scoreCheckPaths(in, out, rejects string) error {
	same := func(a, b string) bool {
		if a == "" || b == "" || a == "-" || b == "-" {
			return false
		}
		if filepath.Clean(a) == filepath.Clean(b) {
			return true
		}
		fa, errA := os.Stat(a)
		fb, errB := os.Stat(b)
		return errA == nil && errB == nil && os.SameFile(fa, fb)
	}
	switch {
	case same(in, out):
		return fmt.Errorf("--out %s is the input file: it would be emptied before it is read; write the predictions elsewhere", out)
	case same(in, rejects):
		return fmt.Errorf("--rejects %s is the input file: it would be emptied before it is read; write the rejects elsewhere", rejects)
	case same(out, rejects):
		return fmt.Errorf("--rejects %s is the --out file: leave --rejects out to have the rejects inline in the output", rejects)
	}
	return nil
}

// noneDecoded is the error of a run in which rows were read but not one
// decoded into an event (every row rejected at decode): the file is most
// likely not in the format it was read as, which is named, with how it was
// chosen.
func noneDecoded(st batch.Stats, inPath, format string, guessed bool) error {
	if st.Rows == 0 || st.Inputs.Events > 0 {
		return nil
	}
	name, hint := inPath, "the format was taken from the file name (.csv: csv, else jsonl)"
	if inPath == "-" {
		name, hint = "stdin", "stdin is read as jsonl unless --format says otherwise"
	}
	msg := fmt.Sprintf("none of the %d rows of %s could be decoded as %s (every one was rejected at decode; see the rejects)", st.Rows, name, format)
	if guessed {
		msg += fmt.Sprintf(": %s; give --format csv or --format jsonl", hint)
	}
	return errors.New(msg)
}

func scoreRate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func scoreOpenIn(stdin io.Reader, path string) (io.Reader, func(), error) {
	if path == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("input: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func scoreCreateOut(stdout io.Writer, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("output: %w", err)
	}
	return f, f.Close, nil
}

// scoreIsTerminal reports whether w is a character device (a terminal),
// without a dependency on x/term.
func scoreIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
