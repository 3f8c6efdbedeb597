package main

import (
	"github.com/spf13/cobra"

	"github.com/streamscore/streamscore/scoring"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate BUNDLE",
		Short: "Check a model bundle and print a summary",
		Long: `validate loads a bundle directory the way the service does: strict manifest
(unknown keys are errors), feature spec, model structure (node indices in range,
no cycles, finite thresholds, bounded sizes) and that feature columns, model
inputs and classes agree. It prints a one-screen summary, or one error line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := scoring.Load(args[0])
			if err != nil {
				return err
			}
			return b.WriteSummary(cmd.OutOrStdout())
		},
	}
}
