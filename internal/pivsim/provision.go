package pivsim

import (
	"errors"
)

// ProvisionForTest sets the PIN and PUK and a random AES-192 management key
// stored in the PIN-protected metadata, flagged so in ykman's admin data, the state keyrite's provisioning
// leaves, directly in the card's state. Tests of commands that need a
// provisioned device use it.
func (c *Card) ProvisionForTest(pin, puk string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(pin) < 6 || len(pin) > 8 || len(puk) < 6 || len(puk) > 8 {
		return errors.New("pivsim: PIN and PUK need 6 to 8 characters")
	}
	c.st.PIN, c.st.PUK = []byte(pin), []byte(puk)
	c.st.PINLeft, c.st.PUKLeft = c.st.PINMax, c.st.PUKMax
	key := random(24)
	c.st.MgmtAlg, c.st.MgmtKey = AlgAES192, key
	c.st.Objects[objName(objPrinted)] = enc(0x88, enc(0x89, key))
	c.st.Objects[objName(objPivman)] = enc(0x80, enc(0x81, []byte{0x02}))
	return c.save()
}

// PINRetries returns the PIN attempts left.
func (c *Card) PINRetries() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.PINLeft
}

// SlotOrigin returns the origin byte of a slot's key (0 when empty).
func (c *Card) SlotOrigin(slot byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.st.Slots[slotName(slot)]; ok {
		return k.Origin
	}
	return 0
}

// SetObjectForTest sets a data object's contents directly (nil deletes
// it), e.g. to make the state an older keyrite left.
func (c *Card) SetObjectForTest(id uint32, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == nil {
		delete(c.st.Objects, objName(id))
	} else {
		c.st.Objects[objName(id)] = append([]byte(nil), v...)
	}
	return c.save()
}
