package pivsim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
)

func padPIN(p []byte) []byte {
	out := bytes.Repeat([]byte{0xff}, 8)
	copy(out, p)
	return out
}

func unpad(b []byte) []byte {
	if i := bytes.IndexByte(b, 0xff); i >= 0 {
		return b[:i]
	}
	return b
}

func retriesSW(left int) error {
	if left <= 0 {
		return apduError(0x63c0)
	}
	if left > 15 {
		left = 15
	}
	return apduError(0x63c0 | uint16(left))
}

func (c *Card) verifyLocked(p1, p2 byte, data []byte) error {
	if p2 != 0x80 {
		return apduError(swRefNotFound)
	}
	if p1 == 0xff { // Yubico: reset the verified state
		c.pinOK, c.pinFresh = false, false
		return nil
	}
	if len(data) == 0 {
		if c.pinOK {
			return nil
		}
		if c.st.PINLeft == 0 {
			return apduError(swBlocked)
		}
		return retriesSW(c.st.PINLeft)
	}
	if len(data) != 8 {
		return apduError(swIncorrectData)
	}
	if c.st.PINLeft == 0 {
		return apduError(swBlocked)
	}
	if subtle.ConstantTimeCompare(data, padPIN(c.st.PIN)) != 1 {
		c.pinOK, c.pinFresh = false, false
		c.wrongPINs++
		c.st.PINLeft--
		if err := c.save(); err != nil {
			return err
		}
		return retriesSW(c.st.PINLeft)
	}
	c.st.PINLeft = c.st.PINMax
	c.pinOK, c.pinFresh = true, true
	return c.save()
}

// checkRef checks a PIN or PUK (p2 80 or 81) against the card, counting a
// failure.
func (c *Card) checkRefLocked(p2 byte, given []byte) error {
	val, left := &c.st.PIN, &c.st.PINLeft
	if p2 == 0x81 {
		val, left = &c.st.PUK, &c.st.PUKLeft
	}
	if *left == 0 {
		return apduError(swBlocked)
	}
	if subtle.ConstantTimeCompare(given, padPIN(*val)) != 1 {
		*left--
		if err := c.save(); err != nil {
			return err
		}
		return retriesSW(*left)
	}
	return nil
}

func validNew(b []byte, min int) ([]byte, bool) {
	v := unpad(b)
	if len(v) < min || len(v) > 8 || !bytes.Equal(padPIN(v), b) {
		return nil, false
	}
	return append([]byte(nil), v...), true
}

func (c *Card) changeReferenceLocked(p2 byte, data []byte) error {
	if p2 != 0x80 && p2 != 0x81 {
		return apduError(swRefNotFound)
	}
	if len(data) != 16 {
		return apduError(swIncorrectData)
	}
	if err := c.checkRefLocked(p2, data[:8]); err != nil {
		return err
	}
	nv, ok := validNew(data[8:], 6)
	if !ok {
		return apduError(swIncorrectData)
	}
	if p2 == 0x80 {
		c.st.PIN, c.st.PINLeft = nv, c.st.PINMax
	} else {
		c.st.PUK, c.st.PUKLeft = nv, c.st.PUKMax
	}
	return c.save()
}

func (c *Card) unblockLocked(p2 byte, data []byte) error {
	if p2 != 0x80 {
		return apduError(swRefNotFound)
	}
	if len(data) != 16 {
		return apduError(swIncorrectData)
	}
	if err := c.checkRefLocked(0x81, data[:8]); err != nil {
		return err
	}
	nv, ok := validNew(data[8:], 6)
	if !ok {
		return apduError(swIncorrectData)
	}
	c.st.PIN, c.st.PINLeft = nv, c.st.PINMax
	c.st.PUKLeft = c.st.PUKMax
	return c.save()
}

func (c *Card) setRetriesLocked(pin, puk byte) error {
	if !c.mgmtOK || !c.pinOK {
		return apduError(swSecurity)
	}
	if pin == 0 || puk == 0 {
		return apduError(swWrongP1P2)
	}
	c.st.PINMax, c.st.PINLeft = int(pin), int(pin)
	c.st.PUKMax, c.st.PUKLeft = int(puk), int(puk)
	c.st.PIN = append([]byte(nil), DefaultPIN...)
	c.st.PUK = append([]byte(nil), DefaultPUK...)
	return c.save()
}

func (c *Card) resetLocked() error {
	if c.st.PINLeft != 0 || c.st.PUKLeft != 0 {
		return apduError(swConditions)
	}
	c.st.factoryReset()
	c.resetVolatileLocked()
	return c.save()
}

// mgmtCipher returns the block cipher of the management key.
func (c *Card) mgmtCipher() (cipher.Block, error) {
	if c.st.MgmtAlg == Alg3DES {
		return des.NewTripleDESCipher(c.st.MgmtKey)
	}
	return aes.NewCipher(c.st.MgmtKey)
}

func (c *Card) authenticateLocked(alg, ref byte, data []byte) ([]byte, error) {
	ts, err := parseTLVs(data)
	if err != nil || len(ts) != 1 || ts[0].Tag != 0x7c {
		return nil, apduError(swIncorrectData)
	}
	inner, err := parseTLVs(ts[0].Value)
	if err != nil {
		return nil, apduError(swIncorrectData)
	}
	if ref == 0x9b {
		return c.mgmtAuthLocked(alg, inner)
	}
	return c.privateOpLocked(alg, ref, inner)
}

// mgmtAuthLocked runs the card side of mutual authentication: the card sends
// E(witness), the host returns the witness and its own challenge, the card
// answers E(challenge).
func (c *Card) mgmtAuthLocked(alg byte, inner []tlv) ([]byte, error) {
	if alg != c.st.MgmtAlg {
		return nil, apduError(swIncorrectData)
	}
	block, err := c.mgmtCipher()
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	w, hasW := find(inner, 0x80)
	ch, hasC := find(inner, 0x81)
	switch {
	case hasW && len(w) == 0 && !hasC:
		c.mgmtOK = false
		c.witness = random(bs)
		c.witnessAlg = alg
		out := make([]byte, bs)
		block.Encrypt(out, c.witness)
		return enc(0x7c, enc(0x80, out)), nil
	case hasW && hasC:
		expect := c.witness
		c.witness = nil
		if expect == nil || c.witnessAlg != alg || len(w) != bs || len(ch) != bs {
			return nil, apduError(swSecurity)
		}
		if subtle.ConstantTimeCompare(w, expect) != 1 {
			return nil, apduError(swSecurity)
		}
		if c.st.MgmtTouch {
			c.touchLocked(TouchAlways)
		}
		out := make([]byte, bs)
		block.Encrypt(out, ch)
		c.mgmtOK = true
		return enc(0x7c, enc(0x82, out)), nil
	}
	return nil, apduError(swIncorrectData)
}

func (c *Card) setManagementKeyLocked(p1, p2 byte, data []byte) error {
	if p1 != 0xff || (p2 != 0xff && p2 != 0xfe) {
		return apduError(swWrongP1P2)
	}
	if !c.mgmtOK {
		return apduError(swSecurity)
	}
	if len(data) < 3 || data[1] != 0x9b || int(data[2]) != len(data)-3 {
		return apduError(swIncorrectData)
	}
	alg, key := data[0], data[3:]
	want := map[byte]int{Alg3DES: 24, AlgAES128: 16, AlgAES192: 24, AlgAES256: 32}[alg]
	if want == 0 || len(key) != want {
		return apduError(swIncorrectData)
	}
	c.st.MgmtAlg = alg
	c.st.MgmtKey = append([]byte(nil), key...)
	c.st.MgmtTouch = p2 == 0xfe
	return c.save()
}

// slotOK reports whether a key reference names a slot that holds keys.
func slotOK(s byte) bool {
	switch {
	case s == 0x9a, s == 0x9c, s == 0x9d, s == 0x9e:
		return true
	case s >= 0x82 && s <= 0x95:
		return true
	}
	return false
}

// defaultPolicies are a YubiKey's policies when a command leaves them to
// the card.
func defaultPolicies(slot, pin, touch byte) (byte, byte) {
	if pin == 0 {
		switch slot {
		case 0x9c:
			pin = PINAlways
		case 0x9e:
			pin = PINNever
		default:
			pin = PINOnce
		}
	}
	if touch == 0 {
		touch = TouchNever
	}
	return pin, touch
}

func policiesFrom(ts []tlv) (pin, touch byte, err error) {
	if v, ok := find(ts, 0xaa); ok {
		if len(v) != 1 || v[0] > PINAlways {
			return 0, 0, apduError(swIncorrectData)
		}
		pin = v[0]
	}
	if v, ok := find(ts, 0xab); ok {
		if len(v) != 1 || v[0] > TouchCached {
			return 0, 0, apduError(swIncorrectData)
		}
		touch = v[0]
	}
	return pin, touch, nil
}

func (c *Card) generateLocked(slot byte, data []byte) ([]byte, error) {
	if !slotOK(slot) {
		return nil, apduError(swRefNotFound)
	}
	if !c.mgmtOK {
		return nil, apduError(swSecurity)
	}
	ts, err := parseTLVs(data)
	if err != nil || len(ts) != 1 || ts[0].Tag != 0xac {
		return nil, apduError(swIncorrectData)
	}
	inner, err := parseTLVs(ts[0].Value)
	if err != nil {
		return nil, apduError(swIncorrectData)
	}
	algb, ok := find(inner, 0x80)
	if !ok || len(algb) != 1 {
		return nil, apduError(swIncorrectData)
	}
	pin, touch, err := policiesFrom(inner)
	if err != nil {
		return nil, err
	}
	pin, touch = defaultPolicies(slot, pin, touch)
	k, err := generateKey(algb[0])
	if err != nil {
		return nil, err
	}
	k.PIN, k.Touch, k.Origin = pin, touch, OriginGenerated
	c.st.Slots[slotName(slot)] = k
	if err := c.save(); err != nil {
		return nil, err
	}
	return enc(0x7f49, encodePublic(k)), nil
}

func (c *Card) importLocked(alg, slot byte, data []byte) error {
	if !slotOK(slot) {
		return apduError(swRefNotFound)
	}
	if !c.mgmtOK {
		return apduError(swSecurity)
	}
	ts, err := parseTLVs(data)
	if err != nil {
		return apduError(swIncorrectData)
	}
	pin, touch, err := policiesFrom(ts)
	if err != nil {
		return err
	}
	pin, touch = defaultPolicies(slot, pin, touch)
	k, err := importKey(alg, ts)
	if err != nil {
		return err
	}
	k.PIN, k.Touch, k.Origin = pin, touch, OriginImported
	c.st.Slots[slotName(slot)] = k
	return c.save()
}

func (c *Card) attestCmdLocked(slot byte) ([]byte, error) {
	k, ok := c.st.Slots[slotName(slot)]
	if !ok {
		return nil, apduError(swIncorrectData)
	}
	if k.Origin != OriginGenerated && !c.cfg.AttestImported {
		return nil, apduError(swIncorrectData)
	}
	der, err := c.attestLocked(slot, k)
	if err != nil {
		return nil, err
	}
	return der, nil
}

// privateOpLocked signs, decrypts or agrees a key with a slot's key.
func (c *Card) privateOpLocked(alg, slot byte, inner []tlv) ([]byte, error) {
	k, ok := c.st.Slots[slotName(slot)]
	if !ok {
		return nil, apduError(swRefNotFound)
	}
	if k.Alg != alg {
		return nil, apduError(swIncorrectData)
	}
	if r, ok := find(inner, 0x82); !ok || len(r) != 0 {
		return nil, apduError(swIncorrectData)
	}
	in, isSign := find(inner, 0x81)
	peer, isECDH := find(inner, 0x85)
	if !isSign && !isECDH {
		return nil, apduError(swIncorrectData)
	}
	switch k.PIN {
	case PINOnce:
		if !c.pinOK {
			return nil, apduError(swSecurity)
		}
	case PINAlways:
		if !c.pinFresh {
			return nil, apduError(swSecurity)
		}
		c.pinFresh = false
	}
	c.touchLocked(k.Touch)
	var (
		out []byte
		err error
	)
	if isSign {
		out, err = privateSign(k, in)
	} else {
		out, err = privateECDH(k, peer)
	}
	if err != nil {
		return nil, err
	}
	c.st.Signatures++
	if err := c.save(); err != nil {
		return nil, err
	}
	return enc(0x7c, enc(0x82, out)), nil
}
