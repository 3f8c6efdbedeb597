// Package proctest is the subprocess harness of the black-box test suites
// (test/e2e, test/interop): it starts the built streamscore binary and the
// tools around it as bounded child processes, collects their output, stops
// them in t.Cleanup (SIGTERM, then SIGKILL) and prints their output when the
// test fails. It also polls conditions with a deadline (Eventually) and finds
// the binary under test (Binary: STREAMSCORE_TEST_BIN, or a one-off go build).
//
// It is a test helper for other packages' tests; production code must not
// import it.
package proctest
