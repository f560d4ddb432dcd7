package hsm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestDERRawRoundTrip(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := CurveSize(curve)
		for i := range 50 {
			d := sha256.Sum256([]byte{byte(i)})
			der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
			if err != nil {
				t.Fatal(err)
			}
			raw, err := DERToRaw(der, size)
			if err != nil || len(raw) != 2*size {
				t.Fatalf("DERToRaw: %d bytes, %v", len(raw), err)
			}
			back, err := RawToDER(raw)
			if err != nil || string(back) != string(der) {
				t.Fatalf("RawToDER(DERToRaw(der)) != der (%v)", err)
			}
			if err := VerifyDigest(&k.PublicKey, d[:], back); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Small r and s (leading zero bytes) must be left-padded, the case that
// breaks naive converters about once in 256 signatures.
func TestDERToRawPadsShortIntegers(t *testing.T) {
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(1), big.NewInt(0x0102)})
	raw, err := DERToRaw(der, 32)
	if err != nil {
		t.Fatal(err)
	}
	if raw[31] != 1 || raw[62] != 1 || raw[63] != 2 || raw[0] != 0 {
		t.Fatalf("raw = %x", raw)
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, append(der, 0)} {
		if _, err := DERToRaw(bad, 32); err == nil {
			t.Errorf("DERToRaw(%x) accepted", bad)
		}
	}
	if _, err := RawToDER(make([]byte, 63)); err == nil {
		t.Error("RawToDER accepted an odd length")
	}
	wide := make([]byte, 33)
	wide[0] = 1
	huge, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(wide), big.NewInt(1)})
	if _, err := DERToRaw(huge, 32); err == nil {
		t.Error("DERToRaw accepted r wider than the curve")
	}
}
