//go:build faultinject

// Test-only: built with -tags faultinject, never into the keyrite that
// goes into the room. The crash tests build keyrite with it to kill the
// process with SIGKILL in the middle of writing a batch of pins.

package store

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// KEYRITE_FAULTINJECT_PINS=STEP:K kills the process (SIGKILL) at the K-th
// time a write of the store reaches STEP: "pack" (the batch's pack
// written and fsynced, state.json not written), "state" (the new state
// written beside its place and fsynced, not renamed), "renamed" (the new
// state.json renamed into place, the directory not fsynced).
var (
	faultMu     sync.Mutex
	faultCounts = map[string]int{}
	faultStep   string
	faultAt     int
)

func init() {
	step, k, ok := strings.Cut(os.Getenv("KEYRITE_FAULTINJECT_PINS"), ":")
	if n, err := strconv.Atoi(k); ok && err == nil {
		faultStep, faultAt = step, n
	}
}

func faultPoint(step string) {
	if faultStep != step {
		return
	}
	faultMu.Lock()
	faultCounts[step]++
	n := faultCounts[step]
	faultMu.Unlock()
	if n == faultAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
