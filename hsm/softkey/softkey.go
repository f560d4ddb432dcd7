// Package softkey is keyrite's embedded software token: ECDSA keys kept in
// one file encrypted with an age passphrase (scrypt). It exists so that a
// whole ceremony can be rehearsed with nothing installed. It offers none of
// a device's protection, and every output that involves it says so.
package softkey

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/keyrite/keyrite/hsm"
)

// Driver opens softkey files. URIs: softkey:file=PATH[;object=LABEL].
type Driver struct {
	// WorkFactor is the scrypt log2(N) for files this driver writes;
	// 0 means age's default.
	WorkFactor int
}

// NewDriver returns a driver with age's default scrypt work factor.
func NewDriver() *Driver { return &Driver{} }

// GeneratedPassphraseWorkFactor is the scrypt work factor for a token whose
// passphrase keyrite generated at random (a rehearsal's, 128 bits or
// more): scrypt slows the guessing of a passphrase a person chose, and
// there is nothing to guess here, so the file stays encrypted without
// each key stored costing age's default (2^18: about a second and 256 MiB
// on the machines keyrite runs on).
const GeneratedPassphraseWorkFactor = 10

// NewGeneratedPassphraseDriver returns a driver for tokens whose
// passphrase keyrite generated (see GeneratedPassphraseWorkFactor).
func NewGeneratedPassphraseDriver() *Driver {
	return &Driver{WorkFactor: GeneratedPassphraseWorkFactor}
}

// Open implements hsm.Driver. A file that does not exist yet is created on
// the first Generate or Import, with a new passphrase asked twice.
func (d *Driver) Open(ctx context.Context, u *hsm.URI, opts hsm.Options) (hsm.Backend, error) {
	if err := u.Allow("file", "object"); err != nil {
		return nil, err
	}
	path := u.Get("file")
	if path == "" {
		return nil, fmt.Errorf("invalid key URI %q: softkey needs file=PATH", u.String())
	}
	b := &Backend{path: path, opts: opts, wf: d.WorkFactor}
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("softkey %s: %w", path, err)
		}
		b.fresh = true
	}
	return b, nil
}

// Devices implements hsm.Driver. Software tokens are files, not attached
// devices, so there is nothing to discover.
func (d *Driver) Devices(ctx context.Context, opts hsm.Options) ([]hsm.DeviceInfo, error) {
	return nil, nil
}

// Backend is one open softkey file.
type Backend struct {
	path  string
	opts  hsm.Options
	wf    int
	fresh bool // file does not exist yet

	mu         sync.Mutex
	later      bool // a batch: changes stay in memory until Save
	dirty      bool // changes not saved yet
	loaded     bool
	passphrase []byte
	file       *tokenFile
}

// Info implements hsm.Backend.
func (b *Backend) Info() hsm.DeviceInfo {
	serial := ""
	if b.file != nil {
		serial = b.file.Serial
	}
	return hsm.DeviceInfo{
		URI:      (&hsm.URI{Scheme: "softkey", Path: []hsm.Attr{{Name: "file", Value: b.path}}}).String(),
		Kind:     "softkey",
		Label:    b.path,
		Serial:   serial,
		Model:    "keyrite software token",
		Software: true,
		Warnings: []string{hsm.SoftwareLabel + ": keys are in a passphrase-encrypted file, not on hardware"},
	}
}

func (b *Backend) describe() string { return fmt.Sprintf("softkey %s (%s)", b.path, hsm.SoftwareLabel) }

// load decrypts the file once, asking the passphrase once.
func (b *Backend) load(ctx context.Context, create bool) error {
	if b.loaded {
		return nil
	}
	if b.opts.PIN == nil {
		return errors.New("no way to ask for the softkey passphrase")
	}
	if b.fresh {
		if !create {
			return &hsm.HintError{Err: fmt.Errorf("%s: %w", b.describe(), hsm.ErrNotFound),
				Hint: "create it with keyrite key generate --device softkey:file=" + b.path}
		}
		pass, err := b.opts.PIN.PIN(ctx, hsm.PINRequest{Device: b.describe(), Kind: "passphrase", Confirm: true})
		if err != nil {
			return err
		}
		serial := make([]byte, 8)
		if _, err := io.ReadFull(rand.Reader, serial); err != nil {
			return err
		}
		b.passphrase = pass
		b.file = &tokenFile{Format: fileFormat, Serial: hex.EncodeToString(serial), Created: time.Now().UTC()}
		b.loaded = true
		return nil
	}
	enc, err := os.ReadFile(b.path)
	if err != nil {
		return fmt.Errorf("softkey: %w", err)
	}
	pass, err := b.opts.PIN.PIN(ctx, hsm.PINRequest{Device: b.describe(), Kind: "passphrase"})
	if err != nil {
		return err
	}
	f, err := decryptFile(enc, pass)
	if err != nil {
		hsm.Wipe(pass)
		var ae *hsm.AuthError
		if errors.As(err, &ae) {
			ae.Device = b.describe()
		}
		return err
	}
	b.passphrase, b.file, b.loaded = pass, f, true
	// Saved again with the work factor it has: a rehearsal's token
	// (GeneratedPassphraseWorkFactor) keeps costing a millisecond per key
	// stored, whichever driver opens it, and no token is ever weakened.
	if wf, ok := fileWorkFactor(enc); ok {
		b.wf = wf
	}
	return nil
}

func (b *Backend) save() error {
	enc, err := encryptFile(b.file, b.passphrase, b.wf)
	if err != nil {
		return err
	}
	if err := writeTokenFile(b.path, enc, !b.fresh); err != nil {
		return fmt.Errorf("softkey %s: %w", b.path, err)
	}
	b.fresh = false
	return nil
}

// change saves the file, or in a batch notes that it must be saved.
func (b *Backend) change() error {
	if b.later {
		b.dirty = true
		return nil
	}
	return b.save()
}

// SaveLater implements hsm.BatchSaver: every key stored costs an scrypt and
// a write of the whole file, so a batch's keys are saved once, by Save.
func (b *Backend) SaveLater() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.later = true
}

// Save implements hsm.BatchSaver: it stores what the batch changed, then
// saves each change again.
func (b *Backend) Save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.later = false
	if !b.dirty {
		return nil
	}
	if err := b.save(); err != nil {
		return err
	}
	b.dirty = false
	return nil
}

// Generate implements hsm.Backend.
func (b *Backend) Generate(ctx context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	curve, err := hsm.Curve(spec.AlgorithmOrDefault())
	if err != nil {
		return nil, err
	}
	r := b.opts.Rand
	if r == nil {
		r = rand.Reader
	}
	priv, err := ecdsa.GenerateKey(curve, r)
	if err != nil {
		return nil, err
	}
	return b.store(ctx, priv, spec, hsm.OriginSoftware)
}

// Import implements hsm.Backend.
func (b *Backend) Import(ctx context.Context, priv crypto.Signer, spec hsm.KeySpec) (hsm.Key, error) {
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("softkey: cannot import %T (ECDSA only)", priv)
	}
	return b.store(ctx, ec, spec, hsm.OriginImported)
}

func (b *Backend) store(ctx context.Context, priv *ecdsa.PrivateKey, spec hsm.KeySpec, origin string) (hsm.Key, error) {
	if spec.Label == "" {
		return nil, errors.New("softkey: a key needs a label")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.load(ctx, true); err != nil {
		return nil, err
	}
	if b.file.find(spec.Label, "") != nil {
		return nil, fmt.Errorf("softkey %s: key %q: %w", b.path, spec.Label, hsm.ErrExists)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	alg, err := hsm.CurveName(priv.Public())
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, id); err != nil {
		return nil, err
	}
	e := &entry{Label: spec.Label, ID: hex.EncodeToString(id), Algorithm: alg, Origin: origin,
		Created: time.Now().UTC(), PKCS8: der}
	b.file.Keys = append(b.file.Keys, e)
	if err := b.change(); err != nil {
		b.file.Keys = b.file.Keys[:len(b.file.Keys)-1]
		return nil, err
	}
	return b.key(e)
}

// Open implements hsm.Backend.
func (b *Backend) Open(ctx context.Context, uri string) (hsm.Key, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	label := u.Get("object")
	if label == "" {
		return nil, fmt.Errorf("key URI %q names no key: add object=LABEL", uri)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.load(ctx, false); err != nil {
		return nil, err
	}
	e := b.file.find(label, "")
	if e == nil {
		return nil, fmt.Errorf("softkey %s: key %q: %w", b.path, label, hsm.ErrNotFound)
	}
	return b.key(e)
}

// List implements hsm.Backend.
func (b *Backend) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.load(ctx, false); err != nil {
		return nil, err
	}
	var out []hsm.KeyInfo
	for _, e := range b.file.Keys {
		k, err := b.key(e)
		if err != nil {
			return nil, err
		}
		out = append(out, hsm.KeyInfo{URI: k.URI(), Label: e.Label, ID: e.ID, Algorithm: e.Algorithm,
			Public: k.Public(), Origin: e.Origin, Created: e.Created})
	}
	return out, nil
}

// Delete implements hsm.Backend.
func (b *Backend) Delete(ctx context.Context, uri string) error {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.load(ctx, false); err != nil {
		return err
	}
	kept := b.file.Keys[:0:0]
	found := false
	for _, e := range b.file.Keys {
		if e.Label == u.Get("object") {
			found = true
			continue
		}
		kept = append(kept, e)
	}
	if !found {
		return fmt.Errorf("softkey %s: key %q: %w", b.path, u.Get("object"), hsm.ErrNotFound)
	}
	old := b.file.Keys
	b.file.Keys = kept
	if err := b.change(); err != nil {
		b.file.Keys = old
		return err
	}
	return nil
}

// Close implements hsm.Backend and wipes the passphrase and key material.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	hsm.Wipe(b.passphrase)
	if b.file != nil {
		for _, e := range b.file.Keys {
			hsm.Wipe(e.PKCS8)
		}
	}
	b.file, b.loaded = nil, false
	return nil
}

func (b *Backend) key(e *entry) (*Key, error) {
	p, err := x509.ParsePKCS8PrivateKey(e.PKCS8)
	if err != nil {
		return nil, fmt.Errorf("softkey %s: key %q is corrupt: %w", b.path, e.Label, err)
	}
	priv, ok := p.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("softkey %s: key %q is not ECDSA", b.path, e.Label)
	}
	u := &hsm.URI{Scheme: "softkey", Path: []hsm.Attr{{Name: "file", Value: b.path}, {Name: "object", Value: e.Label}}}
	return &Key{priv: priv, uri: u.String()}, nil
}

// Key is a software key. It signs like a device would: DER signatures,
// verified before they are returned.
type Key struct {
	priv *ecdsa.PrivateKey
	uri  string
}

// Public implements crypto.Signer.
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// Sign implements crypto.Signer.
func (k *Key) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := k.priv.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	if err := hsm.VerifyDigest(k.priv.Public(), digest, sig); err != nil {
		return nil, err
	}
	return sig, nil
}

// URI implements hsm.Key.
func (k *Key) URI() string { return k.uri }

// Attestation implements hsm.Key: software keys are never attestable.
func (k *Key) Attestation() (*hsm.Attestation, error) { return nil, nil }
