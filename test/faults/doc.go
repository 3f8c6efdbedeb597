// Package faults holds the fault tests of streamscore: the built binary runs
// as subprocesses against a dedicated, real Apache Kafka broker while the
// tests SIGKILL the service, SIGKILL and restart the broker, scale the
// consumer group and mix in poison records, then count every record.
//
// The tests are behind the build tag "faults"; run them with `make test-faults`
// (see README.md in this directory for the command and the environment).
package faults
