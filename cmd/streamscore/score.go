package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/batch"
)

func newScoreCmd() *cobra.Command {
	var bundleDir, inPath, outPath, rejectsPath, inFormat string
	cmd := &cobra.Command{
		Use:   "score --bundle DIR --in FILE [--out FILE] [--rejects FILE]",
		Short: "Score a CSV or JSON Lines file with a bundle",
		Long: `score runs the bundle's features and model over a file, with the same code as
the stream. Input is CSV with a header (*.csv) or JSON Lines (anything else, or
--format); "-" reads stdin. Output is JSON Lines, or CSV when --out ends in .csv;
default stdout. Rows that cannot be scored go to --rejects (JSON Lines with row
number, reason and feature) or, without it, into the output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := scoring.Load(bundleDir)
			if err != nil {
				return err
			}
			in, closeIn, err := scoreOpenIn(inPath)
			if err != nil {
				return err
			}
			defer closeIn()
			if inFormat == "" {
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
			opt := batch.Options{InFormat: inFormat, OutFormat: batch.FormatOf(outPath)}
			start := time.Now()
			tty := scoreIsTerminal(os.Stderr)
			var last time.Time
			if tty {
				opt.Progress = func(st batch.Stats) {
					if now := time.Now(); now.Sub(last) >= 250*time.Millisecond {
						last = now
						fmt.Fprintf(os.Stderr, "\rscored %d rows (%d rejected), %.0f rows/s ", st.Rows, st.Rejected, scoreRate(st.Rows, now.Sub(start)))
					}
				}
			}
			st, runErr := batch.Run(cmd.Context(), b, in, out, rejects, opt)
			errOut, errRej := closeOut(), closeRej()
			if tty {
				fmt.Fprintf(os.Stderr, "\rscored %d rows (%d rejected), %.0f rows/s\n", st.Rows, st.Rejected, scoreRate(st.Rows, time.Since(start)))
			}
			for _, err := range []error{runErr, errOut, errRej} {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&bundleDir, "bundle", "", "bundle directory (required)")
	f.StringVar(&inPath, "in", "", `input file, CSV or JSON Lines; "-" for stdin (required)`)
	f.StringVar(&outPath, "out", "", "output file (JSON Lines, or CSV for *.csv); default stdout")
	f.StringVar(&rejectsPath, "rejects", "", "file for rejected rows (JSON Lines); default: into the output")
	f.StringVar(&inFormat, "format", "", "input format: csv or jsonl (default: from the --in extension)")
	_ = cmd.MarkFlagRequired("bundle")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

func scoreRate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func scoreOpenIn(path string) (io.Reader, func(), error) {
	if path == "-" {
		return os.Stdin, func() {}, nil
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

// scoreIsTerminal reports whether f is a character device (a terminal), without a
// dependency on x/term.
func scoreIsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
