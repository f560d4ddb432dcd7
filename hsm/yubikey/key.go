package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Key is an ECDSA key in a YubiKey PIV slot. Signatures come back DER
// encoded and are verified in software before they are returned.
type Key struct {
	b      *Backend
	slot   piv.Slot
	pub    *ecdsa.PublicKey
	pin    piv.PINPolicy
	touch  piv.TouchPolicy
	origin piv.Origin
	label  string
}

var _ hsm.Key = (*Key)(nil)

// Public returns the *ecdsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// URI names the key: yubikey:serial=N;slot=9c.
func (k *Key) URI() string { return KeyURI(k.b.dev.c.serial, k.slot) }

// Slot is the PIV slot, e.g. "9c".
func (k *Key) Slot() string { return slotName(k.slot) }

// Label is the common name of the slot's certificate.
func (k *Key) Label() string { return k.label }

// Origin is hsm.OriginGenerated or hsm.OriginImported, as the slot's
// metadata says.
func (k *Key) Origin() string {
	if k.origin == piv.OriginImported {
		return hsm.OriginImported
	}
	return hsm.OriginGenerated
}

// PINPolicy and TouchPolicy name the slot's policies.
func (k *Key) PINPolicy() string   { return pinPolicyName(k.pin) }
func (k *Key) TouchPolicy() string { return touchPolicyName(k.touch) }

func pinPolicyName(p piv.PINPolicy) string {
	switch p {
	case piv.PINPolicyNever:
		return "never"
	case piv.PINPolicyOnce:
		return "once"
	case piv.PINPolicyAlways:
		return "always"
	}
	return fmt.Sprintf("unknown(%d)", p)
}

func touchPolicyName(p piv.TouchPolicy) string {
	switch p {
	case piv.TouchPolicyNever:
		return "never"
	case piv.TouchPolicyAlways:
		return "always"
	case piv.TouchPolicyCached:
		return "cached"
	}
	return fmt.Sprintf("unknown(%d)", p)
}

// Sign signs a SHA-256 or SHA-384 digest. The PIN is presented first when
// the slot's policy asks for it; a touch prompt is printed before the
// device waits for the touch.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	yk, unlock, err := k.b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return k.signLocked(context.Background(), yk, digest, opts)
}

func (k *Key) signLocked(ctx context.Context, yk *piv.YubiKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	name := k.b.dev.name()
	if opts == nil {
		return nil, fmt.Errorf("%s: sign: no hash function given (only SHA-256 and SHA-384 digests are signed)", name)
	}
	switch h := opts.HashFunc(); h {
	case crypto.SHA256, crypto.SHA384:
		if len(digest) != h.Size() {
			return nil, fmt.Errorf("%s: sign: digest is %d bytes, %v needs %d", name, len(digest), h, h.Size())
		}
	default:
		return nil, fmt.Errorf("%s: sign: unsupported hash %v (only SHA-256 and SHA-384 digests are signed)", name, h)
	}
	switch k.pin {
	case piv.PINPolicyAlways:
		if err := k.b.verifyPINLocked(ctx, yk); err != nil {
			return nil, err
		}
	case piv.PINPolicyOnce:
		// An empty VERIFY tells whether the PIN was presented in this
		// session; only then is it needed.
		if _, err := yk.Retries(); err == nil {
			if err := k.b.verifyPINLocked(ctx, yk); err != nil {
				return nil, err
			}
		}
	}
	if k.b.dev.touchDue(k.touch, time.Now()) {
		logf(k.b.opts.Log, "touch %s now (slot %s) to sign", name, slotName(k.slot))
	}
	priv, err := yk.PrivateKey(k.slot, k.pub, piv.KeyAuth{PINPolicy: piv.PINPolicyNever})
	if err != nil {
		return nil, k.b.check(err, "slot "+slotName(k.slot))
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: slot %s cannot sign", name, slotName(k.slot))
	}
	sig, err := signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, k.b.check(err, "slot "+slotName(k.slot)+": sign")
	}
	if err := hsm.VerifyDigest(k.pub, digest, sig); err != nil {
		return nil, fmt.Errorf("%s: slot %s: %w", name, slotName(k.slot), err)
	}
	return sig, nil
}

// lockedSigner signs with a key while the device lock is already held.
type lockedSigner struct {
	k   *Key
	ctx context.Context
	yk  *piv.YubiKey
}

func (s lockedSigner) Public() crypto.PublicKey { return s.k.pub }
func (s lockedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.signLocked(s.ctx, s.yk, digest, opts)
}

// Attestation returns the slot's attestation certificate and the device's
// attestation (F9) certificate, leaf first. A key whose slot metadata says
// it was imported is not attestable: nil, nil, whatever the device would
// answer.
func (k *Key) Attestation() (*hsm.Attestation, error) {
	yk, unlock, err := k.b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ki, ok, err := k.b.slotInfoLocked(yk, k.slot)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: slot %s is empty: %w", k.b.dev.name(), slotName(k.slot), hsm.ErrNotFound)
	}
	if ki.Origin != piv.OriginGenerated {
		return nil, nil
	}
	slotCert, err := yk.Attest(k.slot)
	if err != nil {
		return nil, k.b.check(err, "attest slot "+slotName(k.slot))
	}
	f9, err := yk.AttestationCertificate()
	if err != nil {
		return nil, k.b.check(err, "read the attestation certificate (F9)")
	}
	return &hsm.Attestation{Format: Format, Certs: [][]byte{slotCert.Raw, f9.Raw}}, nil
}
