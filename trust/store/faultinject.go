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
// time a batch reaches STEP: "written" (every temporary written, nothing
// synced or renamed), "root" (a root renamed into place), "pin" (a pin
// renamed into place).
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
