package hsm

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
)

// A signature is verified in software once: where a device makes it
// (every backend's Sign calls VerifyDigest), or the first time a bundle's
// signature is read. What VerifyDigest accepted it remembers, by the
// SHA-256 of the public key, the digest and the r‖s signature, so the
// same check later in the process (notary's verifier, through trust's,
// while the bundle just signed is verified before it is written, or a
// root signature checked again for its threshold) is a lookup. ECDSA
// verification is deterministic: a triple that verified once always
// does, so the memo never accepts what the full check would refuse.
var verified = struct {
	sync.RWMutex
	m map[[sha256.Size]byte]struct{}
}{m: map[[sha256.Size]byte]struct{}{}}

// maxVerified bounds the memo (32 bytes an entry): far above the 5,000
// signatures of a 1,000-repository ceremony. When it is full, it is
// emptied and fills again.
const maxVerified = 1 << 20

func verifiedKey(pub *ecdsa.PublicKey, digest, raw []byte) ([sha256.Size]byte, error) {
	point, err := pub.Bytes()
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte(pub.Curve.Params().Name))
	for _, b := range [][]byte{point, digest, raw} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		h.Write(n[:])
		h.Write(b)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k, nil
}

// VerifyDigestRaw checks a fixed-width r‖s signature (TUF's form) over a
// digest, once per process for a given key, digest and signature.
func VerifyDigestRaw(pub *ecdsa.PublicKey, digest, raw []byte) error {
	if len(raw) != 2*CurveSize(pub.Curve) {
		return fmt.Errorf("ecdsa signature: %d bytes, want %d", len(raw), 2*CurveSize(pub.Curve))
	}
	k, err := verifiedKey(pub, digest, raw)
	if err != nil {
		return err
	}
	verified.RLock()
	_, ok := verified.m[k]
	verified.RUnlock()
	if ok {
		return nil
	}
	der, err := RawToDER(raw)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(pub, digest, der) {
		return errBadSignature
	}
	verified.Lock()
	if len(verified.m) >= maxVerified {
		clear(verified.m)
	}
	verified.m[k] = struct{}{}
	verified.Unlock()
	return nil
}

var errBadSignature = errors.New("device signature does not verify with the key's public key")
