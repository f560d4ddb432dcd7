package fsutil

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// Each calls every index once, and reports the lowest failing index
// whatever the order the workers ran in.
func TestEach(t *testing.T) {
	var calls [1000]atomic.Int32
	if err := Each(len(calls), func(i int) error { calls[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Fatalf("index %d called %d times", i, n)
		}
	}
	for range 20 {
		err := Each(1000, func(i int) error {
			if i == 10 || i == 500 {
				return fmt.Errorf("failed at %d", i)
			}
			return nil
		})
		if err == nil || err.Error() != "failed at 10" {
			t.Fatalf("error: %v", err)
		}
	}
}
