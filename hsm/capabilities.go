package hsm

import (
	"context"
	"crypto"
	"fmt"
)

// Capabilities some devices have and others lack. They are optional
// interfaces (a Backend or Key implements them or not) so that ceremonies
// ask "can this device attest / be provisioned?" instead of "is this a
// YubiKey?", and never import a backend package to find out.

// SoftwareLabel is shown next to everything the software token does. It
// lives here, not in the softkey backend, because the command line prints
// it for rehearsal bundles without opening any device.
const SoftwareLabel = "software — rehearsal only"

// AttestedKey is what a verified attestation proves about a key. It is
// stored, as JSON, in signed bundles: the field names and tags are part of
// the bundle format and must not change.
type AttestedKey struct {
	Serial      uint32 `json:"serial"`
	Firmware    string `json:"firmware"`
	FormFactor  string `json:"form_factor,omitempty"`
	Slot        string `json:"slot"`
	PINPolicy   string `json:"pin_policy"`
	TouchPolicy string `json:"touch_policy"`
	Root        string `json:"root"` // subject of the root the chain ends in
	// Rehearsal: the chain ends in a root the operator declared for a
	// rehearsal (a virtual YubiKey's), not in the vendor's. It proves
	// nothing about real hardware; only a rehearsal accepts it.
	Rehearsal bool             `json:"rehearsal,omitempty"`
	Public    crypto.PublicKey `json:"-"`
	// Warnings are the verifier's advisories about the attested device
	// (e.g. a firmware with a known weakness). They are recomputed at
	// every verification, never stored: advisories are published after a
	// bundle is signed.
	Warnings []string `json:"-"`
}

// AttestationVerifier checks one attestation format. It is registered on a
// Registry by the command line, which is also where its trust roots are
// chosen, so that verifying a bundle needs no backend import.
type AttestationVerifier interface {
	VerifyAttestation(a *Attestation) (*AttestedKey, error)
}

// UnknownAttestationError reports an attestation whose format no verifier
// is registered for. A bundle carrying one is refused: an attestation that
// cannot be checked proves nothing.
type UnknownAttestationError struct {
	Format string
}

func (e *UnknownAttestationError) Error() string {
	return fmt.Sprintf("unknown attestation format %q", e.Format)
}

// Attester is implemented by a Backend whose device attests the keys it
// generates: the ceremony asks for attested mode by capability.
type Attester interface {
	// AttestationFormat is the Attestation.Format its keys' attestations
	// carry (a verifier for it must be registered to check them).
	AttestationFormat() string
}

// OriginReporter is implemented by a Key whose device records where the key
// was born (OriginGenerated or OriginImported), so that an imported key is
// never taken for an attestable one.
type OriginReporter interface {
	Origin() string
}

// Provisioner is implemented by a Backend whose device leaves the factory
// with default secrets that keyrite must replace before it holds keys.
type Provisioner interface {
	Provision(ctx context.Context, o ProvisionOptions) (*ProvisionReport, error)
}

// ProvisionOptions are the operator's choices for Provision. The new PIN
// and PUK are wiped when Provision returns.
type ProvisionOptions struct {
	NewPIN, NewPUK []byte
	// Reset erases the device's keys first; the caller must have had the
	// operator type the device's serial.
	Reset bool
	// ConfirmedSerial is the serial the operator typed to allow Reset. It
	// must equal the device's DeviceInfo.Serial.
	ConfirmedSerial string
	// Repair leaves PIN, PUK and management key alone on a device keyrite
	// provisioned before, and writes what other tools read (ykman's admin
	// data, a CHUID and a CCC) where missing; the device's PIN unlocks
	// its stored management key. NewPIN, NewPUK and Reset are unused.
	Repair bool
}

// ProvisionReport says what Provision changed.
type ProvisionReport struct {
	Serial        uint32   `json:"serial"`
	Firmware      string   `json:"firmware"`
	Reset         bool     `json:"reset"`
	Replaced      []string `json:"replaced"`
	ManagementKey string   `json:"management_key"`
	// Written are the data objects written for other tools (ykman's admin
	// data, a CHUID and a CCC where the device had none).
	Written  []string `json:"written,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// BatchSaver is a backend whose every change rewrites its whole store: the
// software token re-encrypts its file, scrypt included, for each key. From
// SaveLater on, the keys it makes (and deletes) stay in memory; Save
// stores them at once and returns to saving each change. Keys never saved
// were never made: a batch that fails leaves the store as it was.
type BatchSaver interface {
	SaveLater()
	Save() error
}
