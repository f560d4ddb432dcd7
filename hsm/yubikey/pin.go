package yubikey

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// pinString views PIN bytes as a string without copying, so wiping the
// bytes wipes the only Go copy keyrite made. piv-go copies it into the
// APDU it sends.
func pinString(pin []byte) string {
	if len(pin) == 0 {
		return ""
	}
	return unsafe.String(&pin[0], len(pin))
}

// pinLocked returns the PIN to present, after checking the retry counter:
// a blocked PIN is reported without asking, and with one attempt left
// keyrite refuses to try unless Force. A PIN that failed once is never
// tried again in the same command.
func (b *Backend) pinLocked(ctx context.Context, yk *piv.YubiKey) ([]byte, error) {
	dev := b.dev
	if dev.pinErr != nil {
		return nil, dev.pinErr
	}
	retries, err := yk.Retries()
	if err != nil {
		if isRemoved(err) {
			return nil, b.check(err, "read PIN retries")
		}
		retries = -1 // already verified in this session: the card does not say
	}
	switch {
	case retries == 0:
		dev.pinErr = blockedError(dev.name())
		return nil, dev.pinErr
	case retries == 1 && !b.opts.Force:
		dev.pinErr = &hsm.AuthError{Device: dev.name(), Retries: 1, NotTried: true,
			Hint: "one PIN attempt is left and a wrong PIN now blocks the YubiKey: use --force if you are sure of the PIN; unblock the PIN with the PUK first if in doubt"}
		return nil, dev.pinErr
	case retries == 1:
		logf(b.opts.Log, "warning: %s: one PIN attempt left; trying because of --force", dev.name())
	case retries > 1 && retries < 3:
		logf(b.opts.Log, "%s: %d PIN attempts left", dev.name(), retries)
	}
	if b.opts.PIN == nil {
		return nil, fmt.Errorf("%s: a PIN is needed but no PIN source was given", dev.name())
	}
	pin, err := b.opts.PIN.PIN(ctx, hsm.PINRequest{Device: dev.name(), Kind: "PIN"})
	if err != nil {
		dev.pinErr = fmt.Errorf("%s: read PIN: %w", dev.name(), err)
		return nil, dev.pinErr
	}
	if len(pin) < 6 || len(pin) > 8 {
		hsm.Wipe(pin)
		return nil, fmt.Errorf("%s: a YubiKey PIN has 6 to 8 characters; nothing was sent to the device", dev.name())
	}
	return pin, nil
}

func blockedError(device string) error {
	return &hsm.AuthError{Device: device, Retries: 0, Blocked: true,
		Hint: "the PIN is blocked: unblock it with the PUK (ykman piv access unblock-pin), or reset the YubiKey's PIV application"}
}

// authError maps piv-go's wrong-PIN errors and remembers the failure.
func (b *Backend) authError(err error, what string) error {
	var ae piv.AuthErr
	if !errors.As(err, &ae) {
		return b.check(err, what)
	}
	if ae.Retries == 0 {
		b.dev.pinErr = blockedError(b.dev.name())
		return b.dev.pinErr
	}
	hint := "keyrite never retries a PIN by itself: check the PIN (or the --pin-file) before you run the command again"
	if ae.Retries == 1 {
		hint = "one attempt is left before the PIN blocks; " + hint
	}
	b.dev.pinErr = &hsm.AuthError{Device: b.dev.name(), Retries: ae.Retries, Hint: hint}
	return b.dev.pinErr
}

// verifyPINLocked presents the PIN to the card.
func (b *Backend) verifyPINLocked(ctx context.Context, yk *piv.YubiKey) error {
	pin, err := b.pinLocked(ctx, yk)
	if err != nil {
		return err
	}
	err = yk.VerifyPIN(pinString(pin))
	hsm.Wipe(pin)
	if err != nil {
		return b.authError(err, "verify PIN")
	}
	return nil
}

// managementKeyLocked reads the management key keyrite stored, PIN
// protected, when it provisioned the device.
func (b *Backend) managementKeyLocked(ctx context.Context, yk *piv.YubiKey) ([]byte, error) {
	pin, err := b.pinLocked(ctx, yk)
	if err != nil {
		return nil, err
	}
	m, err := yk.Metadata(pinString(pin))
	hsm.Wipe(pin)
	if err != nil {
		return nil, b.authError(err, "read the PIN-protected management key")
	}
	if m.ManagementKey == nil {
		return nil, &hsm.HintError{Err: fmt.Errorf("%s has no PIN-protected management key", b.dev.name()),
			Hint: "provision it first (keyrite device provision " + DeviceURI(b.dev.c.serial) + ")"}
	}
	return *m.ManagementKey, nil
}
