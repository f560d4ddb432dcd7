package yubikey

import (
	"context"

	"github.com/keyrite/keyrite/hsm"
)

var _ hsm.Capacity = (*Backend)(nil)

// retiredSlots is how many retired key management slots (82-95) a YubiKey
// has: where keys go that ask for no slot.
const retiredSlots = 20

// Capacity counts the free key slots: empty, or holding a key keyrite
// destroyed by overwriting it (freeLabel). It reads slot metadata and
// certificates only: no PIN, no management key, nothing written. Free is
// the retired slots a key without a slot= can go to; FreeSlots also names
// the free 9a, 9c, 9d and 9e.
func (b *Backend) Capacity(ctx context.Context) (hsm.CapacityInfo, error) {
	yk, unlock, err := b.lock()
	if err != nil {
		return hsm.CapacityInfo{}, err
	}
	defer unlock()
	c := hsm.CapacityInfo{Unit: "retired key slots (82-95)", Total: retiredSlots, Slots: true}
	for i, s := range keySlots {
		_, used, err := b.slotInfoLocked(yk, s)
		if err != nil {
			return hsm.CapacityInfo{}, err
		}
		if used && labelLocked(yk, s) != freeLabel {
			continue
		}
		c.FreeSlots = append(c.FreeSlots, slotName(s))
		if i >= 4 {
			c.Free++
		}
	}
	return c, nil
}
