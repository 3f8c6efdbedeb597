package drift

import (
	"math"
	"sync"
	"time"
)

// Slots is how many steps a Window keeps. It forgets its oldest step whole,
// so it spans between (Slots-1)/Slots of its length and all of it.
const Slots = 30

// Window sums bin counts over the last length of time: a ring of Slots
// steps of length/Slots each, every step the counts added during it. Its
// memory is fixed when it is made (Slots x the bundle's bins). It is safe
// for concurrent use: the stream's workers add to it once per micro-batch,
// and a reader sums it every few seconds.
type Window struct {
	h    *Histograms
	step int64 // nanoseconds per slot
	mu   sync.Mutex
	num  [Slots]int64 // the step number (unix nanoseconds / step) each slot holds
	ring [Slots]Counts
}

// NewWindow returns an empty window of the given length (at least Slots
// nanoseconds) for counts of h.
func NewWindow(h *Histograms, length time.Duration) *Window {
	w := &Window{h: h, step: max(int64(length)/Slots, 1)}
	for i := range w.ring {
		w.num[i] = math.MinInt64
		w.ring[i] = *h.NewCounts()
	}
	return w
}

// Add adds what cur counted since seen (both cumulative counts of one
// counter, made for the window's Histograms) to the step of now, then sets
// seen to cur. Counts of other Histograms are not added: Add returns false.
func (w *Window) Add(now time.Time, cur, seen *Counts) bool {
	if !cur.Of(w.h) || !seen.Of(w.h) {
		return false
	}
	w.mu.Lock()
	s := w.slot(now.UnixNano() / w.step)
	s.Rows += cur.Rows - seen.Rows
	s.Scores += cur.Scores - seen.Scores
	for i, v := range cur.Bins {
		s.Bins[i] += v - seen.Bins[i]
	}
	w.mu.Unlock()
	seen.setTo(cur)
	return true
}

// Skip sets seen to cur without adding the difference: those counts are
// not to be windowed (they will be counted again). Counts of other
// Histograms are left alone: Skip returns false.
func (w *Window) Skip(cur, seen *Counts) bool {
	if !cur.Of(w.h) || !seen.Of(w.h) {
		return false
	}
	seen.setTo(cur)
	return true
}

func (c *Counts) setTo(o *Counts) {
	c.Rows, c.Scores = o.Rows, o.Scores
	copy(c.Bins, o.Bins)
}

// slot returns the ring slot of step n, emptied if it held an older step.
func (w *Window) slot(n int64) *Counts {
	i := n % Slots
	if i < 0 {
		i += Slots
	}
	s := &w.ring[i]
	if w.num[i] != n {
		w.num[i] = n
		s.Rows, s.Scores = 0, 0
		clear(s.Bins)
	}
	return s
}

// Sum sets into (made by NewCounts of the same Histograms) to the counts of
// the window as of now: the steps that are less than Slots steps old.
func (w *Window) Sum(now time.Time, into *Counts) {
	n := now.UnixNano() / w.step
	into.Rows, into.Scores = 0, 0
	clear(into.Bins)
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.ring {
		if age := n - w.num[i]; age < 0 || age >= Slots {
			continue
		}
		s := &w.ring[i]
		into.Rows += s.Rows
		into.Scores += s.Scores
		for j, v := range s.Bins {
			into.Bins[j] += v
		}
	}
}
