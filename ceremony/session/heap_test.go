package session

import (
	"runtime/debug"
	"testing"
)

// lowerHeapPeak halves the collector's heap growth until restored, and
// leaves alone a GOGC the operator set.
func TestLowerHeapPeak(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	restore := lowerHeapPeak()
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("while lowered: GC percent %d, want 50", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("restored: GC percent %d, want 100", got)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	lowerHeapPeak()()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("with GOGC set: GC percent %d, want 200", got)
	}
}
