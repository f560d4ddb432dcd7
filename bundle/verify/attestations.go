package verify

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
)

// AttestationDir holds one file per attested root key in a signed bundle:
// attestations/<key ID>.json, listed in the manifest like every file.
const AttestationDir = "attestations/"

// AttestationRecord is an attestation as the bundle keeps it.
type AttestationRecord struct {
	Format   string           `json:"format"`
	KeyURI   string           `json:"key_uri"`
	KeyID    string           `json:"key_id"` // canonical (bare public key) ID
	Origin   string           `json:"origin"` // always "generated": imported keys are never attested
	Device   bundle.Device    `json:"device"`
	Certs    [][]byte         `json:"certificates"` // DER, leaf first
	Attested *hsm.AttestedKey `json:"attested"`
}

// AttestationReport is what verify says about one attested key.
type AttestationReport struct {
	KeyID       string   `json:"key_id"`
	Serial      uint32   `json:"serial"`
	Firmware    string   `json:"firmware"`
	Slot        string   `json:"slot"`
	PINPolicy   string   `json:"pin_policy"`
	TouchPolicy string   `json:"touch_policy"`
	Root        string   `json:"root"`
	Rehearsal   bool     `json:"rehearsal,omitempty"` // chains to a rehearsal root
	Warnings    []string `json:"warnings,omitempty"`
}

// Check compares what the attestation proves with what the record claims:
// the device's serial and firmware, the slot in the key URI, and the key.
func (r *AttestationRecord) Check(pub crypto.PublicKey) error {
	a := r.Attested
	if fmt.Sprint(a.Serial) != r.Device.Serial {
		return fmt.Errorf("the attestation is from YubiKey serial %d, not from the device the key is on (serial %s)", a.Serial, r.Device.Serial)
	}
	if a.Firmware != r.Device.Firmware {
		return fmt.Errorf("the attestation names firmware %s, the device reports %s", a.Firmware, r.Device.Firmware)
	}
	if !strings.HasSuffix(r.KeyURI, ";slot="+a.Slot) {
		return fmt.Errorf("the attestation is for slot %s, not for %s", a.Slot, r.KeyURI)
	}
	ap, ok := a.Public.(*ecdsa.PublicKey)
	if !ok || !ap.Equal(pub) {
		return errors.New("the attested public key is not this key")
	}
	if r.Origin != hsm.OriginGenerated {
		return fmt.Errorf("the key's origin is %q: only keys generated on the device can be attested", r.Origin)
	}
	return nil
}

// KeyID is the canonical (bare public key) ID attestation files are named
// by.
func KeyID(pub crypto.PublicKey) (string, error) {
	p, err := trust.PublicKey(pub)
	if err != nil {
		return "", err
	}
	return p.ID(), nil
}

// checkAttestations re-verifies every attestation in a signed bundle: the
// chain to the roots, the device serial, firmware and slot it names, that
// the attested key is a root key of the bundle, that the key was generated
// on the device, and that the transcript recorded this very file.
func checkAttestations(s *bundle.Signed, entries []bundle.TranscriptEntry, rep *Report, reg *hsm.Registry) error {
	rootIDs := map[string]bool{}
	for _, r := range s.Info.Repos {
		for _, id := range r.RootCanonicalIDs {
			rootIDs[id] = true
		}
	}
	recorded := recordedAttestations(entries)
	var names []string
	for p := range s.Files {
		if strings.HasPrefix(p, AttestationDir) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	for _, p := range names {
		ar, err := checkAttestation(p, s.Files[p], reg, rootIDs, recorded, s.Info.Rehearsal)
		if err != nil {
			return &bundle.Error{Bundle: s.Dir, Reason: err.Error()}
		}
		rep.Attestations = append(rep.Attestations, *ar)
	}
	for id := range recorded {
		if _, ok := s.Files[AttestationDir+id+".json"]; !ok {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("the transcript records an attestation of key %s that the bundle does not hold", id)}
		}
	}
	return nil
}

// recordedAttestations maps each key ID to the SHA-256 of the attestation
// file the transcript's key.attested line names.
func recordedAttestations(entries []bundle.TranscriptEntry) map[string]string {
	recorded := map[string]string{}
	for _, e := range entries {
		if e.Event != "key.attested" {
			continue
		}
		var ev struct {
			KeyID  string `json:"key_id"`
			SHA256 string `json:"attestation_sha256"`
		}
		if json.Unmarshal(e.Data, &ev) == nil {
			recorded[ev.KeyID] = ev.SHA256
		}
	}
	return recorded
}

// checkAttestation verifies one attestation file p: its chain through the
// registry's verifier for its format, that it attests a root key of the
// bundle generated on the device, that the record claims exactly what the
// certificates prove, and that the transcript recorded this very file. An
// attestation that chains to a rehearsal root is accepted only in a
// rehearsal.
func checkAttestation(p string, file []byte, reg *hsm.Registry, rootIDs map[string]bool, recorded map[string]string, rehearsal bool) (*AttestationReport, error) {
	var rec AttestationRecord
	if err := json.Unmarshal(file, &rec); err != nil {
		return nil, fmt.Errorf("%s: unreadable attestation: %v", p, err)
	}
	facts, err := reg.VerifyAttestation(&hsm.Attestation{Format: rec.Format, Certs: rec.Certs})
	var unknown *hsm.UnknownAttestationError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("%s: unknown attestation format %q", p, rec.Format)
	}
	if rec.Origin != hsm.OriginGenerated {
		return nil, fmt.Errorf("%s: the key's origin is %q: an imported key is never attested", p, rec.Origin)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if facts.Rehearsal && !rehearsal {
		return nil, fmt.Errorf("%s: the attestation chains to a rehearsal root (%s), and this is not a rehearsal", p, facts.Root)
	}
	id, err := KeyID(facts.Public)
	if err != nil {
		return nil, fmt.Errorf("%s: attested key: %v", p, err)
	}
	if id != rec.KeyID || p != AttestationDir+id+".json" {
		return nil, fmt.Errorf("%s: the attested key is %s, not the key the file names", p, id)
	}
	if !rootIDs[id] {
		return nil, fmt.Errorf("%s: the attested key %s is not a root key of this bundle", p, id)
	}
	// What the record says it proves must be what the certificates
	// prove: device serial, firmware, slot and policies.
	if c := rec.Attested; c == nil || c.Serial != facts.Serial || c.Firmware != facts.Firmware || c.Slot != facts.Slot ||
		c.PINPolicy != facts.PINPolicy || c.TouchPolicy != facts.TouchPolicy || c.Rehearsal != facts.Rehearsal {
		return nil, fmt.Errorf("%s: the recorded device, slot or policies differ from what the attestation certificates prove (serial %d, firmware %s, slot %s, PIN %s, touch %s)",
			p, facts.Serial, facts.Firmware, facts.Slot, facts.PINPolicy, facts.TouchPolicy)
	}
	rec.Attested.Public = facts.Public
	if err := rec.Check(facts.Public); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if recorded[id] != bundle.SHA256Hex(file) {
		return nil, fmt.Errorf("%s is not the attestation the transcript records", p)
	}
	ar := &AttestationReport{KeyID: id, Serial: facts.Serial, Firmware: facts.Firmware,
		Slot: facts.Slot, PINPolicy: facts.PINPolicy, TouchPolicy: facts.TouchPolicy, Root: facts.Root, Rehearsal: facts.Rehearsal}
	ar.Warnings = append([]string(nil), facts.Warnings...)
	if facts.PINPolicy == "never" || facts.TouchPolicy == "never" {
		ar.Warnings = append(ar.Warnings, "the root key signs without a PIN or without a touch")
	}
	return ar, nil
}

// CarryAttestations copies the attestations of a bundle into the files of
// the bundle that continues it (its transcript, and so its key.attested
// lines, are carried too).
func CarryAttestations(from *bundle.Signed, files bundle.Files) {
	for p, b := range from.Files {
		if strings.HasPrefix(p, AttestationDir) {
			files[p] = b
		}
	}
}
