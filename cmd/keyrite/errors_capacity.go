package main

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/ceremony/session"
)

// capacityHint covers a device too small for what a command creates and
// PIN files that do not say which device they belong to.
func capacityHint(err error) (int, string, bool) {
	var (
		capErr *session.CapacityError
		pinErr *pinFileError
	)
	switch {
	case errors.As(err, &capErr):
		return exitFailed, capacityOptions(capErr), true
	case errors.As(err, &pinErr):
		return exitUsage, pinErr.hint(), true
	}
	return 0, "", false
}

// capacityOptions names the ways out, in the command's own flags.
func capacityOptions(e *session.CapacityError) string {
	list := fmt.Sprintf("keyrite key list --device %s shows what holds the slots; keyrite key delete URI frees one", e.Device)
	switch e.Kind {
	case session.NeedTargetsPerGUN:
		n := "none"
		if e.Free > 0 {
			n = fmt.Sprintf("at most %d", e.Free)
		}
		return fmt.Sprintf("put the targets keys elsewhere: --targets-placement batch (one targets key for all the GUNs of this run on this device), "+
			"--targets-device URI (per-GUN keys on a PKCS#11 token), or --targets-key URI (one existing key); or init %s GUN(s) per run; %s", n, list)
	case session.NeedTargetsBatch:
		return "--targets-device URI puts the targets key on another device, --targets-key URI uses an existing key; " + list
	case session.NeedKey:
		if e.Slot != "" {
			return "name a free slot in --device (slot=82 ... 95 or 9a, 9c, 9d, 9e); " + list
		}
		return list
	}
	return list + "; or choose another device"
}
