package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/keyrite/keyrite/hsm"
)

// The verifier notary calls agrees with notary's own ECDSAVerifier on
// every case, before and after a signature was remembered: a remembered
// signature never makes another (a flipped bit, another message, another
// key, the other key form) pass.
func TestOnceVerifierAgreesWithNotary(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bare, err := PublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	otherBare, _ := PublicKey(other.Public())
	_, certKey, err := RootCertificate(priv, "example.com/app", time.Now(), time.Now().Add(time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"signed":"metadata"}`)
	digest := sha256.Sum256(msg)
	der, _ := priv.Sign(rand.Reader, digest[:], nil)
	sig, err := hsm.DERToRaw(der, 32)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), sig...)
	flipped[5] ^= 1
	cases := []struct {
		name string
		key  data.PublicKey
		sig  []byte
		msg  []byte
		ok   bool
	}{
		{"valid, bare key", bare, sig, msg, true},
		{"valid, certificate key", certKey, sig, msg, true},
		{"flipped bit", bare, flipped, msg, false},
		{"other message", bare, sig, []byte(`{"signed":"other"}`), false},
		{"other key", otherBare, sig, msg, false},
		{"short", bare, sig[:63], msg, false},
		{"empty", certKey, nil, msg, false},
	}
	for round := range 2 { // the second round runs on what the first remembered
		for _, c := range cases {
			want := signed.ECDSAVerifier{}.Verify(c.key, c.sig, c.msg)
			got := signed.Verifiers[data.ECDSASignature].Verify(c.key, c.sig, c.msg)
			if (want == nil) != c.ok || (got == nil) != c.ok {
				t.Errorf("round %d, %s: notary %v, keyrite %v, want ok=%v", round, c.name, want, got, c.ok)
			}
		}
	}
}
