package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unsafe"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Backend is one opened YubiKey. Its connection is shared with the other
// backends the driver opened on the same serial; every operation holds the
// device lock.
type Backend struct {
	dev    *device
	opts   hsm.Options
	sel    selector
	closed bool
}

var _ hsm.Backend = (*Backend)(nil)

// freeLabel marks a slot whose key keyrite destroyed (PIV has no delete
// before firmware 5.7, and piv-go none at all): the slot holds a throwaway
// key and counts as free.
const freeLabel = "keyrite: free slot"

// Info describes the YubiKey.
func (b *Backend) Info() hsm.DeviceInfo { return deviceInfo(b.dev.c) }

// Serial is the YubiKey's serial number.
func (b *Backend) Serial() uint32 { return b.dev.c.serial }

// Close releases the backend's share of the connection.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.dev.drv.release(b.dev)
}

// lock takes the device lock and returns the open connection.
func (b *Backend) lock() (*piv.YubiKey, func(), error) {
	if b.closed {
		return nil, nil, fmt.Errorf("%s: backend is closed", b.dev.name())
	}
	b.dev.mu.Lock()
	unlock := b.dev.mu.Unlock
	if b.dev.gone != nil {
		unlock()
		return nil, nil, b.dev.gone
	}
	if b.dev.c.yk == nil {
		unlock()
		return nil, nil, fmt.Errorf("%s: connection closed", b.dev.name())
	}
	return b.dev.c.yk, unlock, nil
}

// check turns a PC/SC failure that means the card went away into a
// DeviceAbsentError (remembered: the connection is dead), and names the
// device in every other error.
func (b *Backend) check(err error, what string) error {
	if err == nil {
		return nil
	}
	if isRemoved(err) || b.vanished(err) {
		b.dev.gone = fmt.Errorf("%s: %s: %w", b.dev.name(), what, &hsm.DeviceAbsentError{
			Device: b.dev.name() + " (removed while keyrite was using it)"})
		return b.dev.gone
	}
	return fmt.Errorf("%s: %s: %w", b.dev.name(), what, err)
}

// vanished asks the card whether it is still there when an error carries
// no status word from it: a card pulled out in the middle of an APDU can
// surface as a short or empty response ("scard response too short")
// rather than as one of the removal messages pcsc-lite has words for.
func (b *Backend) vanished(err error) bool {
	var answered interface{ Status() uint16 }
	var auth piv.AuthErr
	if errors.As(err, &answered) || errors.As(err, &auth) || errors.Is(err, piv.ErrNotFound) || b.dev.c.yk == nil {
		return false
	}
	_, perr := b.dev.c.yk.Serial()
	return perr != nil
}

// pinString views PIN bytes as a string without copying, so wiping the
// bytes wipes the only Go copy keyrite made. piv-go copies it into the
// APDU it sends.
func pinString(pin []byte) string {
	if len(pin) == 0 {
		return ""
	}
	return unsafe.String(&pin[0], len(pin))
}

// pinLocked returns the PIN to present, after checking the retry counter:
// a blocked PIN is reported without asking, and with one attempt left
// keyrite refuses to try unless Force. A PIN that failed once is never
// tried again in the same command.
func (b *Backend) pinLocked(ctx context.Context, yk *piv.YubiKey) ([]byte, error) {
	dev := b.dev
	if dev.pinErr != nil {
		return nil, dev.pinErr
	}
	retries, err := yk.Retries()
	if err != nil {
		if isRemoved(err) {
			return nil, b.check(err, "read PIN retries")
		}
		retries = -1 // already verified in this session: the card does not say
	}
	switch {
	case retries == 0:
		dev.pinErr = blockedError(dev.name())
		return nil, dev.pinErr
	case retries == 1 && !b.opts.Force:
		dev.pinErr = &hsm.AuthError{Device: dev.name(), Retries: 1,
			Hint: "one PIN attempt is left and a wrong PIN now blocks the YubiKey: keyrite does not try without --force; unblock the PIN with the PUK first if in doubt"}
		return nil, fmt.Errorf("%w: keyrite does not try the PIN with one attempt left (use --force if you are sure of the PIN)", dev.pinErr)
	case retries == 1:
		logf(b.opts.Log, "warning: %s: one PIN attempt left; trying because of --force", dev.name())
	case retries > 1 && retries < 3:
		logf(b.opts.Log, "%s: %d PIN attempts left", dev.name(), retries)
	}
	if b.opts.PIN == nil {
		return nil, fmt.Errorf("%s: a PIN is needed but no PIN source was given", dev.name())
	}
	pin, err := b.opts.PIN.PIN(ctx, hsm.PINRequest{Device: dev.name(), Kind: "PIN"})
	if err != nil {
		dev.pinErr = fmt.Errorf("%s: read PIN: %w", dev.name(), err)
		return nil, dev.pinErr
	}
	if len(pin) < 6 || len(pin) > 8 {
		hsm.Wipe(pin)
		return nil, fmt.Errorf("%s: a YubiKey PIN has 6 to 8 characters; nothing was sent to the device", dev.name())
	}
	return pin, nil
}

func blockedError(device string) error {
	return &hsm.AuthError{Device: device, Retries: 0, Blocked: true,
		Hint: "the PIN is blocked: unblock it with the PUK (ykman piv access unblock-pin), or reset the YubiKey's PIV application"}
}

// authError maps piv-go's wrong-PIN errors and remembers the failure.
func (b *Backend) authError(err error, what string) error {
	var ae piv.AuthErr
	if !errors.As(err, &ae) {
		return b.check(err, what)
	}
	if ae.Retries == 0 {
		b.dev.pinErr = blockedError(b.dev.name())
	} else {
		b.dev.pinErr = &hsm.AuthError{Device: b.dev.name(), Retries: ae.Retries,
			Hint: "keyrite never retries a PIN by itself: check the PIN (or the --pin-file) before you run the command again"}
	}
	return b.dev.pinErr
}

// verifyPINLocked presents the PIN to the card.
func (b *Backend) verifyPINLocked(ctx context.Context, yk *piv.YubiKey) error {
	pin, err := b.pinLocked(ctx, yk)
	if err != nil {
		return err
	}
	err = yk.VerifyPIN(pinString(pin))
	hsm.Wipe(pin)
	if err != nil {
		return b.authError(err, "verify PIN")
	}
	return nil
}

// managementKeyLocked reads the management key keyrite stored, PIN
// protected, when it provisioned the device.
func (b *Backend) managementKeyLocked(ctx context.Context, yk *piv.YubiKey) ([]byte, error) {
	pin, err := b.pinLocked(ctx, yk)
	if err != nil {
		return nil, err
	}
	m, err := yk.Metadata(pinString(pin))
	hsm.Wipe(pin)
	if err != nil {
		return nil, b.authError(err, "read the PIN-protected management key")
	}
	if m.ManagementKey == nil {
		return nil, fmt.Errorf("%s has no PIN-protected management key: provision it first (keyrite device provision %s)", b.dev.name(), DeviceURI(b.dev.c.serial))
	}
	return *m.ManagementKey, nil
}

// slotInfo reads a slot's metadata; ok is false for an empty slot.
func (b *Backend) slotInfoLocked(yk *piv.YubiKey, slot piv.Slot) (piv.KeyInfo, bool, error) {
	ki, err := yk.KeyInfo(slot)
	if err != nil {
		if errors.Is(err, piv.ErrNotFound) {
			return ki, false, nil
		}
		return ki, false, b.check(err, "read slot "+slotName(slot))
	}
	return ki, true, nil
}

// labelLocked reads the label keyrite wrote into the slot's certificate.
func labelLocked(yk *piv.YubiKey, slot piv.Slot) string {
	cert, err := yk.Certificate(slot)
	if err != nil {
		return ""
	}
	return cert.Subject.CommonName
}

// freeSlotLocked picks the slot for a new key: spec.Slot (which must be
// empty), else the first empty retired slot. The slot of the URI the
// backend was opened with does not count: that URI may name another key
// on the device.
func (b *Backend) freeSlotLocked(yk *piv.YubiKey, spec hsm.KeySpec) (piv.Slot, error) {
	// Labels are unique on a device, as on a PKCS#11 token: a second key
	// with the same label is refused.
	if spec.Label != "" {
		for _, s := range keySlots {
			if labelLocked(yk, s) == spec.Label {
				return piv.Slot{}, fmt.Errorf("%s: slot %s already holds a key labelled %q: %w", b.dev.name(), slotName(s), spec.Label, hsm.ErrExists)
			}
		}
	}
	var want *piv.Slot
	if spec.Slot != "" {
		s, err := parseSlot(spec.Slot)
		if err != nil {
			return piv.Slot{}, err
		}
		want = &s
	}
	if want != nil {
		_, used, err := b.slotInfoLocked(yk, *want)
		if err != nil {
			return piv.Slot{}, err
		}
		if used && labelLocked(yk, *want) != freeLabel {
			return piv.Slot{}, fmt.Errorf("%s: slot %s already holds a key: %w", b.dev.name(), slotName(*want), hsm.ErrExists)
		}
		return *want, nil
	}
	for _, s := range keySlots[4:] {
		_, used, err := b.slotInfoLocked(yk, s)
		if err != nil {
			return piv.Slot{}, err
		}
		if !used || labelLocked(yk, s) == freeLabel {
			return s, nil
		}
	}
	return piv.Slot{}, fmt.Errorf("%s: no free retired key slot (82-95) left", b.dev.name())
}

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
		return nil, fmt.Errorf("%s names no key: add slot=9c (see keyrite key list --device %s)", uri, DeviceURI(sel.serial))
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
		return nil, fmt.Errorf("%s: slot %s holds a %T key; keyrite uses ECDSA P-256 or P-384", b.dev.name(), slotName(slot), ki.PublicKey)
	}
	return &Key{b: b, slot: slot, pub: pub, pin: ki.PINPolicy, touch: ki.TouchPolicy, origin: ki.Origin, label: label}, nil
}

// List describes the keys in the YubiKey's slots.
func (b *Backend) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	yk, unlock, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []hsm.KeyInfo
	for _, s := range keySlots {
		_, used, err := b.slotInfoLocked(yk, s)
		if err != nil {
			return nil, err
		}
		if !used {
			continue
		}
		k, err := b.openLocked(yk, s)
		if errors.Is(err, hsm.ErrNotFound) {
			continue
		}
		if err != nil {
			logf(b.opts.Log, "warning: %v", err)
			continue
		}
		alg, _ := hsm.CurveName(k.pub)
		out = append(out, hsm.KeyInfo{URI: k.URI(), Label: k.label, ID: slotName(s), Algorithm: alg, Public: k.pub, Origin: k.Origin()})
	}
	return out, nil
}

// Delete destroys the key in a slot by generating a throwaway key over it
// and marking the slot free. It is only used to roll back keys a failed
// command created.
func (b *Backend) Delete(ctx context.Context, uri string) error {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return err
	}
	sel, err := parseURI(u)
	if err != nil {
		return err
	}
	if !sel.hasSlot || sel.serial != b.dev.c.serial {
		return fmt.Errorf("%s does not name a key on %s", uri, b.dev.name())
	}
	yk, unlock, err := b.lock()
	if err != nil {
		return err
	}
	defer unlock()
	mk, err := b.managementKeyLocked(ctx, yk)
	if err != nil {
		return err
	}
	defer hsm.Wipe(mk)
	pub, err := yk.GenerateKey(mk, sel.slot, piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		return b.check(err, "overwrite slot "+slotName(sel.slot))
	}
	k := &Key{b: b, slot: sel.slot, pub: pub.(*ecdsa.PublicKey), pin: piv.PINPolicyNever, touch: piv.TouchPolicyNever, origin: piv.OriginGenerated, label: freeLabel}
	return b.storeCertLocked(ctx, yk, mk, k)
}
