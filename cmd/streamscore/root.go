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
	root.AddCommand(newScoreCmd(), newValidateCmd(), newServeCmd(), newSinkCmd())
	return root
}

func newConfigCmd() *cobra.Command {
	var flags *configFlags
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration as run does and print it (secrets redacted)",
		Long: `config loads and validates the configuration exactly as run does (defaults, the
--config file, STREAMSCORE_* variables, flags) and prints the effective values
as YAML, secrets redacted. A configuration run would reject is an error here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load()
			if err != nil {
				return err
			}
			if err := cfg.checkRunnable(); err != nil {
				return err
			}
			out, err := configYAML(cfg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	flags = addConfigFlags(cmd.Flags(), defaultConfig(), serviceSections...)
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
