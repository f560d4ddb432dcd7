package pkcs11

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/keyrite/keyrite/hsm"
)

// CKA_EC_PARAMS values: the DER-encoded named-curve OIDs.
const (
	ecParamsP256 = "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07" // 1.2.840.10045.3.1.7
	ecParamsP384 = "\x06\x05\x2b\x81\x04\x00\x22"             // 1.3.132.0.34
)

// ecParams returns the curve and CKA_EC_PARAMS for an algorithm name.
func ecParams(alg string) (elliptic.Curve, []byte, error) {
	c, err := hsm.Curve(alg)
	if err != nil {
		return nil, nil, err
	}
	if c == elliptic.P384() {
		return c, []byte(ecParamsP384), nil
	}
	return c, []byte(ecParamsP256), nil
}

// curveFromParams maps CKA_EC_PARAMS back to a curve keyrite supports.
func curveFromParams(p []byte) (elliptic.Curve, string, error) {
	switch string(p) {
	case ecParamsP256:
		return elliptic.P256(), hsm.P256, nil
	case ecParamsP384:
		return elliptic.P384(), hsm.P384, nil
	}
	return nil, "", fmt.Errorf("unsupported EC parameters %x (only P-256 and P-384 are supported)", p)
}

// parseECPoint decodes CKA_EC_POINT. PKCS#11 says it is a DER OCTET STRING
// around the uncompressed point, but some modules return the bare point, so
// both are accepted. The wrapped form is tried first and kept only if its
// content has exactly the point's length: a bare point can happen to parse
// as an OCTET STRING, never of the right length.
func parseECPoint(curve elliptic.Curve, b []byte) (*ecdsa.PublicKey, error) {
	want := 1 + 2*hsm.CurveSize(curve)
	in := cryptobyte.String(b)
	var inner cryptobyte.String
	point := b
	if in.ReadASN1(&inner, asn1.OCTET_STRING) && in.Empty() && len(inner) == want {
		point = inner
	}
	if len(point) != want {
		return nil, fmt.Errorf("EC point has %d bytes, want %d for %s", len(point), want, curve.Params().Name)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pub, nil
}

// encodeECPoint encodes a public key as CKA_EC_POINT: a DER OCTET STRING
// around the uncompressed point.
func encodeECPoint(pub *ecdsa.PublicKey) ([]byte, error) {
	point, err := pub.Bytes()
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1OctetString(point)
	return b.Bytes()
}

// ulong decodes a CK_ULONG attribute value (native byte order).
func ulong(v []byte) (uint, error) {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v)), nil
	case 4:
		return uint(binary.NativeEndian.Uint32(v)), nil
	}
	return 0, fmt.Errorf("CK_ULONG attribute has %d bytes", len(v))
}

// boolean decodes a CK_BBOOL attribute value.
func boolean(v []byte) (bool, error) {
	if len(v) != 1 {
		return false, errors.New("CK_BBOOL attribute is not one byte")
	}
	return v[0] != 0, nil
}
