package yubikey

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Scheme is the URI scheme this driver serves:
//
//	yubikey:serial=12345678           a device
//	yubikey:serial=12345678;slot=9c   a key in a PIV slot
const Scheme = "yubikey"

type selector struct {
	serial  uint32
	slot    piv.Slot
	hasSlot bool
}

// keySlots are the PIV slots keyrite uses, in the order List shows them.
var keySlots = func() []piv.Slot {
	s := []piv.Slot{piv.SlotAuthentication, piv.SlotSignature, piv.SlotKeyManagement, piv.SlotCardAuthentication}
	for k := uint32(0x82); k <= 0x95; k++ {
		r, _ := piv.RetiredKeyManagementSlot(k)
		s = append(s, r)
	}
	return s
}()

func parseSlot(v string) (piv.Slot, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(v), "0x"), 16, 8)
	if err == nil {
		for _, s := range keySlots {
			if s.Key == uint32(n) {
				return s, nil
			}
		}
	}
	return piv.Slot{}, fmt.Errorf("slot %q is not a PIV key slot (9a, 9c, 9d, 9e or 82-95)", v)
}

func parseURI(u *hsm.URI) (selector, error) {
	var s selector
	if u.Scheme != Scheme {
		return s, fmt.Errorf("invalid key URI %q: scheme %q is not %s", u.String(), u.Scheme, Scheme)
	}
	if err := u.Allow("serial", "slot"); err != nil {
		return s, err
	}
	if !u.Has("serial") {
		return s, &hsm.HintError{Err: fmt.Errorf("invalid key URI %q: a YubiKey is named by its serial: add serial=N", u.String()),
			Hint: "see keyrite device list"}
	}
	n, err := strconv.ParseUint(u.Get("serial"), 10, 32)
	if err != nil || n == 0 {
		return s, fmt.Errorf("invalid key URI %q: serial must be the YubiKey's decimal serial number", u.String())
	}
	s.serial = uint32(n)
	if u.Has("slot") {
		if s.slot, err = parseSlot(u.Get("slot")); err != nil {
			return s, fmt.Errorf("invalid key URI %q: %w", u.String(), err)
		}
		s.hasSlot = true
	}
	return s, nil
}

func slotName(s piv.Slot) string { return fmt.Sprintf("%02x", s.Key) }

// DeviceURI names a YubiKey.
func DeviceURI(serial uint32) string { return fmt.Sprintf("%s:serial=%d", Scheme, serial) }

// KeyURI names a key in a slot of a YubiKey.
func KeyURI(serial uint32, slot piv.Slot) string {
	return fmt.Sprintf("%s:serial=%d;slot=%s", Scheme, serial, slotName(slot))
}

func describe(serial uint32) string { return fmt.Sprintf("YubiKey serial %d", serial) }
