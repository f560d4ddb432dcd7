package yubikey

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Format is the hsm.Attestation format of YubiKey PIV attestations.
const Format = "yubikey-piv"

// AttestationVerifier checks YubiKey PIV attestations (hsm.AttestationVerifier
// for Format). The command line registers it with the roots it trusts.
type AttestationVerifier struct {
	// Roots the device certificate must chain to; nil means Yubico's own
	// PIV attestation roots, which is what keyrite always uses. Only tests
	// give their simulator's root.
	Roots *x509.CertPool
	// Rehearsal are roots the operator declared for a rehearsal (the
	// virtual YubiKey's): an attestation that chains to one of them and
	// not to Roots is accepted marked Rehearsal, which a real run
	// refuses. nil: none.
	Rehearsal *x509.CertPool
}

var _ hsm.AttestationVerifier = AttestationVerifier{}

// VerifyAttestation checks a YubiKey attestation: the slot certificate
// must chain through the device's attestation (F9) certificate to a root in
// v.Roots. The firmware's security advisories come back as Warnings.
func (v AttestationVerifier) VerifyAttestation(att *hsm.Attestation) (*hsm.AttestedKey, error) {
	roots := v.Roots
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
	pv := piv.Verifier{Roots: roots}
	a, err := pv.Verify(f9, slotCert)
	rehearsal := false
	if err != nil && v.Rehearsal != nil {
		rv := piv.Verifier{Roots: v.Rehearsal}
		var rerr error
		if a, rerr = rv.Verify(f9, slotCert); rerr == nil {
			err, rehearsal = nil, true
		}
	}
	if err != nil {
		name := rootsName(roots)
		if v.Rehearsal != nil {
			name += " nor to the rehearsal root"
		}
		return nil, fmt.Errorf("attestation does not chain to %s: %w", name, err)
	}
	if a.Slot == (piv.Slot{}) {
		return nil, fmt.Errorf("attestation names no PIV slot (subject %q)", slotCert.Subject.CommonName)
	}
	out := &hsm.AttestedKey{
		Serial:      a.Serial,
		Firmware:    fmt.Sprintf("%d.%d.%d", a.Version.Major, a.Version.Minor, a.Version.Patch),
		Slot:        slotName(a.Slot),
		PINPolicy:   pinPolicyName(a.PINPolicy),
		TouchPolicy: touchPolicyName(a.TouchPolicy),
		Root:        f9.Issuer.String(),
		Public:      slotCert.PublicKey,
		Rehearsal:   rehearsal,
	}
	if rehearsal {
		out.Root += " (rehearsal root)"
	}
	if a.Formfactor != 0 {
		out.FormFactor = a.Formfactor.String()
	}
	if a.Serial == 0 {
		return nil, errors.New("attestation carries no device serial number")
	}
	out.Warnings = FirmwareAdvisories(out.Firmware)
	return out, nil
}

func rootsName(roots *x509.CertPool) string {
	if roots == nil {
		return "Yubico's PIV attestation roots"
	}
	return "the given attestation roots"
}

var _ hsm.Attester = (*Backend)(nil)

// AttestationFormat implements hsm.Attester: a YubiKey attests the keys it
// generates, in Format.
func (b *Backend) AttestationFormat() string { return Format }
