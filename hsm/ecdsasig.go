package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// RawToDER converts a fixed-width r‖s ECDSA signature (what PKCS#11
// CKM_ECDSA returns and what TUF stores) to ASN.1 DER (what crypto.Signer
// returns and X.509 stores).
func RawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ecdsa signature: raw r||s has odd or zero length %d", len(raw))
	}
	n := len(raw) / 2
	r := new(big.Int).SetBytes(raw[:n])
	s := new(big.Int).SetBytes(raw[n:])
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// DERToRaw converts an ASN.1 DER ECDSA signature to fixed-width r‖s, each
// half size bytes (32 for P-256, 48 for P-384).
func DERToRaw(der []byte, size int) ([]byte, error) {
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return nil, errors.New("ecdsa signature: malformed ASN.1 DER")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || len(r.Bytes()) > size || len(s.Bytes()) > size {
		return nil, errors.New("ecdsa signature: r or s out of range")
	}
	raw := make([]byte, 2*size)
	r.FillBytes(raw[:size])
	s.FillBytes(raw[size:])
	return raw, nil
}

// CurveSize is the byte length of one half of an r‖s signature.
func CurveSize(c elliptic.Curve) int { return (c.Params().BitSize + 7) / 8 }

// VerifyDigest checks a DER signature over a digest with a public key. Every
// signature a device makes passes through here before it is used; each is
// verified once in the process (see VerifyDigestRaw).
func VerifyDigest(pub crypto.PublicKey, digest, sig []byte) error {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := DERToRaw(sig, CurveSize(p.Curve))
		if err != nil {
			return fmt.Errorf("%w: %v", errBadSignature, err)
		}
		return VerifyDigestRaw(p, digest, raw)
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

// CurveName returns P-256 or P-384 for a supported public key.
func CurveName(pub crypto.PublicKey) (string, error) {
	p, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("unsupported public key type %T (only ECDSA P-256 and P-384 are supported)", pub)
	}
	switch p.Curve {
	case elliptic.P256():
		return P256, nil
	case elliptic.P384():
		return P384, nil
	}
	return "", fmt.Errorf("unsupported curve %s", p.Curve.Params().Name)
}

// Curve returns the curve for an algorithm name.
func Curve(alg string) (elliptic.Curve, error) {
	switch alg {
	case "", P256:
		return elliptic.P256(), nil
	case P384:
		return elliptic.P384(), nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q (use P-256 or P-384)", alg)
}
