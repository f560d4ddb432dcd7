//go:build faultinject

// Test-only: built with -tags faultinject, never into the keyrite that
// goes into the room. The crash tests build keyrite with it to kill the
// process with SIGKILL between the steps of writing a signed bundle.

package session

import (
	"os"
	"syscall"
)

// KEYRITE_FAULTINJECT_WRITE=STEP kills the process (SIGKILL) when the
// write of a signed bundle reaches STEP: "staged" (written beside its
// place, read back and verified; not renamed into place yet).
func faultPoint(step string) {
	if os.Getenv("KEYRITE_FAULTINJECT_WRITE") == step {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
