// Command streamscore turns a Kafka topic of events into a Kafka topic of
// predictions, applying a saved feature pipeline and model bundle.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run()) }

// run executes the command line and returns the exit code. The first
// SIGINT/SIGTERM cancels the context (graceful stop); a second one exits at
// once.
func run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "streamscore: stopping (signal again to exit at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "streamscore: second signal, exiting now")
		os.Exit(130)
	}()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "streamscore: "+err.Error())
		return 1
	}
	return 0
}
