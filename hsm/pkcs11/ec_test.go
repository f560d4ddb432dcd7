package pkcs11

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

func TestECPoint(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		wrapped, err := encodeECPoint(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := k.PublicKey.Bytes()
		if wrapped[0] != 0x04 || int(wrapped[1]) != len(raw) {
			t.Errorf("%s: CKA_EC_POINT %x is not an OCTET STRING around the point", curve.Params().Name, wrapped[:2])
		}
		for name, b := range map[string][]byte{"wrapped": wrapped, "raw": raw} {
			pub, err := parseECPoint(curve, b)
			if err != nil {
				t.Fatalf("%s %s: %v", curve.Params().Name, name, err)
			}
			if !pub.Equal(&k.PublicKey) {
				t.Errorf("%s %s: wrong key", curve.Params().Name, name)
			}
		}
		if _, err := parseECPoint(curve, raw[:len(raw)-1]); err == nil {
			t.Errorf("%s: short point accepted", curve.Params().Name)
		}
	}

	// A bare P-256 point whose X starts with 0x3f reads as a complete
	// 63-byte OCTET STRING; it must still be taken as the bare point.
	for i := 0; ; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := k.PublicKey.Bytes()
		if raw[1] != 0x3f {
			if i > 100000 {
				t.Fatal("no key with X[0] = 0x3f")
			}
			continue
		}
		pub, err := parseECPoint(elliptic.P256(), raw)
		if err != nil || !pub.Equal(&k.PublicKey) {
			t.Errorf("ambiguous bare point: %v", err)
		}
		break
	}
}

func TestECParams(t *testing.T) {
	for _, alg := range []string{hsm.P256, hsm.P384} {
		c, p, err := ecParams(alg)
		if err != nil {
			t.Fatal(err)
		}
		c2, alg2, err := curveFromParams(p)
		if err != nil || c2 != c || alg2 != alg {
			t.Errorf("%s: params %x map back to %v %s %v", alg, p, c2, alg2, err)
		}
	}
	if _, _, err := ecParams("P-521"); err == nil {
		t.Error("P-521 accepted")
	}
	if _, _, err := curveFromParams([]byte{0x06, 0x03, 0x2b, 0x65, 0x70}); err == nil {
		t.Error("Ed25519 OID accepted as an EC curve")
	}
}
