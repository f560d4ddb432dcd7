package pivsim

// GET METADATA (INS F7): a slot's, the PIN's, the PUK's and the
// management key's algorithm, policies, origin and default state.

func (c *Card) metadataLocked(ref byte) ([]byte, error) {
	if v := c.st.Version; v[0] < 5 || v[0] == 5 && v[1] < 3 {
		return nil, apduError(swInsNotSupported) // GET METADATA came with 5.3
	}
	switch ref {
	case 0x80, 0x81:
		def, max, left := c.st.pinDefault(), c.st.PINMax, c.st.PINLeft
		if ref == 0x81 {
			def, max, left = c.st.pukDefault(), c.st.PUKMax, c.st.PUKLeft
		}
		return cat(enc(0x01, []byte{0xff}), enc(0x05, []byte{b2b(def)}), enc(0x06, []byte{byte(max), byte(left)})), nil
	case 0x9b:
		touch := byte(TouchNever)
		if c.st.MgmtTouch {
			touch = TouchAlways
		}
		return cat(enc(0x01, []byte{c.st.MgmtAlg}), enc(0x02, []byte{0x00, touch}),
			enc(0x05, []byte{b2b(c.st.mgmtDefault())})), nil
	case 0xf9:
		return cat(enc(0x01, []byte{AlgP256}), enc(0x02, []byte{PINNever, TouchNever}), enc(0x03, []byte{OriginGenerated})), nil
	}
	k, ok := c.st.Slots[slotName(ref)]
	if !ok {
		if slotOK(ref) {
			return nil, apduError(swNotFound)
		}
		return nil, apduError(swRefNotFound)
	}
	return cat(enc(0x01, []byte{k.Alg}), enc(0x02, []byte{k.PIN, k.Touch}), enc(0x03, []byte{k.Origin}),
		enc(0x04, encodePublic(k))), nil
}

func b2b(b bool) byte {
	if b {
		return 1
	}
	return 0
}
