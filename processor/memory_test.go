package processor

import (
	"strings"
	"testing"
)

// TestMemorySizes: every buffer that grows with traffic is sized from the
// one budget, and GOMEMLIMIT, when set, caps it and takes the GC limit over.
func TestMemorySizes(t *testing.T) {
	c := DefaultConfig()
	tests := []struct {
		name       string
		budget     int
		gomemlimit int64
		want       MemorySizes
	}{
		{"default", 256 << 20, 0, MemorySizes{Budget: 256 << 20, GCLimit: 256 << 20, FetchMaxBytes: 8 << 20, FetchMaxPartitionBytes: 2 << 20, InflightBytes: 32 << 20}},
		{"GOMEMLIMIT lower caps it", 256 << 20, 128 << 20, MemorySizes{Budget: 128 << 20, FetchMaxBytes: 4 << 20, FetchMaxPartitionBytes: 1 << 20, InflightBytes: 16 << 20}},
		{"GOMEMLIMIT higher", 256 << 20, 1 << 30, MemorySizes{Budget: 256 << 20, FetchMaxBytes: 8 << 20, FetchMaxPartitionBytes: 2 << 20, InflightBytes: 32 << 20}},
		{"in-flight holds the largest record", 32 << 20, 0, MemorySizes{Budget: 32 << 20, GCLimit: 32 << 20, FetchMaxBytes: 1 << 20, FetchMaxPartitionBytes: 256 << 10, InflightBytes: 4 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.MemoryBudget = tt.budget
			if got := c.Memory(tt.gomemlimit); got != tt.want {
				t.Errorf("Memory(%d) = %+v, want %+v", tt.gomemlimit, got, tt.want)
			}
		})
	}
}

func TestMemoryBudgetValidated(t *testing.T) {
	c := DefaultConfig()
	c.InputTopic, c.OutputTopic, c.DLQTopic, c.Group = "in", "out", "dlq", "g"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.MemoryBudget = 16 << 20
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "processor.memory_budget 16777216: must be at least 33554432") {
		t.Errorf("budget of 16 MiB: %v, want the budget named with its minimum", err)
	}
	c.MemoryBudget, c.MaxRecordBytes = 32<<20, 8<<20
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "must be at least 67108864") {
		t.Errorf("budget below 8 records of max_record_bytes: %v", err)
	}
}
