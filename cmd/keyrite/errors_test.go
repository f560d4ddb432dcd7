package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust/store"
)

// A backend's own hint reaches the operator in place of the generic one;
// without one the generic hint stays. Exit codes do not depend on hints.
func TestClassifyShowsBackendHint(t *testing.T) {
	const ykBlocked = "the PIN is blocked: unblock it with the PUK (ykman piv access unblock-pin), or reset the YubiKey's PIV application"
	for _, c := range []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"auth error with a backend hint", &hsm.AuthError{Device: "YubiKey serial 1", Retries: 0, Blocked: true, Hint: ykBlocked},
			exitDevice, ykBlocked},
		{"wrapped auth error with a backend hint", fmt.Errorf("root key yubikey:serial=1;slot=9c: %w", &hsm.AuthError{Device: "YubiKey serial 1", Retries: 2, Hint: "check the PIN"}),
			exitDevice, "check the PIN"},
		{"blocked, no backend hint", &hsm.AuthError{Device: "d", Retries: 0, Blocked: true},
			exitDevice, "the PIN is blocked: unblock it with the security officer PIN (PKCS#11) or the PUK (YubiKey) before the next attempt"},
		{"one attempt left, no backend hint", &hsm.AuthError{Device: "d", Retries: 1},
			exitDevice, "one attempt is left before the PIN blocks; keyrite never retries by itself: check the PIN before you run the command again"},
		{"wrong passphrase, no backend hint", &hsm.AuthError{Device: "d", Retries: -1, What: "passphrase"},
			exitDevice, "check the passphrase (or the --pin-file) and run the command again"},
		{"hinted not-found", fmt.Errorf("listing: %w", &hsm.HintError{Err: fmt.Errorf("softkey f: %w", hsm.ErrNotFound), Hint: "create it with keyrite key generate --device softkey:file=f"}),
			exitFailed, "create it with keyrite key generate --device softkey:file=f"},
		{"hinted error without sentinel", &hsm.HintError{Err: errors.New("no usable PKCS#11 module"), Hint: "give the module's path with --module or module-path= in the URI"},
			exitFailed, "give the module's path with --module or module-path= in the URI"},
		{"not found, no backend hint", fmt.Errorf("x: %w", hsm.ErrNotFound),
			exitFailed, "list the keys with keyrite key list --device URI"},
	} {
		code, hint := classify(c.err)
		if code != c.code || hint != c.hint {
			t.Errorf("%s: got %d %q, want %d %q", c.name, code, hint, c.code, c.hint)
		}
	}

	// An interrupted import keeps the hint about the complete backup: it
	// matters more than the device's own advice. The code is the device's.
	imp := &ceremony.ImportError{Backup: "backup/", Err: &hsm.AuthError{Device: "d", Retries: 0, Blocked: true, Hint: ykBlocked}}
	code, hint := classify(imp)
	if code != exitDevice || !strings.HasPrefix(hint, "the backup in backup/ is complete and verified") {
		t.Errorf("import error: %d %q", code, hint)
	}
}

// What crosses the air gap: each refusal's exit code and hint, also when
// it comes wrapped in what read it (a device's login, a bundle).
func TestClassifyInputRefusals(t *testing.T) {
	perm := &fsutil.PermissionError{Path: "pin.txt", What: "secret file", Mode: 0o644}
	for _, c := range []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"loose secret file", perm, exitFailed, "chmod 600 pin.txt (keyrite uses no secret file others may read or write); nothing was done"},
		{"loose PIN file behind a device", fmt.Errorf("pkcs11 token: %w", &hsm.HintError{Err: perm, Hint: "other"}), exitFailed, "chmod 600 pin.txt (keyrite uses no secret file others may read or write); nothing was done"},
		{"pipe", &fsutil.NotRegularError{Path: "k.pem", Mode: fs.ModeNamedPipe}, exitFailed, "give the file itself: keyrite reads no named pipe (FIFO) in place of k.pem"},
		{"too large", &fsutil.TooLargeError{Path: "root.json", Size: 8 << 30, Max: 1 << 20}, exitFailed, "root.json is not the file meant: check the path; nothing was read"},
		{"bundle file too large", &bundle.Error{Bundle: "b", Reason: "x", Err: &fsutil.TooLargeError{Path: "b/x"}}, exitVerifyKO, "do not publish or use this bundle; make it again from the request bundle"},
		{"server key", &bundle.ServerKeyError{Bundle: "r", GUN: "example.com/app", Role: "timestamp", Reason: "carries a private key"}, exitVerifyKO,
			"do not use this request bundle, nor anything made from it: notary-server never serves such a key; fetch it again, and check the online machine that fetched it"},
		{"share too large", &backup.ShareError{File: "s", Reason: "not a share file"}, exitVerifyKO, "this share cannot be used: ask its custodian for an intact copy (its paper sheet restores it too), or use other custodians' shares"},
		{"weak passphrase", &backup.WeakPassphraseError{Custodian: "carol", Suggestions: []string{"Add another word or two. Uncommon words are better."}}, exitFailed,
			"choose another passphrase for carol (Add another word or two. Uncommon words are better.); nothing was written"},
	} {
		code, hint := classify(c.err)
		if code != c.code || hint != c.hint {
			t.Errorf("%s: got %d %q, want %d %q", c.name, code, hint, c.code, c.hint)
		}
	}
}

// A trust store another keyrite keeps locked: nothing pinned, and where to
// look; after a written bundle the trust import hint still comes first.
func TestClassifyLockedTrustStore(t *testing.T) {
	locked := &store.LockedError{Dir: "/t", Waited: 30 * time.Second}
	if code, hint := classify(fmt.Errorf("trust import: %w", locked)); code != exitFailed || !strings.Contains(hint, "fuser TRUSTDIR/.lock") {
		t.Errorf("locked store: %d %q", code, hint)
	}
	if code, hint := classify(&session.NotPinnedError{Bundle: "signed/", Err: locked}); code != exitFailed || !strings.Contains(hint, "keyrite trust import signed/") {
		t.Errorf("locked store after the bundle was written: %d %q", code, hint)
	}
}
