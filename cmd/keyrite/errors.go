package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/backup/paper"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/journal"
	"github.com/keyrite/keyrite/internal/regcreds"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/recovery"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
)

// classify maps an error to an exit code and a hint telling the operator
// what to do next. A device error that carries its backend's own hint
// (hsm.AuthError.Hint, hsm.HintError) shows that hint rather than the
// generic one: the backend knows its device's tools and states.
//
// The groups are tried in order: an operation's own conditions (which may
// wrap device errors) first, generic not-found and exists last.
func classify(err error) (int, string) {
	for _, group := range []func(error) (int, string, bool){ceremonyHint, caHint, secretFileHint, capacityHint, incidentHint, operationHint, backupHint, deviceHint, bundleHint, genericHint} {
		if code, hint, ok := group(err); ok {
			return code, hint
		}
	}
	return exitFailed, ""
}

// secretFileHint covers a PIN, passphrase or identity file that others may
// read or write: first, whatever wraps it (a device's login, a share).
func secretFileHint(err error) (int, string, bool) {
	var perm *fsutil.PermissionError
	if errors.As(err, &perm) {
		return exitFailed, fmt.Sprintf("chmod 600 %s (keyrite uses no secret file others may read or write); nothing was done", perm.Path), true
	}
	return 0, "", false
}

// rehearsalRootHint is how a rehearsal on a virtual YubiKey gets its
// attestations accepted.
const rehearsalRootHint = "for a rehearsal on a virtual YubiKey, give --rehearsal-attestation-root FILE (its attestation root, e.g. DIR/ca/ca.pem of scripts/virtual-yubikey): everything written is then a rehearsal"

// operationHint covers the ceremonies' and recovery's own conditions.
func operationHint(err error) (int, string, bool) {
	var (
		conf   *session.ConfirmationError
		input  *session.MissingInputError
		notreq *session.NotInRequestError
		notsrv *session.NotOnServerError
		tkey   *ceremony.TargetsKeyExistsError
		natt   *ceremony.NotAttestedError
		aref   *ceremony.AttestationRefusedError
		imp    *ceremony.ImportError
		left   *session.LeftoversError
		rolled *ceremony.RolledBackError
		intr   *recovery.InterruptedGenerationError
		inuse  *ceremony.KeyInUseError
		jerr   *session.JournalError
	)
	var (
		chain  *trust.ChainError
		nott   *session.NotTrustedError
		hidden *session.HiddenRepoError
		srvkey *session.ServerKeyMismatchError
		plan   *session.PlanError
		unv    *session.UnvouchedKeysError
		dup    *trust.DuplicateKeyError
	)
	var corrupt *journal.CorruptError
	var notPinned *session.NotPinnedError
	var damaged *store.DamagedError
	switch {
	case errors.As(err, &damaged):
		return exitFailed, fmt.Sprintf("nothing was signed or pinned: the trust store %s does not hold what it recorded (a disk fault, or a file changed by hand); restore it from your copy, or make a new one (--trust-dir) from a trust export of a machine that follows these repositories (keyrite trust import DIR)", damaged.Dir), true
	case errors.As(err, &notPinned):
		return exitFailed, fmt.Sprintf("the bundle is good and its keys are kept: once the trust store can be written, pin its roots with keyrite trust import %s", notPinned.Bundle), true
	case errors.As(err, new(*store.LockedError)):
		return exitFailed, "nothing was pinned: another keyrite is writing this trust store and did not finish (find it with: fuser TRUSTDIR/.lock); let it finish or stop it, then run this again", true
	case errors.As(err, new(*importChainError)):
		return exitVerifyKO, "nothing was pinned: a root on this media does not follow the root trusted here; do not trust the media. If the repository was rotated in several ceremonies, import their bundles in order, or a trust export of a machine that followed them", true
	case errors.As(err, &chain):
		return exitVerifyKO, "nothing was signed: do not trust this request bundle; if the repository's root was rotated in a ceremony elsewhere, bring that ceremony's signed bundle and run keyrite trust import BUNDLE first", true
	case errors.As(err, &nott):
		return exitFailed, fmt.Sprintf("compare the root key IDs with your records, then pin the repository: keyrite trust import BUNDLE (a signed bundle of its last ceremony), or --trust-on-first-use %s=KEYID[,KEYID...]", nott.GUN), true
	case errors.As(err, &hidden), errors.As(err, &srvkey), errors.As(err, &unv):
		return exitVerifyKO, "nothing was signed: do not trust this request bundle; fetch it again from the server, and check the online machine", true
	case errors.As(err, &plan):
		return exitVerifyKO, "nothing was signed: the change planned from the request bundle is not the one asked for; do not trust this request bundle", true
	case errors.As(err, &dup):
		return exitFailed, "give keys that are distinct public keys: a backed-up key imported into two devices is one key, and counts once", true
	case errors.As(err, &corrupt):
		return exitFailed, fmt.Sprintf("%s is damaged: read what it names (the keys an interrupted run made), deal with those keys (keyrite key list, keyrite key delete), then move the file out of the journal directory", corrupt.Path), true
	case errors.As(err, &jerr):
		return exitFailed, "give keyrite a state directory it can write: --state-dir DIR (or XDG_STATE_HOME); keep the same one for the next runs on these devices", true
	case errors.As(err, &inuse):
		return exitFailed, "rotate the repository's root away from this key first (keyrite rotate root); --force deletes it anyway", true
	case errors.As(err, &intr):
		return exitFailed, interruptedHint(intr), true
	case errors.As(err, &left):
		return exitFailed, "deal with them first: run the command again with --clean-leftovers to destroy them, or --resume to reuse the ones marked (the others are destroyed); keyrite key delete URI removes one by hand", true
	case errors.As(err, &conf) && conf.Typed == "":
		return exitFailed, "nobody could be asked: run keyrite in a terminal to type the answer, or give it in advance (see the command's --help); nothing was changed", true
	case errors.As(err, &conf):
		return exitFailed, "check what you typed against the device or record and run the command again; nothing was changed", true
	case errors.As(err, &input):
		return exitFailed, inputHints[input.What], true
	case errors.As(err, &notreq):
		return exitFailed, fmt.Sprintf("fetch it first on the online machine: keyrite fetch --server URL -o NEW_DIR %s", notreq.GUN), true
	case errors.As(err, &notsrv):
		return exitFailed, "create it with keyrite init", true
	case errors.As(err, &tkey):
		return exitFailed, "pass --targets-key to reuse that key for every GUN, or remove it from the device", true
	case errors.As(err, &natt) && natt.Refused:
		return exitFailed, "--require-attestation accepts only an attestation that chains to Yubico's roots; " + rehearsalRootHint, true
	case errors.As(err, &natt):
		return exitFailed, "--require-attestation refuses root keys without a verified attestation: use keys made with keyrite key generate --mode attested", true
	case errors.As(err, &aref):
		return exitFailed, "a genuine YubiKey's attestation chains to Yubico's roots; " + rehearsalRootHint, true
	case errors.As(err, &imp):
		code, _ := classify(imp.Err)
		return code, fmt.Sprintf("the backup in %s is complete and verified: once the device is fixed, put the key on it with keyrite recover restore --to URI -o RECORD/ and the custodians' shares", imp.Backup), true
	case errors.Is(err, context.Canceled) && errors.As(err, &rolled):
		return exitFailed, "nothing of this run is left: run the command again when you are ready", true
	case errors.Is(err, context.Canceled):
		return exitFailed, "run the command again: it finds what this run left in its journal and asks what to do with it", true
	}
	return 0, "", false
}

// backupHint covers shares, custodians' identities and restored keys.
func backupHint(err error) (int, string, bool) {
	var (
		share  *backup.ShareError
		kmis   *recovery.KeyMismatchError
		ident  *backup.IdentityError
		thresh *backup.ThresholdError
		plug   *backup.PluginMissingError
		weak   *backup.WeakPassphraseError
	)
	switch {
	case errors.As(err, &share):
		return exitVerifyKO, "this share cannot be used: ask its custodian for an intact copy (its paper sheet restores it too), or use other custodians' shares", true
	case errors.As(err, &kmis):
		return exitVerifyKO, "do not use these shares for this key: check that they come from the right backup", true
	case errors.As(err, &ident):
		return exitFailed, "present the identity of the custodian whose share it is: --identity FILE, --plugin NAME, or the share's passphrase", true
	case errors.As(err, &thresh):
		return exitFailed, "bring the shares of more custodians; nothing was written", true
	case errors.As(err, &weak):
		return exitFailed, fmt.Sprintf("choose another passphrase for %s (%s); nothing was written", weak.Custodian, strings.Join(weak.Suggestions, " ")), true
	case errors.As(err, &plug):
		return exitFailed, fmt.Sprintf("install age-plugin-%s and put it in PATH, or choose another recipient for that custodian", plug.Plugin), true
	}
	return 0, "", false
}

// deviceHint covers PINs, passphrases and absent devices (exit 3).
func deviceHint(err error) (int, string, bool) {
	var (
		auth   *hsm.AuthError
		absent *hsm.DeviceAbsentError
	)
	switch {
	case errors.As(err, &auth):
		switch {
		case auth.Hint != "":
			return exitDevice, auth.Hint, true
		case auth.Blocked:
			return exitDevice, "the PIN is blocked: unblock it with the security officer PIN (PKCS#11) or the PUK (YubiKey) before the next attempt", true
		case auth.Retries == 1:
			return exitDevice, "one attempt is left before the PIN blocks; keyrite never retries by itself: check the PIN before you run the command again", true
		case auth.What == "passphrase":
			return exitDevice, "check the passphrase (or the --pin-file) and run the command again", true
		default:
			return exitDevice, "keyrite never retries a PIN by itself: check the PIN (or the --pin-file) before you run the command again", true
		}
	case errors.As(err, &absent):
		return exitDevice, "attach the device, or pick another with a URI from keyrite device list", true
	case errors.Is(err, term.ErrNoTerminal):
		return exitDevice, "run keyrite in a terminal, or give --pin-file FILE (mode 0600)", true
	}
	return 0, "", false
}

// bundleHint covers bundles, their verification, outputs and the server.
func bundleHint(err error) (int, string, bool) {
	var (
		inc    *verify.IncompleteError
		keys   *session.MissingKeysError
		last   *trust.ErrLastReleasesKey
		berr   *bundle.Error
		verr   *trust.VerifyError
		terr   *bundle.TranscriptError
		exists *ceremony.ExistsError
		output *fsutil.ExistsError
		ca     *bundle.CAFileError
		nohdr  *paper.NoHeaderError
		stale  *bundle.StaleError
		pub    *bundle.PublishError
		skey   *bundle.ServerKeyError
	)
	var (
		denied  *bundle.AuthError
		missing *bundle.NotFoundError
		cfile   *regcreds.FileError
		expire  *bundle.ExpiringError
	)
	if code, hint, ok := sealHint(err); ok {
		return code, hint, true
	}
	switch {
	case errors.As(err, &inc):
		return exitVerifyKO, "nothing was uploaded: the other holders add their signatures with keyrite sign BUNDLE --key URI -o NEW_DIR", true
	case errors.As(err, &keys):
		return exitFailed, fmt.Sprintf("bring the %s keys with the IDs listed (--root-key URI for each); keyrite key list --device URI shows a device's key IDs", keys.Role), true
	case errors.As(err, &last):
		return exitFailed, "add another signer first, or pass --force if the repository should accept no new tags", true
	case errors.As(err, &skey):
		return exitVerifyKO, "do not use this request bundle, nor anything made from it: notary-server never serves such a key; fetch it again, and check the online machine that fetched it", true
	case errors.As(err, &berr), errors.As(err, &verr), errors.As(err, &terr):
		return exitVerifyKO, "do not publish or use this bundle; make it again from the request bundle", true
	case errors.As(err, &exists):
		return exitFailed, fmt.Sprintf("init only creates repositories: change %s with keyrite refresh, rotate or signer from a request bundle fetched again", exists.GUN), true
	case errors.As(err, &output):
		if output.What == "sheet" {
			return exitFailed, "keyrite never overwrites an output: choose a new -o file", true
		}
		return exitFailed, "keyrite never overwrites an output: choose a new -o directory", true
	case errors.As(err, &ca):
		return exitFailed, "--tls-ca must name a PEM file holding the certificate of the CA that signed the notary server's certificate", true
	case errors.As(err, &nohdr):
		return exitFailed, "print the share file keyrite wrote, not the armored text alone", true
	case errors.As(err, &expire):
		return exitFailed, "renew them before they expire: keyrite fetch, then keyrite refresh (root and targets) offline; a delegation is renewed by its signer publishing again", true
	case errors.As(err, &missing):
		return exitFailed, "check the path: a bundle is the directory or .tar file that keyrite fetch, init, sign or trust export wrote", true
	case errors.As(err, &denied):
		return exitFailed, authHint(denied), true
	case errors.As(err, &cfile):
		return exitFailed, "--auth-file names a file of mode 0600 holding USER:PASSWORD on its first line", true
	case errors.As(err, &stale):
		return exitFailed, "nothing was uploaded: run keyrite fetch again and repeat the offline ceremony with the new request bundle", true
	case errors.As(err, &pub):
		return exitFailed, "each GUN is listed with its outcome; run the same publish again: what is there is reported as already published, the rest is uploaded", true
	}
	return 0, "", false
}

// genericHint covers a backend's own hint and the generic key errors.
func genericHint(err error) (int, string, bool) {
	var (
		hinted *hsm.HintError
		nreg   *fsutil.NotRegularError
		big    *fsutil.TooLargeError
	)
	switch {
	case errors.As(err, &hinted):
		// After the operations' own conditions, before the generic
		// not-found and exists hints; the exit code is the wrapped error's.
		code, _ := classify(hinted.Err)
		return code, hinted.Hint, true
	case errors.Is(err, hsm.ErrExists):
		return exitFailed, "keyrite never replaces a key: choose another --label", true
	case errors.Is(err, hsm.ErrNotFound):
		return exitFailed, "list the keys with keyrite key list --device URI", true
	case errors.As(err, &nreg):
		return exitFailed, fmt.Sprintf("give the file itself: keyrite reads no %s in place of %s", strings.TrimPrefix(nreg.Kind(), "a "), nreg.Path), true
	case errors.As(err, &big):
		return exitFailed, fmt.Sprintf("%s is not the file meant: check the path; nothing was read", big.Path), true
	}
	return 0, "", false
}

// inputHints say which flag gives what an operation found missing.
var inputHints = map[string]string{
	"root key":         "pass --root-key URI (see keyrite key list)",
	"new root key":     "pass --new-root-key URI",
	"key":              "pass --key URI",
	"signer key":       "pass --key FILE (the PUBLIC KEY PEM docker trust key generate writes, or a certificate)",
	"device":           "pass --device URI (repeat it for several devices)",
	"custodian":        "pass --custodian NAME=RECIPIENT for each",
	"backup directory": "pass -o DIR",
	"restore device":   "pass --to URI",
	"record directory": "pass -o DIR",
}
