package pivsim

// GET DATA and PUT DATA of the PIV data objects.

// objectID reads the tag list 5C of GET DATA and PUT DATA.
func objectID(ts []tlv) (uint32, bool) {
	v, ok := find(ts, 0x5c)
	if !ok || len(v) == 0 || len(v) > 3 {
		return 0, false
	}
	var id uint32
	for _, b := range v {
		id = id<<8 | uint32(b)
	}
	return id, true
}

func (c *Card) getDataLocked(p1, p2 byte, data []byte) ([]byte, error) {
	if p1 != 0x3f || p2 != 0xff {
		return nil, apduError(swWrongP1P2)
	}
	ts, err := parseTLVs(data)
	if err != nil {
		return nil, apduError(swIncorrectData)
	}
	id, ok := objectID(ts)
	if !ok {
		return nil, apduError(swIncorrectData)
	}
	if id == objDiscovery {
		return enc(0x7e, cat(enc(0x4f, []byte{0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}),
			enc(0x5f2f, []byte{0x40, 0x00}))), nil
	}
	if id == objPrinted && !c.pinOK {
		return nil, apduError(swSecurity)
	}
	v, ok := c.st.Objects[objName(id)]
	if !ok {
		return nil, apduError(swNotFound)
	}
	return enc(0x53, v), nil
}

func (c *Card) putDataLocked(p1, p2 byte, data []byte) error {
	if p1 != 0x3f || p2 != 0xff {
		return apduError(swWrongP1P2)
	}
	if !c.mgmtOK {
		return apduError(swSecurity)
	}
	ts, err := parseTLVs(data)
	if err != nil {
		return apduError(swIncorrectData)
	}
	id, ok := objectID(ts)
	if !ok {
		return apduError(swIncorrectData)
	}
	v, ok := find(ts, 0x53)
	if !ok {
		return apduError(swIncorrectData)
	}
	if len(v) == 0 {
		delete(c.st.Objects, objName(id))
	} else {
		c.st.Objects[objName(id)] = append([]byte(nil), v...)
	}
	return c.save()
}

// certObject wraps a DER certificate as a PIV certificate object.
func certObject(der []byte) []byte {
	return cat(enc(0x70, der), enc(0x71, []byte{0x00}), enc(0xfe, nil))
}
