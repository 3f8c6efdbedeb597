package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "streamscore",
		Short: "Real-time ML predictions on Kafka",
		Long: `streamscore reads events from a Kafka topic, applies the feature pipeline and
model saved at training time (a model bundle), and writes one prediction per
event to an output topic. Records it cannot score go to a dead-letter topic.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newDemoCmd(), newConfigCmd(), newVersionCmd(), newProduceCmd(), newBenchCmd())
	root.AddCommand(newScoreCmd(), newValidateCmd())
	root.AddCommand(newSinkCmd())
	return root
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := effectiveYAML(cmd.Flags())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "streamscore %s (%s, %s)\n", version, revision(), runtime.Version())
		},
	}
}

// revision is the VCS commit the binary was built from, when known.
func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
