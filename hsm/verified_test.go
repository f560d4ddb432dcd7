package hsm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// VerifyDigest remembers what it accepted, and only that: after a good
// signature is remembered, an altered one, another digest or another key
// are still refused, each time.
func TestVerifyDigestRemembersOnlyWhatVerified(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("signed"))
	sig, _ := priv.Sign(rand.Reader, digest[:], nil)
	for range 2 {
		if err := VerifyDigest(priv.Public(), digest[:], sig); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := DERToRaw(sig, 32)
	bad := append([]byte(nil), raw...)
	bad[40] ^= 1
	otherDigest := sha256.Sum256([]byte("other"))
	for range 2 {
		if VerifyDigestRaw(&priv.PublicKey, digest[:], bad) == nil {
			t.Error("an altered signature verified")
		}
		if VerifyDigestRaw(&priv.PublicKey, otherDigest[:], raw) == nil {
			t.Error("a signature verified for another digest")
		}
		if VerifyDigestRaw(&other.PublicKey, digest[:], raw) == nil {
			t.Error("a signature verified with another key")
		}
		if VerifyDigest(priv.Public(), digest[:], append(sig, 0)) == nil {
			t.Error("a DER signature with trailing bytes verified")
		}
	}
}
