package pivsim

import "errors"

// BER-TLV helpers. PIV uses one- and two-byte tags (0x5F.. and 0x7F49) and
// DER-style lengths; piv-go parses several responses with encoding/asn1, so
// everything this card writes uses minimal lengths.

var errTLV = errors.New("malformed TLV")

type tlv struct {
	tag   uint32
	value []byte
}

// parseTLVs splits b into TLVs, accepting any definite BER length.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1f == 0x1f {
			for {
				if i >= len(b) {
					return nil, errTLV
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
				if i > 4 {
					return nil, errTLV
				}
			}
		}
		if i >= len(b) {
			return nil, errTLV
		}
		n := int(b[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7f
			if k == 0 || k > 3 || i+k > len(b) {
				return nil, errTLV
			}
			n = 0
			for j := 0; j < k; j++ {
				n = n<<8 | int(b[i+j])
			}
			i += k
		}
		if i+n > len(b) {
			return nil, errTLV
		}
		out = append(out, tlv{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// find returns the value of the first TLV with the tag.
func find(ts []tlv, tag uint32) ([]byte, bool) {
	for _, t := range ts {
		if t.tag == tag {
			return t.value, true
		}
	}
	return nil, false
}

// enc encodes one TLV with a minimal length.
func enc(tag uint32, value []byte) []byte {
	var out []byte
	switch {
	case tag > 0xffff:
		out = append(out, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xff:
		out = append(out, byte(tag>>8), byte(tag))
	default:
		out = append(out, byte(tag))
	}
	n := len(value)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, value...)
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
