package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

// idLen is the length of the random CKA_ID given to new key pairs: enough
// that two ceremonies never collide, short enough to read in a URI.
const idLen = 16

// Generate creates an ECDSA key pair on the token: the private key is a
// sensitive, non-extractable token object. The new key signs once and the
// signature is verified before the key is returned; on any failure the new
// objects are destroyed again.
func (b *Backend) Generate(ctx context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	curve, params, err := ecParams(spec.AlgorithmOrDefault())
	if err != nil {
		return nil, fmt.Errorf("%s: generate: %w", b.device, err)
	}
	if spec.Label == "" {
		return nil, fmt.Errorf("%s: generate: a key label is required", b.device)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id, err := b.prepareCreateLocked(ctx, spec.Label)
	if err != nil {
		return nil, err
	}
	pubT := publicPolicy(spec.Label, id, params)
	privT := privatePolicy(spec.Label, id)
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)}
	pubH, privH, err := b.ctx().GenerateKeyPair(b.session, mech, pubT, privT)
	if err != nil {
		return nil, fmt.Errorf("%s: generate %s key %q: %w", b.device, spec.AlgorithmOrDefault(), spec.Label, err)
	}
	k, err := b.finishLocked(ctx, pubH, privH, curve, nil)
	if err != nil {
		return nil, b.rollbackLocked(err, pubH, privH)
	}
	b.labels[spec.Label] += 2
	return k, nil
}

// Import stores an *ecdsa.PrivateKey on the token under the same policy as
// Generate (sensitive, not extractable), with its public key object. The
// key read back must equal the one given and must sign correctly.
func (b *Backend) Import(ctx context.Context, priv crypto.Signer, spec hsm.KeySpec) (hsm.Key, error) {
	ek, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: import: unsupported key type %T (only ECDSA P-256 and P-384 keys are imported)", b.device, priv)
	}
	alg, err := hsm.CurveName(&ek.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: import: %w", b.device, err)
	}
	if spec.Algorithm != "" && spec.Algorithm != alg {
		return nil, fmt.Errorf("%s: import: key is %s but %s was asked for", b.device, alg, spec.Algorithm)
	}
	if spec.Label == "" {
		return nil, fmt.Errorf("%s: import: a key label is required", b.device)
	}
	curve, params, err := ecParams(alg)
	if err != nil {
		return nil, err
	}
	point, err := encodeECPoint(&ek.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: import: %w", b.device, err)
	}
	d, err := ek.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%s: import: %w", b.device, err)
	}
	// Our copy of the scalar; miekg/pkcs11 makes a C copy it frees unwiped.
	defer hsm.Wipe(d)

	b.mu.Lock()
	defer b.mu.Unlock()
	id, err := b.prepareCreateLocked(ctx, spec.Label)
	if err != nil {
		return nil, err
	}
	privT := append(privatePolicy(spec.Label, id),
		p11.NewAttribute(p11.CKA_EC_PARAMS, params),
		p11.NewAttribute(p11.CKA_VALUE, d))
	privH, err := b.ctx().CreateObject(b.session, privT)
	if err != nil {
		return nil, fmt.Errorf("%s: import key %q: %w", b.device, spec.Label, err)
	}
	pubT := append(publicPolicy(spec.Label, id, params), p11.NewAttribute(p11.CKA_EC_POINT, point))
	pubH, err := b.ctx().CreateObject(b.session, pubT)
	if err != nil {
		return nil, b.rollbackLocked(fmt.Errorf("%s: import public key %q: %w", b.device, spec.Label, err), privH)
	}
	k, err := b.finishLocked(ctx, pubH, privH, curve, &ek.PublicKey)
	if err != nil {
		return nil, b.rollbackLocked(err, pubH, privH)
	}
	b.labels[spec.Label] += 2
	return k, nil
}

// privatePolicy is the template every private key keyrite creates gets.
func privatePolicy(label string, id []byte) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
	}
}

// publicPolicy is the template of the matching public key object.
func publicPolicy(label string, id, params []byte) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_EC_PARAMS, params),
	}
}

// prepareCreateLocked logs in, refuses a label any object already has (a
// second "root" key would make every later URI ambiguous), and returns a
// new random CKA_ID for the objects to create.
func (b *Backend) prepareCreateLocked(ctx context.Context, label string) ([]byte, error) {
	if err := b.usableLocked(ctx); err != nil {
		return nil, err
	}
	if err := b.loginLocked(ctx); err != nil {
		return nil, err
	}
	labels, err := b.labelIndexLocked()
	if err != nil {
		return nil, err
	}
	if n := labels[label]; n > 0 {
		return nil, fmt.Errorf("%s: an object labelled %q %w (%d object(s)); choose another label", b.device, label, hsm.ErrExists, n)
	}
	return b.newID()
}

func (b *Backend) newID() ([]byte, error) {
	r := b.opts.Rand
	if r == nil {
		r = rand.Reader
	}
	id := make([]byte, idLen)
	if _, err := io.ReadFull(r, id); err != nil {
		return nil, fmt.Errorf("%s: key id: %w", b.device, err)
	}
	return id, nil
}

// finishLocked reads a new pair back, checks the public key (against want
// when the key was imported) and makes one verified test signature.
func (b *Backend) finishLocked(ctx context.Context, pubH, privH p11.ObjectHandle, curve elliptic.Curve, want *ecdsa.PublicKey) (*Key, error) {
	k, err := b.keyFromPublicLocked(pubH)
	if err != nil {
		return nil, err
	}
	if k.pub.Curve != curve {
		return nil, fmt.Errorf("%s: key %s: token made a %s key, not %s", b.device, k.name(), k.alg, curve.Params().Name)
	}
	if want != nil && !k.pub.Equal(want) {
		return nil, fmt.Errorf("%s: key %s: the public key read back differs from the imported key", b.device, k.name())
	}
	k.priv = privH
	digest := sha256.Sum256([]byte("keyrite pkcs11 self-test " + k.URI()))
	if _, err := k.signLocked(ctx, digest[:]); err != nil {
		return nil, fmt.Errorf("self-test signature: %w", err)
	}
	return k, nil
}

// rollbackLocked destroys objects a failed Generate or Import created.
func (b *Backend) rollbackLocked(cause error, hs ...p11.ObjectHandle) error {
	if err := b.destroyLocked(hs...); err != nil {
		return fmt.Errorf("%w (removing the new objects also failed: %v)", cause, err)
	}
	return fmt.Errorf("%w (the new objects were removed)", cause)
}

func (b *Backend) destroyLocked(hs ...p11.ObjectHandle) error {
	// The index is listed again at the next creation: a destroyed
	// object's label is not read back here.
	b.labels = nil
	var errs []error
	for _, h := range hs {
		if err := b.ctx().DestroyObject(b.session, h); err != nil {
			errs = append(errs, fmt.Errorf("%s: destroy object: %w", b.device, err))
		}
	}
	return errors.Join(errs...)
}

// keyURISelector parses a key URI and checks that it names this token.
func (b *Backend) keyURISelector(uri string) (keySelector, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return keySelector{}, err
	}
	s, err := parseURI(u)
	if err != nil {
		return keySelector{}, err
	}
	if !s.tok.empty() && !s.tok.match(b.tok) {
		return keySelector{}, fmt.Errorf("key URI %q names %s, but this is %s", uri, s.tok, b.device)
	}
	if s.key.empty() {
		return keySelector{}, fmt.Errorf("%q: %w", uri, errNoKeySelector)
	}
	return s.key, nil
}

// Open opens the key a URI names by object and/or id. No PIN is needed
// until the key signs.
func (b *Backend) Open(ctx context.Context, uri string) (hsm.Key, error) {
	sel, err := b.keyURISelector(uri)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(ctx); err != nil {
		return nil, err
	}
	hs, err := b.findLocked(classTemplate(p11.CKO_PUBLIC_KEY, sel))
	if err != nil {
		return nil, err
	}
	if err := b.oneLocked(hs, sel); err != nil {
		return nil, err
	}
	return b.keyFromPublicLocked(hs[0])
}

// oneLocked checks that a lookup found exactly one object.
func (b *Backend) oneLocked(hs []p11.ObjectHandle, sel keySelector) error {
	switch {
	case len(hs) == 0:
		return fmt.Errorf("%s: no key with %s: %w", b.device, sel, hsm.ErrNotFound)
	case len(hs) > 1:
		var ids []string
		for _, h := range hs {
			if v, err := b.attrs(h, p11.CKA_ID); err == nil {
				ids = append(ids, hex.EncodeToString(v[0]))
			}
		}
		return fmt.Errorf("%s: %d keys match %s (ids %s): add id= to the URI to pick one", b.device, len(hs), sel, strings.Join(ids, ", "))
	}
	return nil
}

// List describes the private keys on the token (this needs the PIN).
func (b *Backend) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(ctx); err != nil {
		return nil, err
	}
	if err := b.loginLocked(ctx); err != nil {
		return nil, err
	}
	hs, err := b.findLocked([]*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY)})
	if err != nil {
		return nil, err
	}
	out := make([]hsm.KeyInfo, 0, len(hs))
	for _, h := range hs {
		ki, err := b.keyInfoLocked(h)
		if err != nil {
			return nil, err
		}
		out = append(out, ki)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Label != out[j].Label {
			return out[i].Label < out[j].Label
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (b *Backend) keyInfoLocked(h p11.ObjectHandle) (hsm.KeyInfo, error) {
	v, err := b.attrs(h, p11.CKA_KEY_TYPE, p11.CKA_LABEL, p11.CKA_ID, p11.CKA_LOCAL)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	label, id := string(v[1]), v[2]
	ki := hsm.KeyInfo{
		URI:    keyURI(b.info(), label, id, b.uriModule),
		Label:  label,
		ID:     hex.EncodeToString(id),
		Origin: hsm.OriginImported,
	}
	// CKA_LOCAL is true only for keys generated on the token.
	if local, err := boolean(v[3]); err == nil && local {
		ki.Origin = hsm.OriginGenerated
	}
	kt, err := ulong(v[0])
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("%s: %w", b.device, err)
	}
	if kt != p11.CKK_EC {
		ki.Algorithm = keyTypeName(kt)
		return ki, nil
	}
	ki.Algorithm = "EC"
	params, err := b.attrs(h, p11.CKA_EC_PARAMS)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	if _, alg, err := curveFromParams(params[0]); err == nil {
		ki.Algorithm = alg
	}
	// The public key lives in the matching public object, if any.
	sel := keySelector{id: id}
	if len(id) == 0 {
		sel.label = label
	}
	pubs, err := b.findLocked(classTemplate(p11.CKO_PUBLIC_KEY, sel))
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	if len(pubs) == 1 {
		if k, err := b.keyFromPublicLocked(pubs[0]); err == nil {
			ki.Public = k.pub
		}
	}
	return ki, nil
}

func keyTypeName(kt uint) string {
	switch kt {
	case p11.CKK_RSA:
		return "RSA"
	case p11.CKK_EC:
		return "EC"
	}
	return fmt.Sprintf("key type 0x%x", kt)
}

// Delete destroys the private and public objects of the key a URI names.
func (b *Backend) Delete(ctx context.Context, uri string) error {
	sel, err := b.keyURISelector(uri)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(ctx); err != nil {
		return err
	}
	if err := b.loginLocked(ctx); err != nil {
		return err
	}
	privs, err := b.findLocked(classTemplate(p11.CKO_PRIVATE_KEY, sel))
	if err != nil {
		return err
	}
	pubs, err := b.findLocked(classTemplate(p11.CKO_PUBLIC_KEY, sel))
	if err != nil {
		return err
	}
	if len(privs) == 0 && len(pubs) == 0 {
		return b.oneLocked(nil, sel)
	}
	if len(privs) > 1 {
		return b.oneLocked(privs, sel)
	}
	if len(pubs) > 1 {
		return b.oneLocked(pubs, sel)
	}
	return b.destroyLocked(append(privs, pubs...)...)
}
