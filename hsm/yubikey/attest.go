package yubikey

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Format is the hsm.Attestation format of YubiKey PIV attestations.
const Format = "yubikey-piv"

// Attested is what a verified attestation proves about a key.
type Attested struct {
	Serial      uint32           `json:"serial"`
	Firmware    string           `json:"firmware"`
	FormFactor  string           `json:"form_factor,omitempty"`
	Slot        string           `json:"slot"`
	PINPolicy   string           `json:"pin_policy"`
	TouchPolicy string           `json:"touch_policy"`
	Root        string           `json:"root"` // subject of the root the chain ends in
	Public      crypto.PublicKey `json:"-"`
}

// VerifyAttestation checks a YubiKey attestation: the slot certificate
// must chain through the device's attestation (F9) certificate to a root in
// roots. nil roots means Yubico's own PIV attestation roots, which is what
// keyrite always uses; only tests pass their simulator's root.
func VerifyAttestation(att *hsm.Attestation, roots *x509.CertPool) (*Attested, error) {
	if att == nil {
		return nil, errors.New("no attestation")
	}
	if att.Format != Format {
		return nil, fmt.Errorf("attestation format %q is not %s", att.Format, Format)
	}
	if len(att.Certs) != 2 {
		return nil, fmt.Errorf("a YubiKey attestation has 2 certificates (slot, device), this one %d", len(att.Certs))
	}
	slotCert, err := x509.ParseCertificate(att.Certs[0])
	if err != nil {
		return nil, fmt.Errorf("attestation: slot certificate: %w", err)
	}
	f9, err := x509.ParseCertificate(att.Certs[1])
	if err != nil {
		return nil, fmt.Errorf("attestation: device certificate: %w", err)
	}
	v := piv.Verifier{Roots: roots}
	a, err := v.Verify(f9, slotCert)
	if err != nil {
		return nil, fmt.Errorf("attestation does not chain to %s: %w", rootsName(roots), err)
	}
	if a.Slot == (piv.Slot{}) {
		return nil, fmt.Errorf("attestation names no PIV slot (subject %q)", slotCert.Subject.CommonName)
	}
	out := &Attested{
		Serial:      a.Serial,
		Firmware:    fmt.Sprintf("%d.%d.%d", a.Version.Major, a.Version.Minor, a.Version.Patch),
		Slot:        slotName(a.Slot),
		PINPolicy:   pinPolicyName(a.PINPolicy),
		TouchPolicy: touchPolicyName(a.TouchPolicy),
		Root:        f9.Issuer.String(),
		Public:      slotCert.PublicKey,
	}
	if a.Formfactor != 0 {
		out.FormFactor = a.Formfactor.String()
	}
	if a.Serial == 0 {
		return nil, errors.New("attestation carries no device serial number")
	}
	return out, nil
}

func rootsName(roots *x509.CertPool) string {
	if roots == nil {
		return "Yubico's PIV attestation roots"
	}
	return "the given attestation roots"
}
