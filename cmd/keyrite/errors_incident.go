package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/recovery"
	"github.com/keyrite/keyrite/trust"
)

// incidentHint covers the incident paths and revoke.
func incidentHint(err error) (int, string, bool) {
	var (
		mdel   *trust.MissingDelegationError
		signer *recovery.SignerNotFoundError
		keep   *recovery.KeepError
		tag    *recovery.TagNotFoundError
		skey   *recovery.SignerKeyError
		thr    *trust.ThresholdError
		keys   *session.MissingKeysError
	)
	switch {
	case errors.As(err, &mdel):
		return exitVerifyKO, fmt.Sprintf("nothing was signed: fetch the request bundle again with this keyrite (keyrite fetch brings every delegation role the snapshot lists); if it still lacks %s, the online machine is leaving it out: do not trust it", mdel.Role), true
	case errors.As(err, &signer):
		return exitFailed, fmt.Sprintf("docker trust inspect %s lists the signers (the NAME of targets/NAME); nothing was signed", signer.GUN), true
	case errors.As(err, &keep):
		return exitFailed, "--keep names tags from the review keyrite printed (the TAG column); nothing was signed", true
	case errors.As(err, &tag):
		return exitFailed, fmt.Sprintf("docker trust inspect %s lists its tags; nothing was signed", tag.GUN), true
	case errors.As(err, &skey):
		return exitFailed, "give the private key file docker trust key generate wrote (~/.docker/trust/private/KEYID.key) and its passphrase", true
	case errors.As(err, &thr):
		return exitFailed, "give a new key for the role, or have its other holders sign; nothing was signed", true
	case errors.As(err, &keys) && strings.HasPrefix(keys.Role, "targets/"):
		return exitFailed, fmt.Sprintf("bring a threshold of %s's keys: --key URI for a device key, --signer-key FILE for a docker signer key; nothing was signed", keys.Role), true
	}
	return 0, "", false
}
