// Package proctest is the subprocess harness of the black-box test suites
// (test/e2e, test/interop, test/security, test/faults): it starts the built
// streamscore binary and the tools around it as bounded child processes,
// collects their output, stops them in t.Cleanup (SIGTERM, then SIGKILL) and
// prints their output when the test fails. It writes a service's config file
// (WriteConfig, or WriteConfigFile at a path of the test's; BaseKeys and
// MergeKeys for its keys) and the other files it reads (TempFile), waits for and
// reads its JSON log lines (WaitLog, LogLine, LogLines) and stops it
// expecting a clean exit (StopClean). The fault suite also kills them (Kill),
// signals them (Signal) and waits without failing (ExitedWithin). It polls
// conditions with a deadline (Eventually), makes one HTTP call and reads
// its answer whole (HTTP, HTTPDo), finds the binary under test
// (Binary: STREAMSCORE_TEST_BIN, or a one-off go build) and is the suites'
// TestMain (Main).
//
// It is a test helper for other packages' tests; production code must not
// import it.
package proctest
