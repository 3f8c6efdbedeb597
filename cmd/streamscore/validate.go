package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/scoring"
)

func newValidateCmd() *cobra.Command {
	var bundleDir string
	cmd := &cobra.Command{
		Use:   "validate [BUNDLE]",
		Short: "Check a model bundle, and score its reference rows as the stream would",
		Long: `validate loads a bundle directory the way the service does: strict manifest
(unknown keys are errors), feature spec, model structure (node indices in range,
no cycles, finite thresholds, bounded sizes) and that feature columns, model
inputs and classes agree. It prints a one-screen summary.

When the bundle has reference.jsonl (the exporter writes it: events and the
training library's own predictions, and records the file's row count and
sha256 in bundle.json, so that loading refuses a copy of it cut short; a
bundle.json that records none is warned about), validate scores every reference event
through the stream's own path (the JSON decoder, features, model, policy and
the JSON prediction encoder) and compares: the worst difference, how many
outputs are not bit-identical, and every row past the tolerance (1e-6 on
probabilities and regression values). It exits non-zero on any mismatch.

The bundle is the argument or --bundle, as for score.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := scoreBundleDir(args, bundleDir, "")
			if err != nil {
				return err
			}
			return validate(cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&bundleDir, "bundle", "", "bundle directory (or give it as the argument)")
	return cmd
}

// validate prints the summary of the bundle in dir (or a builtin bundle,
// which carries no reference rows) and checks it against its reference rows.
func validate(w io.Writer, dir string) error {
	b, err := loadBundle(dir)
	if err != nil {
		return err
	}
	if err := b.WriteSummary(w); err != nil {
		return err
	}
	if isBuiltinBundle(dir) {
		fmt.Fprintf(w, "reference  none (the built-in bundle carries no %s: validate examples/fraud for the reference check)\nok\n", scoring.ReferenceFile)
		return nil
	}
	recorded := b.Manifest.Reference // Load checked the file against it
	refs, err := scoring.ReadReference(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if recorded != nil {
			fmt.Fprintf(w, "reference  none (bundle.json records %d rows of %s, but the file is not here: nothing to compare with the training library)\nok\n",
				recorded.Rows, scoring.ReferenceFile)
			return nil
		}
		fmt.Fprintf(w, "reference  none (no %s: nothing to compare with the training library)\nok\n", scoring.ReferenceFile)
		return nil
	}
	if err != nil {
		return err
	}
	if recorded == nil {
		fmt.Fprintf(w, "warning    bundle.json records no row count or sha256 of %s: a copy of it cut short would be checked on the rows left (export the bundle again to record them)\n",
			scoring.ReferenceFile)
	}
	rep, err := predict.CheckBundle(b, refs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "reference  %d rows (%d scored, %d rejected), scored through the stream's decoder and encoder\n",
		rep.Rows, rep.Scored, rep.Rejected)
	// A classifier is held to its probabilities, a regressor to its score's
	// relative error: the line names the one that applies.
	worst := fmt.Sprintf("worst |probability diff| %.3g", rep.WorstProb)
	if b.Task() == scoring.TaskRegression {
		worst = fmt.Sprintf("worst relative score diff %.3g", rep.WorstRelative)
	}
	fmt.Fprintf(w, "           %s; %d outputs not bit-identical\n", worst, rep.Inexact)
	for i, m := range rep.Mismatches {
		if i == 20 {
			fmt.Fprintf(w, "mismatch   ... and %d more\n", len(rep.Mismatches)-i)
			break
		}
		fmt.Fprintf(w, "mismatch   line %d (%s): %s\n", m.Row.Line, m.Row.Note, m.What)
	}
	if !rep.OK() {
		return fmt.Errorf("bundle %s: %d of %d reference rows disagree with the training library", dir, len(rep.Mismatches), rep.Rows)
	}
	fmt.Fprintln(w, "ok")
	return nil
}
