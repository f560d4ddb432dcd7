package ceremony

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

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
	Device   DeviceEvent      `json:"device"`
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
	Warnings    []string `json:"warnings,omitempty"`
}

// attestKey reads a key's attestation from its device and verifies it
// with the registry's verifier for its format, against the device the key
// was opened on, and the key itself. It returns nil, nil for a key that is
// not attestable (an imported key, or a device without attestation).
func attestKey(k hsm.Key, dev hsm.DeviceInfo, reg *hsm.Registry) (*AttestationRecord, error) {
	if o, ok := k.(hsm.OriginReporter); ok && o.Origin() != hsm.OriginGenerated {
		return nil, nil
	}
	att, err := k.Attestation()
	if err != nil || att == nil {
		return nil, err
	}
	facts, err := reg.VerifyAttestation(att)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.URI(), err)
	}
	id, err := keyID(k.Public())
	if err != nil {
		return nil, err
	}
	rec := &AttestationRecord{Format: att.Format, KeyURI: k.URI(), KeyID: id, Origin: hsm.OriginGenerated,
		Device: DeviceEvent{URI: dev.URI, Kind: dev.Kind, Serial: dev.Serial, Model: dev.Model, Firmware: dev.Firmware},
		Certs:  att.Certs, Attested: facts}
	if err := rec.check(k.Public()); err != nil {
		return nil, fmt.Errorf("%s: %w", k.URI(), err)
	}
	return rec, nil
}

// check compares what the attestation proves with what the record claims:
// the device's serial and firmware, the slot in the key URI, and the key.
func (r *AttestationRecord) check(pub crypto.PublicKey) error {
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

func keyID(pub crypto.PublicKey) (string, error) {
	p, err := trust.PublicKey(pub)
	if err != nil {
		return "", err
	}
	return p.ID(), nil
}

// attestRootKeys collects and verifies the attestations of the root keys
// for a signed bundle. With require, a root key without a verified
// attestation is refused.
func attestRootKeys(ctx context.Context, d *devices, uris []string, keys []hsm.Key, reg *hsm.Registry, require bool) (bundle.Files, []*AttestationRecord, error) {
	files := bundle.Files{}
	var recs []*AttestationRecord
	for i, k := range keys {
		b, err := d.backend(ctx, uris[i])
		if err != nil {
			return nil, nil, err
		}
		rec, err := attestKey(k, b.Info(), reg)
		if err != nil {
			return nil, nil, fmt.Errorf("root key %s: attestation refused: %w", hsm.Redact(uris[i]), err)
		}
		if rec == nil {
			if o, ok := k.(hsm.OriginReporter); ok {
				// Recorded so that nobody later takes this key for an
				// attested one: an imported (backed-up) key says so.
				id, err := keyID(k.Public())
				if err != nil {
					return nil, nil, err
				}
				recs = append(recs, &AttestationRecord{KeyURI: k.URI(), KeyID: id, Origin: o.Origin()})
			}
			if require {
				origin := "the device gives no attestation"
				if o, ok := k.(hsm.OriginReporter); ok && o.Origin() == hsm.OriginImported {
					origin = "its slot's origin is imported, and an imported key can never be attested"
				}
				return nil, nil, fmt.Errorf("root key %s is not attested (%s); --require-attestation refuses it", hsm.Redact(uris[i]), origin)
			}
			continue
		}
		b2, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		files[AttestationDir+rec.KeyID+".json"] = append(b2, '\n')
		recs = append(recs, rec)
	}
	return files, recs, nil
}

// recordAttestations appends a key.attested line per attestation to the
// transcript and adds the attestation files to the bundle's files; a root
// key whose device knows its origin but which is not attested gets a
// key.origin line (origin "imported" for a backed-up key).
func recordAttestations(t *Transcript, files, attFiles bundle.Files, recs []*AttestationRecord) error {
	for _, r := range recs {
		if r.Attested == nil {
			if err := t.Append("key.origin", map[string]any{"key_uri": r.KeyURI, "key_id": r.KeyID, "origin": r.Origin, "attested": false}); err != nil {
				return err
			}
			continue
		}
		name := AttestationDir + r.KeyID + ".json"
		if err := t.Append("key.attested", attestationEvent(r, attFiles[name])); err != nil {
			return err
		}
		files[name] = attFiles[name]
	}
	return nil
}

// attestationEvent is the transcript line for an attestation.
func attestationEvent(r *AttestationRecord, file []byte) map[string]any {
	return map[string]any{"key_id": r.KeyID, "key_uri": r.KeyURI, "serial": r.Attested.Serial, "firmware": r.Attested.Firmware,
		"slot": r.Attested.Slot, "pin_policy": r.Attested.PINPolicy, "touch_policy": r.Attested.TouchPolicy,
		"attestation_sha256": sha256hex(file)}
}

// VerifyOptions control VerifyWith.
type VerifyOptions struct {
	// Registry verifies the bundle's attestations with the verifiers
	// registered on it; a bundle holding an attestation of a format it
	// has no verifier for (or any attestation, without a registry) is
	// refused.
	Registry *hsm.Registry
}

// VerifyWith is Verify with options.
func VerifyWith(dir string, now time.Time, o VerifyOptions) (*VerifyReport, error) {
	s, err := bundle.ReadSigned(dir)
	if err != nil {
		return nil, err
	}
	return verifySignedWith(s, now, o)
}

func verifySignedWith(s *bundle.Signed, now time.Time, o VerifyOptions) (*VerifyReport, error) {
	rep, err := verifySigned(s, now)
	var incomplete *IncompleteError
	if err != nil && !errors.As(err, &incomplete) {
		return rep, err
	}
	// A bundle still waiting for threshold signatures is checked too: its
	// attestations must hold before anyone adds a signature.
	if aerr := checkAttestations(s, rep, o.Registry); aerr != nil {
		rep.OK = false
		return rep, aerr
	}
	return rep, err
}

// checkAttestations re-verifies every attestation in a signed bundle: the
// chain to the roots, the device serial, firmware and slot it names, that
// the attested key is a root key of the bundle, that the key was generated
// on the device, and that the transcript recorded this very file.
func checkAttestations(s *bundle.Signed, rep *VerifyReport, reg *hsm.Registry) error {
	fail := func(format string, a ...any) error {
		return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf(format, a...)}
	}
	rootIDs := map[string]bool{}
	for _, r := range s.Info.Repos {
		for _, id := range r.RootCanonicalIDs {
			rootIDs[id] = true
		}
	}
	recorded := map[string]string{} // key ID -> attestation SHA-256 in the transcript
	entries, err := VerifyTranscript(s.Files[bundle.TranscriptName])
	if err != nil {
		return fail("%v", err)
	}
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
	var names []string
	for p := range s.Files {
		if strings.HasPrefix(p, AttestationDir) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	for _, p := range names {
		var rec AttestationRecord
		if err := json.Unmarshal(s.Files[p], &rec); err != nil {
			return fail("%s: unreadable attestation: %v", p, err)
		}
		facts, err := reg.VerifyAttestation(&hsm.Attestation{Format: rec.Format, Certs: rec.Certs})
		var unknown *hsm.UnknownAttestationError
		if errors.As(err, &unknown) {
			return fail("%s: unknown attestation format %q", p, rec.Format)
		}
		if rec.Origin != hsm.OriginGenerated {
			return fail("%s: the key's origin is %q: an imported key is never attested", p, rec.Origin)
		}
		if err != nil {
			return fail("%s: %v", p, err)
		}
		id, err := keyID(facts.Public)
		if err != nil {
			return fail("%s: attested key: %v", p, err)
		}
		if id != rec.KeyID || p != AttestationDir+id+".json" {
			return fail("%s: the attested key is %s, not the key the file names", p, id)
		}
		if !rootIDs[id] {
			return fail("%s: the attested key %s is not a root key of this bundle", p, id)
		}
		// What the record says it proves must be what the certificates
		// prove: device serial, firmware, slot and policies.
		if c := rec.Attested; c == nil || c.Serial != facts.Serial || c.Firmware != facts.Firmware || c.Slot != facts.Slot ||
			c.PINPolicy != facts.PINPolicy || c.TouchPolicy != facts.TouchPolicy {
			return fail("%s: the recorded device, slot or policies differ from what the attestation certificates prove (serial %d, firmware %s, slot %s, PIN %s, touch %s)",
				p, facts.Serial, facts.Firmware, facts.Slot, facts.PINPolicy, facts.TouchPolicy)
		}
		rec.Attested.Public = facts.Public
		if err := rec.check(facts.Public); err != nil {
			return fail("%s: %v", p, err)
		}
		if recorded[id] != sha256hex(s.Files[p]) {
			return fail("%s is not the attestation the transcript records", p)
		}
		ar := AttestationReport{KeyID: id, Serial: facts.Serial, Firmware: facts.Firmware,
			Slot: facts.Slot, PINPolicy: facts.PINPolicy, TouchPolicy: facts.TouchPolicy, Root: facts.Root}
		ar.Warnings = append([]string(nil), facts.Warnings...)
		if facts.PINPolicy == "never" || facts.TouchPolicy == "never" {
			ar.Warnings = append(ar.Warnings, "the root key signs without a PIN or without a touch")
		}
		rep.Attestations = append(rep.Attestations, ar)
	}
	for id := range recorded {
		if _, ok := s.Files[AttestationDir+id+".json"]; !ok {
			return fail("the transcript records an attestation of key %s that the bundle does not hold", id)
		}
	}
	return nil
}

// carryAttestations copies the attestations of a bundle into the files of
// the bundle that continues it (its transcript, and so its key.attested
// lines, are carried too).
func carryAttestations(from *bundle.Signed, files bundle.Files) {
	for p, b := range from.Files {
		if strings.HasPrefix(p, AttestationDir) {
			files[p] = b
		}
	}
}
