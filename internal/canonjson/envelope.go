package canonjson

import (
	"bytes"
	"encoding/base64"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
)

// The one serialization notary's client uploads (trust.Marshal: the
// envelope encoded by docker/go's json.Marshal, fields in declaration
// order), piece by piece.
const (
	envelopeSigned     = `{"signed":`
	envelopeSignatures = `,"signatures":`
	signatureKeyID     = `{"keyid":"`
	signatureMethod    = `","method":"`
	signatureSig       = `","sig":`
)

// ParseSigned is a fast path for reading signed metadata. When ok, s is
// exactly what docker/go's json.Unmarshal decodes from b, its signed part
// is Canonical, and json.Marshal(s) gives b again: everything trust's
// parseSigned establishes with a full decode and re-encode. When not ok,
// nothing is said and the caller must take that slow path.
//
// It covers what notary and keyrite write: key IDs and methods in
// printable ASCII other than `"\<>&` (which the encoder would escape), a
// signed part that is an object with none of <, >, &, U+2028, U+2029
// (which the envelope's encoder would escape), and signatures in standard
// base64 as the encoder writes them.
func ParseSigned(b []byte) (s *data.Signed, ok bool) {
	if !bytes.HasPrefix(b, []byte(envelopeSigned)) {
		return nil, false
	}
	start := len(envelopeSigned)
	end, err := value(b, start)
	if err != nil || b[start] != '{' || !safeInEnvelope(b[start:end]) {
		return nil, false
	}
	raw := append(make([]byte, 0, end-start), b[start:end]...)
	i := end
	if !bytes.HasPrefix(b[i:], []byte(envelopeSignatures)) {
		return nil, false
	}
	i += len(envelopeSignatures)
	var sigs []data.Signature
	switch {
	case bytes.Equal(b[i:], []byte("null}")):
		i += len("null")
	case bytes.HasPrefix(b[i:], []byte("[]")):
		sigs = []data.Signature{}
		i += 2
	case bytes.HasPrefix(b[i:], []byte("[")):
		sigs = make([]data.Signature, 0, bytes.Count(b[i:], []byte(signatureKeyID)))
		for {
			var sig data.Signature
			if sig, i, ok = signature(b, i+1); !ok {
				return nil, false
			}
			sigs = append(sigs, sig)
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			if i >= len(b) || b[i] != ',' {
				return nil, false
			}
		}
	default:
		return nil, false
	}
	if i != len(b)-1 || b[i] != '}' {
		return nil, false
	}
	msg := json.RawMessage(raw)
	return &data.Signed{Signed: &msg, Signatures: sigs}, true
}

// signature reads one `{"keyid":"…","method":"…","sig":…}` at i.
func signature(b []byte, i int) (data.Signature, int, bool) {
	var sig data.Signature
	if !bytes.HasPrefix(b[i:], []byte(signatureKeyID)) {
		return sig, 0, false
	}
	i += len(signatureKeyID)
	keyID, i, ok := plainString(b, i, false)
	if !ok || !bytes.HasPrefix(b[i:], []byte(signatureMethod)) {
		return sig, 0, false
	}
	i += len(signatureMethod)
	// Signature.UnmarshalJSON lowercases the method: capitals would not
	// be written back.
	method, i, ok := plainString(b, i, true)
	if !ok || !bytes.HasPrefix(b[i:], []byte(signatureSig)) {
		return sig, 0, false
	}
	i += len(signatureSig)
	sig.KeyID, sig.Method = string(keyID), data.SigAlgorithm(method)
	if bytes.HasPrefix(b[i:], []byte("null}")) {
		return sig, i + len("null}"), true
	}
	if i >= len(b) || b[i] != '"' {
		return sig, 0, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 || !bytes.HasPrefix(b[i+1+end:], []byte(`"}`)) {
		return sig, 0, false
	}
	text := b[i+1 : i+1+end]
	// As the decoder does (literalStore into a []byte); then only the
	// text the encoder writes for those bytes is accepted.
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(dec, text)
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(text) {
		return sig, 0, false
	}
	var scratch [192]byte
	if !bytes.Equal(base64.StdEncoding.AppendEncode(scratch[:0], dec[:n]), text) {
		return sig, 0, false
	}
	sig.Signature = dec[:n]
	return sig, i + 1 + end + len(`"}`), true
}

// plainString reads a string's bytes up to its closing quote at i, when
// each is one the decoder keeps and the encoder writes as it is (and, if
// lower, is not a capital).
func plainString(b []byte, i int, lower bool) ([]byte, int, bool) {
	for j := i; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return b[i:j], j, true
		case c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&',
			lower && 'A' <= c && c <= 'Z':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// safeInEnvelope reports whether the envelope's encoder (json.Marshal,
// which compacts a RawMessage with HTML escaping) leaves the canonical
// signed part as it is: it escapes <, >, & and U+2028, U+2029.
func safeInEnvelope(raw []byte) bool {
	// One IndexByte (vectorised) per byte is faster than one IndexAny.
	for _, c := range []byte("<>&") {
		if bytes.IndexByte(raw, c) >= 0 {
			return false
		}
	}
	return !bytes.Contains(raw, []byte("\u2028")) && !bytes.Contains(raw, []byte("\u2029"))
}
