package main

import (
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
)

// touchPolicyBatch says, when a key is generated on a YubiKey, what its
// touch policy costs in a batch: the operator chooses it once, and lives
// with it in every ceremony the key signs in.
func touchPolicyBatch(policy string) string {
	switch policy {
	case "cached":
		return fmt.Sprintf("touch policy cached: a touch lets the key sign for %s; a batch asks one touch per %s of signing (init of 100 GUNs: a handful), and in that window the key signs without one",
			yubikey.TouchCache, yubikey.TouchCache)
	case "never":
		return "touch policy never: the key signs without a touch; whoever holds the YubiKey and its PIN signs anything, and nobody notices"
	}
	return "touch policy always: every signature waits for a touch; as a root key, init and refresh sign twice per GUN (200 touches for 100 GUNs); --touch-policy cached asks one touch per 15 seconds of signing instead, for a batch"
}

// sayTouchPolicy prints touchPolicyBatch for a key made on a YubiKey.
func (a *App) sayTouchPolicy(device, policy string) {
	u, err := hsm.ParseURI(device)
	if err != nil || u.Scheme != yubikey.Scheme {
		return
	}
	fmt.Fprintf(a.Stderr, "keyrite: %s\n", touchPolicyBatch(policy))
}
