package yubikey

import (
	"context"
	"crypto/ecdsa"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Delete destroys the key in a slot. Firmware 5.7 and later deletes it
// (MOVE KEY to FF) and its certificate: the slot is empty again, for
// keyrite and every other tool. Older firmware has no way to delete a key,
// so keyrite overwrites it with a throwaway key and labels the slot
// freeLabel: the old key is gone, the slot counts as free for keyrite, and
// List still shows it (other tools see a key there).
func (b *Backend) Delete(ctx context.Context, uri string) error {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return err
	}
	sel, err := parseURI(u)
	if err != nil {
		return err
	}
	if !sel.hasSlot || sel.serial != b.dev.c.serial {
		return fmt.Errorf("%s does not name a key on %s", uri, b.dev.name())
	}
	yk, unlock, err := b.lock()
	if err != nil {
		return err
	}
	defer unlock()
	mk, err := b.managementKeyLocked(ctx, yk)
	if err != nil {
		return err
	}
	defer hsm.Wipe(mk)
	if supportsMove(b.dev.c.version) && rawPCSC {
		return b.deleteLocked(sel.slot, mk)
	}
	pub, err := yk.GenerateKey(mk, sel.slot, piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		return b.check(err, "overwrite slot "+slotName(sel.slot))
	}
	k := &Key{b: b, slot: sel.slot, pub: pub.(*ecdsa.PublicKey), pin: piv.PINPolicyNever, touch: piv.TouchPolicyNever, origin: piv.OriginGenerated, label: freeLabel}
	return b.storeCertLocked(ctx, yk, mk, k)
}

// deleteLocked deletes a slot's key and certificate on firmware 5.7 and
// later, and checks that the slot is empty.
func (b *Backend) deleteLocked(slot piv.Slot, mk []byte) error {
	err := b.withRawLocked(func(r *rawCard) error {
		if err := r.authenticate(mk); err != nil {
			return err
		}
		if err := r.deleteKey(slot); err != nil {
			return fmt.Errorf("delete the key in slot %s: %w", slotName(slot), err)
		}
		if err := r.putObject(slot.Object, nil); err != nil {
			return fmt.Errorf("delete the certificate of slot %s: %w", slotName(slot), err)
		}
		return nil
	})
	if err != nil {
		return b.check(err, "delete slot "+slotName(slot))
	}
	if _, used, err := b.slotInfoLocked(b.dev.c.yk, slot); err != nil || used {
		return fmt.Errorf("%s: slot %s still holds a key after DELETE KEY (%v)", b.dev.name(), slotName(slot), err)
	}
	return nil
}
