package processor

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTrackerMarksOnlyTheAcknowledgedPrefix: acknowledgements come back in
// any order (outputs go to different partitions and topics); the marked
// offset must never pass a record whose output is not acknowledged.
func TestTrackerMarksOnlyTheAcknowledgedPrefix(t *testing.T) {
	// Three batches of a partition: offsets 0-1 (2 outputs), 2 (1), 3-5 (3).
	// An event is "b.i": output i of batch b acknowledged, or "b.h": batch b
	// fully handed to the producer (the +1 the worker holds).
	type batch struct{ last int64 }
	batches := []batch{{1}, {2}, {5}}
	tests := []struct {
		name   string
		events []string
		want   []int64 // marked offsets, in order
	}{
		{"in order", []string{"0.h", "0.0", "0.1", "1.h", "1.0", "2.h", "2.0", "2.1", "2.2"}, []int64{2, 3, 6}},
		{"later batch first", []string{"1.h", "1.0", "2.h", "2.0", "2.1", "2.2", "0.h", "0.0", "0.1"}, []int64{6}},
		{"middle waits for the head", []string{"0.h", "1.h", "1.0", "0.0", "2.h", "2.0", "2.1", "2.2", "0.1"}, []int64{6}},
		{"head only", []string{"0.h", "0.1", "0.0", "1.h", "2.h", "2.0"}, []int64{2}},
		{"handed over last", []string{"0.0", "0.1", "1.0", "0.h", "1.h"}, []int64{2, 3}},
		{"nothing complete", []string{"0.0", "1.0", "1.h", "2.h", "2.0", "2.1", "2.2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			tr := newTracker(func(o kgo.EpochOffset) { got = append(got, o.Offset) })
			acks := make([]*batchAck, len(batches))
			first := int64(0)
			for i, b := range batches {
				acks[i] = tr.add(&kgo.Record{Offset: b.last, LeaderEpoch: 1}, int(b.last-first+1))
				first = b.last + 1
			}
			for _, ev := range tt.events {
				var b int
				var what string
				if _, err := fmt.Sscanf(ev, "%d.%s", &b, &what); err != nil {
					t.Fatalf("event %q: %v", ev, err)
				}
				acks[b].done()
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("marked %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTrackerAbandonAndClose: an abandoned last batch is never marked but
// does not hold up the wait for the batches before it; after close nothing
// is marked any more.
func TestTrackerAbandonAndClose(t *testing.T) {
	var got []int64
	tr := newTracker(func(o kgo.EpochOffset) { got = append(got, o.Offset) })
	a := tr.add(&kgo.Record{Offset: 9}, 1)
	b := tr.add(&kgo.Record{Offset: 19}, 1)
	tr.abandon(b)
	a.done()
	a.done()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !tr.wait(ctx) {
		t.Fatalf("wait: batches still pending after the only live one completed")
	}
	if fmt.Sprint(got) != "[10]" {
		t.Errorf("marked %v, want [10] (the abandoned batch never)", got)
	}

	c := tr.add(&kgo.Record{Offset: 29}, 1)
	if tr.wait(ctx) {
		t.Errorf("wait with a pending batch and a cancelled context = true, want false")
	}
	tr.close()
	c.done()
	c.done()
	if fmt.Sprint(got) != "[10]" {
		t.Errorf("marked %v after close, want [10]", got)
	}
}
