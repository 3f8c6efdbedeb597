package kafkatest

import "go.uber.org/goleak"

// IgnoreClosing are goleak options for the goroutines that franz-go
// clients and kfake clusters closed by t.Cleanup (and pgx pools) may leave
// winding down for a moment: the TestMain of a package that uses them is
// goleak.VerifyTestMain(m, kafkatest.IgnoreClosing()...).
func IgnoreClosing() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kgo.(*Client).updateMetadataLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	}
}
