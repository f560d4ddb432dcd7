package pivsim

// MOVE KEY (INS F6), YubiKey firmware 5.7 and later: P1 is the destination
// slot, P2 the source; a move to FF deletes the key. It needs the
// management key. The slot's certificate is a data object and stays where
// it is, as on a YubiKey.
const insMoveKey = 0xf6

func (c *Card) moveKeyLocked(to, from byte) error {
	v := c.st.Version
	if v[0] < 5 || v[0] == 5 && v[1] < 7 {
		return apduError(swInsNotSupported)
	}
	if !c.mgmtOK {
		return apduError(swSecurity)
	}
	if !slotOK(from) || (to != 0xff && !slotOK(to)) || to == from {
		return apduError(swWrongP1P2)
	}
	k, ok := c.st.Slots[slotName(from)]
	if !ok {
		return apduError(swRefNotFound)
	}
	if to != 0xff {
		if _, busy := c.st.Slots[slotName(to)]; busy {
			return apduError(swConditions)
		}
		c.st.Slots[slotName(to)] = k
	}
	delete(c.st.Slots, slotName(from))
	c.moves++
	return c.save()
}

// Moves counts the MOVE KEY and DELETE KEY commands the card carried out.
func (c *Card) Moves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moves
}

// HasKey reports whether a slot holds a key.
func (c *Card) HasKey(slot byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.st.Slots[slotName(slot)]
	return ok
}

// Object returns a data object's contents (nil when absent).
func (c *Card) Object(id uint32) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.st.Objects[objName(id)]...)
}
