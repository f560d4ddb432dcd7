package yubikey

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/bertlv"
)

// What ykman (and Yubico's other tools) expect of a YubiKey whose
// management key is stored on it, PIN-protected (ykman's "pivman" data,
// yubikey-manager's ykman/piv.py):
//
//   - the PIV admin data object 5FFF00, readable without the PIN, says so:
//     80 { 81 flags } with flag 02 "management key stored, PIN-protected";
//   - the protected data object 5FC109, readable only after the PIN, holds
//     it: 88 { 89 key } (piv-go's Metadata writes exactly this);
//   - the key's type is the card's own: ykman asks the card (GET METADATA,
//     firmware 5.3 and later) and assumes 3DES before, so keyrite sets AES
//     on firmware 5.4 and later and 3DES before.
//
// Windows' minidriver and other middleware also expect a CHUID and a CCC;
// a factory YubiKey has neither.
const (
	objAdminData = 0x5fff00
	objCHUID     = 0x5fc102
	objCCC       = 0x5fc107

	adminFlagMgmtKeyProtected = 0x02
)

// adminData is the admin data object keyrite writes over old (nil when
// the device has none): the flag "management key stored, PIN-protected"
// set, the other flags and the PIN timestamp kept, a salt (a PIN-derived
// management key, which ykman would try first) dropped, as ykman itself
// does when it stores a key.
func adminData(old []byte) []byte {
	flags, rest := byte(0), []byte(nil)
	if inner, err := untlv(0x80, old); err == nil {
		if ts, err := bertlv.Parse(inner); err == nil {
			for _, t := range ts {
				switch {
				case t.Tag == 0x81 && len(t.Value) == 1:
					flags = t.Value[0]
				case t.Tag == 0x83:
					rest = append(rest, tlv(t.Tag, t.Value)...)
				}
			}
		}
	}
	return tlv(0x80, append(tlv(0x81, []byte{flags | adminFlagMgmtKeyProtected}), rest...))
}

// newCHUID is the CHUID ykman's "piv objects generate CHUID" writes: the
// non-federal FASC-N, a random GUID, expiry 2030-01-01, an empty signature
// and LRC.
func newCHUID() ([]byte, error) {
	guid := make([]byte, 16)
	if _, err := rand.Read(guid); err != nil {
		return nil, err
	}
	fascn := []byte{0xd4, 0xe7, 0x39, 0xda, 0x73, 0x9c, 0xed, 0x39, 0xce, 0x73, 0x9d, 0x83, 0x68,
		0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xc8, 0x42, 0x10, 0xc3, 0xeb}
	return bytes.Join([][]byte{tlv(0x30, fascn), tlv(0x34, guid), tlv(0x35, []byte("20300101")), tlv(0x3e, nil), tlv(0xfe, nil)}, nil), nil
}

// newCCC is the Card Capability Container ykman writes: a random card
// identifier and the fixed capability fields.
func newCCC() ([]byte, error) {
	id := make([]byte, 14)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	parts := [][]byte{tlv(0xf0, append([]byte{0xa0, 0x00, 0x00, 0x01, 0x16, 0xff, 0x02}, id...)),
		tlv(0xf1, []byte{0x21}), tlv(0xf2, []byte{0x21}), tlv(0xf3, nil), tlv(0xf4, []byte{0x00}), tlv(0xf5, []byte{0x10})}
	for _, t := range []uint32{0xf6, 0xf7, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe} {
		parts = append(parts, tlv(t, nil))
	}
	return bytes.Join(parts, nil), nil
}

// writeToolObjectsLocked authenticates with the management key and writes
// the admin data (read back) unless it says so already, and a CHUID and a
// CCC where the card has none. It returns what it wrote.
func (b *Backend) writeToolObjectsLocked(mk []byte) ([]string, error) {
	var wrote []string
	err := b.withRawLocked(func(r *rawCard) error {
		if err := r.authenticate(mk); err != nil {
			return err
		}
		old, _, err := r.getObject(objAdminData)
		if err != nil {
			return fmt.Errorf("read the PIV admin data: %w", err)
		}
		want := adminData(old)
		if !bytes.Equal(old, want) {
			if err := r.putObject(objAdminData, want); err != nil {
				return fmt.Errorf("write the PIV admin data: %w", err)
			}
			got, found, err := r.getObject(objAdminData)
			if err != nil || !found || !bytes.Equal(got, want) {
				return fmt.Errorf("the PIV admin data read back differs from what was written (%x, %v)", got, err)
			}
			wrote = append(wrote, "PIV admin data (management key stored, PIN-protected)")
		}
		for _, o := range []struct {
			id   uint32
			name string
			gen  func() ([]byte, error)
		}{{objCHUID, "CHUID", newCHUID}, {objCCC, "CCC", newCCC}} {
			if _, found, err := r.getObject(o.id); err != nil || found {
				if err != nil {
					return fmt.Errorf("read the %s: %w", o.name, err)
				}
				continue
			}
			v, err := o.gen()
			if err != nil {
				return err
			}
			if err := r.putObject(o.id, v); err != nil {
				return fmt.Errorf("write the %s: %w", o.name, err)
			}
			wrote = append(wrote, o.name)
		}
		return nil
	})
	return wrote, err
}

// repair writes the objects other tools read onto a YubiKey keyrite
// provisioned before they were written (or whose provisioning stopped
// before them): the PIN-protected management key is read with the
// device's PIN and must authenticate; nothing else changes.
func (b *Backend) repair(ctx context.Context) (*hsm.ProvisionReport, error) {
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	v := b.dev.c.version
	rep := &hsm.ProvisionReport{Serial: b.dev.c.serial, Firmware: fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch), Warnings: Advisories(v),
		ManagementKey: "unchanged (stored on the device, protected by the PIN)"}
	mk, err := b.managementKeyLocked(ctx, yk)
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(mk)
	wrote, err := b.writeToolObjectsLocked(mk)
	rep.Written = wrote
	if err != nil {
		return rep, b.check(err, "write the PIV admin data, CHUID and CCC")
	}
	return rep, nil
}
