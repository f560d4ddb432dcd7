package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

// Key is an ECDSA key pair on a PKCS#11 token. It signs with CKM_ECDSA and
// returns ASN.1 DER signatures, each verified in software first.
type Key struct {
	b     *Backend
	label string
	id    []byte
	alg   string
	pub   *ecdsa.PublicKey
	// priv is found at the first signature: opening a key needs only its
	// public object, which is readable without a PIN.
	priv p11.ObjectHandle
}

var _ hsm.Key = (*Key)(nil)

// Public returns the *ecdsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// URI names the key: pkcs11:token=...;serial=...;object=...;id=%..
func (k *Key) URI() string { return keyURI(k.b.info(), k.label, k.id, k.b.uriModule) }

// Attestation returns nil, nil: PKCS#11 has no standard key attestation.
func (k *Key) Attestation() (*hsm.Attestation, error) { return nil, nil }

// Sign signs a SHA-256 or SHA-384 digest the caller computed. The token's
// r‖s signature is converted to DER and verified against the public key
// before it is returned.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("%s: sign: no hash function given (only SHA-256 and SHA-384 digests are signed)", k.b.device)
	}
	switch h := opts.HashFunc(); h {
	case crypto.SHA256, crypto.SHA384:
		if len(digest) != h.Size() {
			return nil, fmt.Errorf("%s: sign: digest is %d bytes, %v needs %d", k.b.device, len(digest), h, h.Size())
		}
	default:
		return nil, fmt.Errorf("%s: sign: unsupported hash %v (only SHA-256 and SHA-384 digests are signed; the caller hashes)", k.b.device, h)
	}
	k.b.mu.Lock()
	der, err := k.deviceSignLocked(context.Background(), digest)
	k.b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Checked in software outside the lock: a batch signing on several
	// goroutines keeps the token busy while the last signature is checked.
	return der, k.verify(digest, der)
}

// signLocked signs a digest and checks the signature in software.
func (k *Key) signLocked(ctx context.Context, digest []byte) ([]byte, error) {
	der, err := k.deviceSignLocked(ctx, digest)
	if err != nil {
		return nil, err
	}
	return der, k.verify(digest, der)
}

func (k *Key) verify(digest, der []byte) error {
	if err := hsm.VerifyDigest(k.pub, digest, der); err != nil {
		return fmt.Errorf("%s: key %s: %w", k.b.device, k.name(), err)
	}
	return nil
}

// deviceSignLocked is the token's signature over a digest, in DER, not
// checked yet.
func (k *Key) deviceSignLocked(ctx context.Context, digest []byte) ([]byte, error) {
	b := k.b
	if err := b.usableLocked(ctx); err != nil {
		return nil, err
	}
	if err := b.loginLocked(ctx); err != nil {
		return nil, err
	}
	if k.priv == 0 {
		h, err := k.findPrivateLocked()
		if err != nil {
			return nil, err
		}
		k.priv = h
	}
	if err := b.ctx().SignInit(b.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, k.priv); err != nil {
		return nil, fmt.Errorf("%s: key %s: start signing: %w", b.device, k.name(), err)
	}
	raw, err := b.ctx().Sign(b.session, digest)
	if err != nil {
		return nil, fmt.Errorf("%s: key %s: sign: %w", b.device, k.name(), err)
	}
	if want := 2 * hsm.CurveSize(k.pub.Curve); len(raw) != want {
		return nil, fmt.Errorf("%s: key %s: token returned a %d-byte signature, want %d", b.device, k.name(), len(raw), want)
	}
	der, err := hsm.RawToDER(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: key %s: %w", b.device, k.name(), err)
	}
	return der, nil
}

// findPrivateLocked finds the private object of the pair: by id when the
// public object has one (labels are not unique), else by label.
func (k *Key) findPrivateLocked() (p11.ObjectHandle, error) {
	sel := keySelector{id: k.id}
	if len(k.id) == 0 {
		sel.label = k.label
	}
	hs, err := k.b.findLocked(classTemplate(p11.CKO_PRIVATE_KEY, sel))
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%s: key %s has a public key but no private key: %w", k.b.device, k.name(), hsm.ErrNotFound)
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("%s: %d private keys share %s; give their public keys distinct ids", k.b.device, len(hs), k.name())
}

// name identifies the key in messages.
func (k *Key) name() string {
	return keySelector{label: k.label, id: k.id}.String()
}

// keyFromPublicLocked builds a Key from a public key object.
func (b *Backend) keyFromPublicLocked(h p11.ObjectHandle) (*Key, error) {
	v, err := b.attrs(h, p11.CKA_KEY_TYPE, p11.CKA_LABEL, p11.CKA_ID)
	if err != nil {
		return nil, err
	}
	kt, err := ulong(v[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.device, err)
	}
	k := &Key{b: b, label: string(v[1]), id: v[2]}
	if kt != p11.CKK_EC {
		return nil, fmt.Errorf("%s: key %s is not an EC key (key type 0x%x); only ECDSA P-256 and P-384 keys are supported", b.device, k.name(), kt)
	}
	ec, err := b.attrs(h, p11.CKA_EC_PARAMS, p11.CKA_EC_POINT)
	if err != nil {
		return nil, err
	}
	curve, alg, err := curveFromParams(ec[0])
	if err != nil {
		return nil, fmt.Errorf("%s: key %s: %w", b.device, k.name(), err)
	}
	if k.pub, err = parseECPoint(curve, ec[1]); err != nil {
		return nil, fmt.Errorf("%s: key %s: %w", b.device, k.name(), err)
	}
	k.alg = alg
	return k, nil
}

var errNoKeySelector = errors.New("the key URI names no key: add object= or id=")
