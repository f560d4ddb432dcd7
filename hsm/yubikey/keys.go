package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

func pivAlgorithm(alg string) (piv.Algorithm, error) {
	switch alg {
	case "", hsm.P256:
		return piv.AlgorithmEC256, nil
	case hsm.P384:
		return piv.AlgorithmEC384, nil
	}
	return 0, fmt.Errorf("unsupported algorithm %q (use P-256 or P-384)", alg)
}

func pinPolicy(s string) (piv.PINPolicy, error) {
	switch s {
	case "", "always":
		return piv.PINPolicyAlways, nil
	case "once":
		return piv.PINPolicyOnce, nil
	case "never":
		return piv.PINPolicyNever, nil
	}
	return 0, fmt.Errorf("PIN policy %q: use always, once or never", s)
}

func touchPolicy(s string) (piv.TouchPolicy, error) {
	switch s {
	case "", "always":
		return piv.TouchPolicyAlways, nil
	case "cached":
		return piv.TouchPolicyCached, nil
	case "never":
		return piv.TouchPolicyNever, nil
	}
	return 0, fmt.Errorf("touch policy %q: use always, cached or never", s)
}

// Generate creates a key on the YubiKey, writes a self-signed certificate
// carrying its label into the slot (the key's first signature, verified in
// software) and returns it. The key can be attested.
func (b *Backend) Generate(ctx context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	alg, err := pivAlgorithm(spec.Algorithm)
	if err != nil {
		return nil, err
	}
	w, err := b.beginSlotWrite(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer w.end()
	pub, err := w.yk.GenerateKey(w.mk, w.slot, piv.Key{Algorithm: alg, PINPolicy: w.pin, TouchPolicy: w.touch})
	if err != nil {
		return nil, b.check(err, "generate a key in slot "+slotName(w.slot))
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: slot %s returned a %T public key", b.dev.name(), slotName(w.slot), pub)
	}
	k := &Key{b: b, slot: w.slot, pub: ec, pin: w.pin, touch: w.touch, origin: piv.OriginGenerated, label: spec.Label}
	if err := b.storeCertLocked(ctx, w.yk, w.mk, k); err != nil {
		return nil, err
	}
	return k, nil
}

// Import stores a key created elsewhere (a backed-up key). The slot records
// its origin as imported: such a key is never attestable.
func (b *Backend) Import(ctx context.Context, priv crypto.Signer, spec hsm.KeySpec) (hsm.Key, error) {
	ecPriv, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: can only import ECDSA keys, not %T", b.dev.name(), priv)
	}
	if _, err := hsm.CurveName(&ecPriv.PublicKey); err != nil {
		return nil, err
	}
	w, err := b.beginSlotWrite(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer w.end()
	if err := w.yk.SetPrivateKeyInsecure(w.mk, w.slot, ecPriv, piv.Key{PINPolicy: w.pin, TouchPolicy: w.touch}); err != nil {
		return nil, b.check(err, "import a key into slot "+slotName(w.slot))
	}
	k := &Key{b: b, slot: w.slot, pub: &ecPriv.PublicKey, pin: w.pin, touch: w.touch, origin: piv.OriginImported, label: spec.Label}
	if err := b.storeCertLocked(ctx, w.yk, w.mk, k); err != nil {
		return nil, err
	}
	return k, nil
}

// slotWrite is what putting a key into a slot needs: the policies, the
// locked device, a free slot and the management key.
type slotWrite struct {
	yk     *piv.YubiKey
	slot   piv.Slot
	mk     []byte
	pin    piv.PINPolicy
	touch  piv.TouchPolicy
	unlock func()
}

// beginSlotWrite locks the device and prepares a slot write for Generate
// and Import; end releases it and wipes the management key.
func (b *Backend) beginSlotWrite(ctx context.Context, spec hsm.KeySpec) (*slotWrite, error) {
	pp, err := pinPolicy(spec.PINPolicy)
	if err != nil {
		return nil, err
	}
	tp, err := touchPolicy(spec.TouchPolicy)
	if err != nil {
		return nil, err
	}
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	w := &slotWrite{yk: yk, pin: pp, touch: tp, unlock: unlock}
	if w.slot, err = b.freeSlotLocked(yk, spec); err != nil {
		unlock()
		return nil, err
	}
	if w.mk, err = b.managementKeyLocked(ctx, yk); err != nil {
		unlock()
		return nil, err
	}
	return w, nil
}

func (w *slotWrite) end() {
	hsm.Wipe(w.mk)
	w.unlock()
}

// storeCertLocked has the new key sign a certificate naming its label and
// stores it in the slot. It is the key's first signature.
func (b *Backend) storeCertLocked(ctx context.Context, yk *piv.YubiKey, mk []byte, k *Key) error {
	label := k.label
	if label == "" {
		label = "keyrite key " + slotName(k.slot)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: label, OrganizationalUnit: []string{"keyrite"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.pub, lockedSigner{k, ctx, yk})
	if err != nil {
		return fmt.Errorf("%s: slot %s: self-signed certificate: %w", b.dev.name(), slotName(k.slot), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if err := yk.SetCertificate(mk, k.slot, cert); err != nil {
		return b.check(err, "store the certificate of slot "+slotName(k.slot))
	}
	return nil
}

// Open opens the key in the slot a URI names.
func (b *Backend) Open(ctx context.Context, uri string) (hsm.Key, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	sel, err := parseURI(u)
	if err != nil {
		return nil, err
	}
	if sel.serial != b.dev.c.serial {
		return nil, fmt.Errorf("%s names YubiKey serial %d, not %s", uri, sel.serial, b.dev.name())
	}
	if !sel.hasSlot {
		return nil, &hsm.HintError{Err: fmt.Errorf("%s names no key: add slot=9c", uri),
			Hint: "see keyrite key list --device " + DeviceURI(sel.serial)}
	}
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return b.openLocked(yk, sel.slot)
}

func (b *Backend) openLocked(yk *piv.YubiKey, slot piv.Slot) (*Key, error) {
	ki, ok, err := b.slotInfoLocked(yk, slot)
	if err != nil {
		return nil, err
	}
	label := labelLocked(yk, slot)
	if !ok || label == freeLabel {
		return nil, fmt.Errorf("%s: slot %s holds no key: %w", b.dev.name(), slotName(slot), hsm.ErrNotFound)
	}
	pub, isEC := ki.PublicKey.(*ecdsa.PublicKey)
	if !isEC {
		return nil, fmt.Errorf("%s: slot %s holds a %T key; only ECDSA P-256 and P-384 keys are supported", b.dev.name(), slotName(slot), ki.PublicKey)
	}
	return &Key{b: b, slot: slot, pub: pub, pin: ki.PINPolicy, touch: ki.TouchPolicy, origin: ki.Origin, label: label}, nil
}
