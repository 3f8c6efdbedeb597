package processor_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// TestInputTopicGoneStops: an input topic deleted (or deleted and
// re-created) while the processor consumes it stops Run with an error that
// says so. Before, the poll loop logged a "fetch error" line per partition
// at every poll (tens of thousands a second), never read the re-created
// topic (franz-go does not follow a new topic id) and stayed ready.
func TestInputTopicGoneStops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		delivery string
		recreate bool
		want     string
	}{
		{"re-created, at-least-once", processor.AtLeastOnce, true, "was deleted and re-created"},
		{"re-created, exactly-once", processor.ExactlyOnce, true, "was deleted and re-created"},
		{"deleted, at-least-once", processor.AtLeastOnce, false, "was deleted while streamscore consumed it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2)
			var logs proctest.LogBuffer
			e.log = slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := e.config(tc.delivery, kafkatest.UniqueName(t, "g"))
			p, err := processor.New(ctx, cfg, processor.KafkaConfig{Brokers: strings.Join(e.brokers, ","), ClientID: "test"},
				e.pipeline(), e.metrics, e.log)
			if err != nil {
				t.Fatalf("processor.New: %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			defer func() {
				cancel()
				<-done
			}()
			produceValid(t, e, 10, 1, 0)
			kafkatest.ConsumeN(t, e.brokers, e.out, 10)

			adm := kafkatest.Admin(t, e.brokers)
			if _, err := adm.DeleteTopic(ctx, e.in); err != nil {
				t.Fatalf("delete input topic: %v", err)
			}
			if tc.recreate {
				proctest.Eventually(t, 30*time.Second, "the input topic re-created", func() error {
					resp, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"max.message.bytes": new(strconv.Itoa(4 << 20))}, e.in)
					if err == nil {
						err = resp.Err
					}
					return err
				})
				produceValid(t, e, 5, 2, 0)
			}

			var runErr error
			proctest.Eventually(t, 60*time.Second, "Run returns", func() error {
				select {
				case runErr = <-done:
					done <- runErr // for the deferred wait
					return nil
				default:
					return fmt.Errorf("still running; ready=%v", p.Ready())
				}
			})
			if runErr == nil || !strings.Contains(runErr.Error(), tc.want) || !strings.Contains(runErr.Error(), e.in) {
				t.Fatalf("Run returned %v, want an error naming %s and saying it %s", runErr, e.in, tc.want)
			}
			if n := strings.Count(logs.String(), "fetch error"); n > 100 {
				t.Errorf("%d fetch error lines, want them rate-limited (at most one per partition and error every 10s)", n)
			}
		})
	}
}
