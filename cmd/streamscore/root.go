package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time (the Makefile passes git
// describe and the commit): -ldflags "-X main.version=v1.2.3 -X main.commit=...".
// Without them, the module version and VCS revision Go records in the binary
// are used, when there are any.
var (
	version = "dev"
	commit  = ""
)

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
			fmt.Fprintf(cmd.OutOrStdout(), "streamscore %s (module %s, commit %s, %s)\n", buildVersion(), moduleVersion(), revision(), runtime.Version())
		},
	}
}

// buildVersion is the version set at build time, else the module version
// (a binary from `go install ...@v1.2.3`), else "dev".
func buildVersion() string {
	if version != "dev" && version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// moduleVersion is the main module and its version as Go recorded them:
// "(devel)" for a build from a work tree.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Path + "@" + bi.Main.Version
	}
	return "unknown"
}

// revision is the VCS commit the binary was built from: the one set at
// build time, else the one Go recorded (-buildvcs), "-dirty" when the tree
// had changes; "unknown" without either.
func revision() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			return rev + "-dirty"
		}
		if rev != "" {
			return rev
		}
	}
	return "unknown"
}
