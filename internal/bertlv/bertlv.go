// Package bertlv encodes and parses the BER-TLVs of smart card commands
// (ISO 7816-4, PIV): one- to three-byte tags and definite lengths. It is
// shared by keyrite's YubiKey backend and the virtual YubiKey, which
// speak the same data formats from either side.
package bertlv

import "errors"

// Everything written uses minimal lengths: piv-go parses several
// responses with encoding/asn1.

// ErrMalformed is input that is not a sequence of TLVs.
var ErrMalformed = errors.New("malformed TLV")

// TLV is one tag and its value.
type TLV struct {
	Tag   uint32
	Value []byte
}

// Parse splits b into TLVs, accepting any definite BER length.
func Parse(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1f == 0x1f {
			for {
				if i >= len(b) {
					return nil, ErrMalformed
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
				if i > 4 {
					return nil, ErrMalformed
				}
			}
		}
		if i >= len(b) {
			return nil, ErrMalformed
		}
		n := int(b[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7f
			if k == 0 || k > 3 || i+k > len(b) {
				return nil, ErrMalformed
			}
			n = 0
			for j := 0; j < k; j++ {
				n = n<<8 | int(b[i+j])
			}
			i += k
		}
		if i+n > len(b) {
			return nil, ErrMalformed
		}
		out = append(out, TLV{Tag: tag, Value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// Find returns the value of the first TLV with the tag.
func Find(ts []TLV, tag uint32) ([]byte, bool) {
	for _, t := range ts {
		if t.Tag == tag {
			return t.Value, true
		}
	}
	return nil, false
}

// Encode encodes one TLV with a minimal length.
func Encode(tag uint32, value []byte) []byte {
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

// Cat concatenates byte slices.
func Cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
