package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Fetch errors are logged at most once per fetchErrorLogEvery for each
// topic, partition and error, with the number left out since: a fetch error
// that does not go away comes back at every poll (tens of thousands of times
// a second), and one line per poll would fill the disk. A poll that brought
// errors and no records waits fetchErrorPause before the next, so a lasting
// error does not spin the poll loop either.
const (
	fetchErrorLogEvery = 10 * time.Second
	fetchErrorPause    = 250 * time.Millisecond
	// topicCheckEvery bounds how often an unknown-topic fetch error makes
	// the processor ask the cluster whether the input topic is still there.
	topicCheckEvery = time.Second
)

// fetchErrors handles the errors of the poll loop's fetches. It belongs to
// the poll loop's goroutine.
type fetchErrors struct {
	p         *Processor
	logged    map[fetchErrorKey]*fetchErrorLog
	checkedAt time.Time
}

type fetchErrorKey struct {
	topic     string
	partition int32
	err       string
}

type fetchErrorLog struct {
	at      time.Time
	dropped int
}

// handle logs the poll's fetch errors (rate-limited) and stops the
// processor when the input topic was deleted, or deleted and re-created:
// franz-go never follows a re-created topic (its new topic id), so the
// service would otherwise log fetch errors for ever and score nothing while
// /readyz says ready. It waits fetchErrorPause when the poll had errors but
// no records.
func (f *fetchErrors) handle(ctx context.Context, fetches kgo.Fetches) {
	errs, records := 0, 0
	unknownTopic := false
	fetches.EachError(func(t string, part int32, err error) {
		errs++
		f.log(t, part, err)
		if t == f.p.cfg.InputTopic && (errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition)) {
			unknownTopic = true
		}
	})
	if errs == 0 {
		return
	}
	if unknownTopic && time.Since(f.checkedAt) >= topicCheckEvery {
		f.checkedAt = time.Now()
		if err := f.p.inputTopicGone(ctx); err != nil {
			f.p.fail(err)
		}
	}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) { records += len(fp.Records) })
	if records == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(fetchErrorPause):
		}
	}
}

func (f *fetchErrors) log(topic string, partition int32, err error) {
	if f.logged == nil {
		f.logged = map[fetchErrorKey]*fetchErrorLog{}
	}
	k := fetchErrorKey{topic, partition, err.Error()}
	l := f.logged[k]
	if l != nil && time.Since(l.at) < fetchErrorLogEvery {
		l.dropped++
		return
	}
	args := []any{"topic", topic, "partition", partition, "err", err}
	if l != nil && l.dropped > 0 {
		args = append(args, "repeated", l.dropped, "since", l.at.UTC().Format(time.RFC3339))
	}
	f.p.log.Warn("fetch error", args...)
	f.logged[k] = &fetchErrorLog{at: time.Now()}
}

// inputTopicGone asks the cluster about the input topic: an error saying it
// is gone, or was re-created under a new topic id; nil when it is as it was
// (the unknown-topic error was a moment of metadata catching up) or the
// cluster could not be asked.
func (p *Processor) inputTopicGone(ctx context.Context) error {
	t := p.cfg.InputTopic
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(p.eng.client()).ListTopics(ctx, t)
	if err != nil {
		return nil // not reachable: the fetch errors say so, the lag refresh too
	}
	switch d, ok := topics[t]; {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("input.topic %q was deleted while streamscore consumed it: re-create it and restart streamscore", t)
	case d.Err != nil:
		return nil
	case d.ID != (kadm.TopicID{}) && p.inputID != (kadm.TopicID{}) && d.ID != p.inputID:
		return fmt.Errorf("input.topic %q was deleted and re-created while streamscore consumed it (topic id %s, was %s): "+
			"a Kafka client does not follow a re-created topic; delete group %q's offsets of the old topic "+
			"(kafka-consumer-groups.sh --delete-offsets), else records of the new one below them are skipped, and restart streamscore",
			t, d.ID, p.inputID, p.cfg.Group)
	}
	return nil
}
