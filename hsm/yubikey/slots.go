package yubikey

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// freeLabel marks a slot whose key keyrite destroyed on firmware without
// DELETE KEY (before 5.7): the slot holds a throwaway key and counts as
// free. On 5.7 and later keyrite deletes keys for real (delete.go), and
// deleting a slot so labelled empties it.
const freeLabel = "keyrite: free slot"

// slotInfo reads a slot's metadata; ok is false for an empty slot.
func (b *Backend) slotInfoLocked(yk *piv.YubiKey, slot piv.Slot) (piv.KeyInfo, bool, error) {
	ki, err := yk.KeyInfo(slot)
	if err != nil {
		if errors.Is(err, piv.ErrNotFound) {
			return ki, false, nil
		}
		return ki, false, b.check(err, "read slot "+slotName(slot))
	}
	return ki, true, nil
}

// labelLocked reads the label keyrite wrote into the slot's certificate.
func labelLocked(yk *piv.YubiKey, slot piv.Slot) string {
	cert, err := yk.Certificate(slot)
	if err != nil {
		return ""
	}
	return cert.Subject.CommonName
}

// freeSlotLocked picks the slot for a new key: spec.Slot (which must be
// empty), else the first empty retired slot. The slot of the URI the
// backend was opened with does not count: that URI may name another key
// on the device.
func (b *Backend) freeSlotLocked(yk *piv.YubiKey, spec hsm.KeySpec) (piv.Slot, error) {
	// Labels are unique on a device, as on a PKCS#11 token: a second key
	// with the same label is refused.
	if spec.Label != "" {
		for _, s := range keySlots {
			if labelLocked(yk, s) == spec.Label {
				return piv.Slot{}, fmt.Errorf("%s: slot %s already holds a key labelled %q: %w", b.dev.name(), slotName(s), spec.Label, hsm.ErrExists)
			}
		}
	}
	var want *piv.Slot
	if spec.Slot != "" {
		s, err := parseSlot(spec.Slot)
		if err != nil {
			return piv.Slot{}, err
		}
		want = &s
	}
	if want != nil {
		_, used, err := b.slotInfoLocked(yk, *want)
		if err != nil {
			return piv.Slot{}, err
		}
		if used && labelLocked(yk, *want) != freeLabel {
			return piv.Slot{}, fmt.Errorf("%s: slot %s already holds a key: %w", b.dev.name(), slotName(*want), hsm.ErrExists)
		}
		return *want, nil
	}
	for _, s := range keySlots[4:] {
		_, used, err := b.slotInfoLocked(yk, s)
		if err != nil {
			return piv.Slot{}, err
		}
		if !used || labelLocked(yk, s) == freeLabel {
			return s, nil
		}
	}
	return piv.Slot{}, fmt.Errorf("%s: no free retired key slot (82-95) left", b.dev.name())
}

// List describes the keys in the YubiKey's slots, including the slots
// keyrite freed by overwriting their keys (Free: a throwaway key other
// tools still see).
func (b *Backend) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []hsm.KeyInfo
	for _, s := range keySlots {
		ki, used, err := b.slotInfoLocked(yk, s)
		if err != nil {
			return nil, err
		}
		if !used {
			continue
		}
		if labelLocked(yk, s) == freeLabel {
			alg, _ := hsm.CurveName(ki.PublicKey)
			out = append(out, hsm.KeyInfo{URI: KeyURI(b.dev.c.serial, s), Label: freeLabel, ID: slotName(s), Algorithm: alg,
				Public: ki.PublicKey, Origin: hsm.OriginGenerated, Free: true})
			continue
		}
		k, err := b.openLocked(yk, s)
		if err != nil {
			logf(b.opts.Log, "warning: %v", err)
			continue
		}
		alg, _ := hsm.CurveName(k.pub)
		out = append(out, hsm.KeyInfo{URI: k.URI(), Label: k.label, ID: slotName(s), Algorithm: alg, Public: k.pub, Origin: k.Origin()})
	}
	return out, nil
}
