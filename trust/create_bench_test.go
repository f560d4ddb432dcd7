package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
)

// checkedSigner signs in software and checks each signature as a device
// backend does (hsm.VerifyDigest), so that the benchmark below costs what
// init costs besides the device.
type checkedSigner struct{ *ecdsa.PrivateKey }

func (s checkedSigner) Sign(r io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := ecdsa.SignASN1(r, s.PrivateKey, digest)
	if err != nil {
		return nil, err
	}
	return sig, hsm.VerifyDigest(&s.PublicKey, digest, sig)
}

// BenchmarkCreateRepositoryShared is one GUN of init with one root key and
// a shared targets key; BenchmarkBaselineSignVerify3 the three signatures
// it makes, each made and verified once: the ratio is what keyrite adds.
func BenchmarkCreateRepositoryShared(b *testing.B) {
	root, targets := checkedSigner{newKey(b)}, checkedSigner{newKey(b)}
	ts, ss := serverKey(b), serverKey(b)
	ks := NewKeyService()
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, err := CreateRepository(ks, NewRepoSpec{GUN: fmt.Sprintf("registry.example.com/bench/app%d", i), RootKeys: []crypto.Signer{root},
			TargetsKey: targets, Timestamp: ts, Snapshot: ss, Now: now, RootExpires: now.Add(DefaultRootExpiry),
			TargetsExpiry: now.Add(DefaultTargetsExpiry), Rand: rand.Reader})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineSignVerify3(b *testing.B) {
	k := newKey(b)
	d := sha256.Sum256([]byte("x"))
	for b.Loop() {
		for range 3 {
			sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
			if err != nil || !ecdsa.VerifyASN1(&k.PublicKey, d[:], sig) {
				b.Fatal(err)
			}
		}
	}
}
