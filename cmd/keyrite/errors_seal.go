package main

import (
	"errors"

	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
)

// sealHint covers the transcript's witnesses, the plan an auditor holds
// and a key record that could not be written.
func sealHint(err error) (int, string, bool) {
	var (
		wit   *verify.WitnessError
		audit *verify.AuditError
		rec   *ceremony.KeyRecordError
	)
	switch {
	case errors.As(err, &wit):
		return exitVerifyKO, "the witness signs this very bundle's transcript.head: ssh-keygen -Y sign -n keyrite-transcript -f KEY transcript.head (or keyrite transcript witness --key URI); a bundle whose witness signature fails is not to be trusted as witnessed", true
	case errors.As(err, &audit):
		return exitVerifyKO, "this transcript is not the record of the ceremony you were given to check: compare the plan and the witnesses' keys with your records", true
	case errors.As(err, &rec):
		return exitFailed, "the key is on the device (keyrite key list --device URI shows it); its generation was not recorded: write it down, or remove the key and generate another", true
	}
	return 0, "", false
}
