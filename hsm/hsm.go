// Package hsm defines the contract between keyrite and the devices that hold
// its keys: PKCS#11 tokens, YubiKeys and the software rehearsal token.
//
// A Backend is one opened device (a token, a YubiKey, a softkey file). Keys
// are standard crypto.Signers; ECDSA signatures come back ASN.1 DER encoded,
// like crypto/ecdsa, whatever the device produces natively.
package hsm

import (
	"context"
	"crypto"
	"io"
	"time"
)

// Key is a private key held by a device.
type Key interface {
	crypto.Signer
	// URI names the key so that a later command can open it again,
	// e.g. pkcs11:token=ceremony;object=root.
	URI() string
	// Attestation returns the device's proof that the key was generated on
	// it, or nil, nil when the key is not attestable.
	Attestation() (*Attestation, error)
}

// Attestation is a device's statement about one of its keys.
type Attestation struct {
	Format string   // e.g. "yubikey-piv"
	Certs  [][]byte // DER certificates, leaf first
}

// Algorithm names accepted in KeySpec.
const (
	P256 = "P-256"
	P384 = "P-384"
)

// KeySpec describes a key to create on a device.
type KeySpec struct {
	Label     string // object label (PKCS#11 CKA_LABEL, softkey label)
	Algorithm string // P256 (default) or P384
	// Devices with key slots and usage policies (YubiKey PIV) also read:
	Slot        string // e.g. "9c"; empty: the device picks a free slot
	PINPolicy   string // "always" (default), "once" or "never"
	TouchPolicy string // "always" (default), "cached" or "never"
}

// AlgorithmOrDefault returns the spec's algorithm, P-256 when empty.
func (s KeySpec) AlgorithmOrDefault() string {
	if s.Algorithm == "" {
		return P256
	}
	return s.Algorithm
}

// Origin says where a key was born.
const (
	OriginGenerated = "generated" // on the device, never left it
	OriginImported  = "imported"  // created elsewhere and imported
	OriginSoftware  = "software"  // software token: rehearsal only
)

// KeyInfo describes a key without opening it.
type KeyInfo struct {
	URI       string
	Label     string
	ID        string // hex object ID where the device has one
	Algorithm string
	Public    crypto.PublicKey
	Origin    string
	Created   time.Time // zero when unknown
	// Free marks a YubiKey slot keyrite freed on firmware that cannot
	// delete keys: it holds a throwaway key (other tools see it) and
	// counts as free. Its Label is "keyrite: free slot".
	Free bool
}

// DeviceInfo describes a device a backend can see.
type DeviceInfo struct {
	URI          string   `json:"uri"`  // URI that selects this device
	Kind         string   `json:"kind"` // "pkcs11", "yubikey", "softkey"
	Label        string   `json:"label"`
	Serial       string   `json:"serial"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	Model        string   `json:"model,omitempty"`
	Firmware     string   `json:"firmware,omitempty"`
	Software     bool     `json:"software"`           // software token: rehearsal only
	Warnings     []string `json:"warnings,omitempty"` // advisories the operator must see
}

// Backend is one opened device.
type Backend interface {
	// Info describes the opened device.
	Info() DeviceInfo
	// Generate creates a key on the device. It refuses a label that exists.
	Generate(ctx context.Context, spec KeySpec) (Key, error)
	// Import stores a key created elsewhere. It refuses a label that exists.
	Import(ctx context.Context, priv crypto.Signer, spec KeySpec) (Key, error)
	// Open opens the key a URI names on this device.
	Open(ctx context.Context, uri string) (Key, error)
	// List describes the keys on the device.
	List(ctx context.Context) ([]KeyInfo, error)
	// Delete destroys the key a URI names: to roll back keys a failed
	// command created, and for keyrite key delete (after the operator typed
	// the key's ID).
	Delete(ctx context.Context, uri string) error
	Close() error
}

// RandomSource is implemented by backends whose device has a random
// number generator (PKCS#11 C_GenerateRandom). keyrite mixes its output
// with the operating system's when it makes a key in software.
type RandomSource interface {
	Random(ctx context.Context, n int) ([]byte, error)
}

// PINRequest tells a PINSource what is being asked for.
type PINRequest struct {
	Device  string // human description of the device, e.g. `token "ceremony" (serial 1a2b)`
	Kind    string // "PIN", "passphrase", "PUK", "new PIN" or "new PUK"
	Confirm bool   // a new secret: ask twice
	// DeviceURI selects the device asking (its DeviceInfo.URI), so that a
	// PIN source can keep one device's PIN from another. The Registry fills
	// it in for every device it opens; backends need not.
	DeviceURI string
}

// PINSource supplies PINs and passphrases. Implementations prompt on the
// terminal or read a file; PINs never come from flags, URIs or the
// environment.
type PINSource interface {
	PIN(ctx context.Context, req PINRequest) ([]byte, error)
}

// PINFunc adapts a function to PINSource.
type PINFunc func(ctx context.Context, req PINRequest) ([]byte, error)

// PIN implements PINSource.
func (f PINFunc) PIN(ctx context.Context, req PINRequest) ([]byte, error) { return f(ctx, req) }

// Options are shared by all backends when a device is opened.
type Options struct {
	PIN    PINSource
	Module string    // PKCS#11 module path override (--module)
	Rand   io.Reader // nil means crypto/rand
	Log    io.Writer // progress and warnings for the operator; nil discards
	// NoWait fails at once (DeviceAbsentError) when a device a URI names
	// is not attached, instead of asking for it and waiting.
	NoWait bool
	// Force lets a PIN be tried even when only one attempt is left.
	Force bool
}

// Wipe overwrites a secret in memory.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
