package yubikey

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

var _ hsm.Provisioner = (*Backend)(nil)

// Provision takes a YubiKey out of its factory state: it stores a random
// management key PIN-protected on the device, then replaces the default
// PIN, PUK and management key, and writes the objects ykman and other
// middleware read (ykman.go): with them ykman finds the management key
// from the PIN, as keyrite does. It refuses a device whose management
// key is not the factory one (already provisioned, or set up by another
// tool) unless Reset, which erases the PIV application first (all keys and
// certificates) by blocking PIN and PUK.
func (b *Backend) Provision(ctx context.Context, o hsm.ProvisionOptions) (*hsm.ProvisionReport, error) {
	defer hsm.Wipe(o.NewPIN)
	defer hsm.Wipe(o.NewPUK)
	name := b.dev.name()
	if !rawPCSC {
		return nil, fmt.Errorf("%s: this build of keyrite cannot write the objects ykman reads (its own PC/SC connection is built only for Linux); nothing was changed", name)
	}
	if o.Repair {
		return b.repair(ctx)
	}
	if err := checkNewSecret("PIN", o.NewPIN, []byte(piv.DefaultPIN)); err != nil {
		return nil, err
	}
	if err := checkNewSecret("PUK", o.NewPUK, []byte(piv.DefaultPUK)); err != nil {
		return nil, err
	}
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	serial := b.dev.c.serial
	v := b.dev.c.version
	rep := &hsm.ProvisionReport{Serial: serial, Firmware: fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch), Warnings: Advisories(v)}
	if v.Major < 5 || v.Major == 5 && v.Minor < 3 {
		return nil, fmt.Errorf("%s: firmware %s has no slot metadata (GET METADATA, firmware 5.3 and later), which keyrite reads to tell keys and their origin apart", name, rep.Firmware)
	}
	if o.Reset {
		if o.ConfirmedSerial != fmt.Sprint(serial) {
			return nil, fmt.Errorf("%s: the serial typed to confirm the reset (%s) is not this YubiKey's; nothing was changed", name, o.ConfirmedSerial)
		}
		logf(b.opts.Log, "%s: erasing the PIV application (keys, certificates, PIN, PUK, management key)", name)
		if err := yk.Reset(); err != nil {
			return nil, b.check(err, "reset")
		}
		rep.Reset = true
		b.dev.pinErr = nil
	}
	mk := make([]byte, 24)
	if _, err := io.ReadFull(rand.Reader, mk); err != nil {
		return nil, err
	}
	defer hsm.Wipe(mk)

	// 1. The new key goes into the PIN-protected metadata while the
	//    management key is still the factory one; this also proves it is.
	if err := yk.SetMetadata(piv.DefaultManagementKey, &piv.Metadata{ManagementKey: &mk}); err != nil {
		if isRemoved(err) {
			return nil, b.check(err, "store the management key")
		}
		return nil, &hsm.HintError{Err: fmt.Errorf("%s: the management key is not the factory default, so the device was provisioned before or set up by another tool; only a device in its factory state is provisioned: %v", name, err),
			Hint: "erase it with --reset (which destroys its keys) if that is intended"}
	}
	// 2. PIN and PUK.
	if err := yk.SetPIN(piv.DefaultPIN, pinString(o.NewPIN)); err != nil {
		var ae piv.AuthErr
		if errors.As(err, &ae) {
			return nil, &hsm.HintError{Err: fmt.Errorf("%s: the PIN is not the factory default (%d attempts left); only a device in its factory state is provisioned", name, ae.Retries),
				Hint: "use --reset to erase it"}
		}
		return nil, b.check(err, "change the PIN")
	}
	rep.Replaced = append(rep.Replaced, "PIN")
	if err := yk.SetPUK(piv.DefaultPUK, pinString(o.NewPUK)); err != nil {
		var ae piv.AuthErr
		if errors.As(err, &ae) {
			return rep, &hsm.HintError{Err: fmt.Errorf("%s: the PIN was changed, but the PUK is not the factory default (%d attempts left)", name, ae.Retries),
				Hint: "use --reset to start over"}
		}
		return rep, b.check(err, "change the PUK")
	}
	rep.Replaced = append(rep.Replaced, "PUK")
	// 3. The management key itself: AES-192 on firmware 5.4 and later,
	//    3DES before (piv-go chooses by firmware, as ykman reads it).
	if err := yk.SetManagementKey(piv.DefaultManagementKey, mk); err != nil {
		return rep, b.check(err, "set the management key")
	}
	rep.Replaced = append(rep.Replaced, "management key")
	rep.ManagementKey = "random " + mgmtKeyType(v) + " key, stored on the device protected by the new PIN"
	// 4. Read it back with the new PIN, as every later command will.
	got, err := yk.Metadata(pinString(o.NewPIN))
	if err != nil {
		return rep, b.check(err, "read back the management key")
	}
	if got.ManagementKey == nil || !bytes.Equal(*got.ManagementKey, mk) {
		return rep, fmt.Errorf("%s: the management key read back with the new PIN differs from the one set", name)
	}
	// 5. What ykman reads to find the key from the PIN, and the CHUID and
	//    CCC middleware expects.
	wrote, err := b.writeToolObjectsLocked(mk)
	rep.Written = wrote
	if err != nil {
		return rep, b.check(err, "write the PIV admin data, CHUID and CCC")
	}
	return rep, nil
}

// mgmtKeyType is the management key type keyrite sets: AES-192 where the
// firmware has AES management keys (5.4 and later), else 3DES.
func mgmtKeyType(v piv.Version) string {
	if v.Major > 5 || (v.Major == 5 && v.Minor >= 4) {
		return "AES-192"
	}
	return "3DES"
}

func checkNewSecret(what string, v, factory []byte) error {
	switch {
	case len(v) < 6 || len(v) > 8:
		return fmt.Errorf("the new %s must have 6 to 8 characters", what)
	case bytes.Equal(v, factory):
		return fmt.Errorf("the new %s is the factory default", what)
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("the new %s must be printable ASCII", what)
		}
	}
	return nil
}
