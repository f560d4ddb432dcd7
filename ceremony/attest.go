package ceremony

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// attestKey reads a key's attestation from its device and verifies it
// against roots (nil: Yubico's), the device the key was opened on, and the
// key itself. It returns nil, nil for a key that is not attestable (an
// imported key, or a device without attestation).
func attestKey(k hsm.Key, dev hsm.DeviceInfo, reg *hsm.Registry) (*verify.AttestationRecord, error) {
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
	id, err := verify.KeyID(k.Public())
	if err != nil {
		return nil, err
	}
	rec := &verify.AttestationRecord{Format: att.Format, KeyURI: k.URI(), KeyID: id, Origin: hsm.OriginGenerated,
		Device: bundle.Device{URI: dev.URI, Kind: dev.Kind, Serial: dev.Serial, Model: dev.Model, Firmware: dev.Firmware},
		Certs:  att.Certs, Attested: facts}
	if err := rec.Check(k.Public()); err != nil {
		return nil, fmt.Errorf("%s: %w", k.URI(), err)
	}
	return rec, nil
}

// attestRootKeys collects and verifies the attestations of the root keys
// for a signed bundle. With require, a root key without a verified
// attestation is refused.
func attestRootKeys(ctx context.Context, s *session.Session, uris []string, keys []hsm.Key, require bool) (bundle.Files, []*verify.AttestationRecord, error) {
	files := bundle.Files{}
	var recs []*verify.AttestationRecord
	for i, k := range keys {
		b, err := s.Backend(ctx, uris[i])
		if err != nil {
			return nil, nil, err
		}
		rec, err := attestKey(k, b.Info(), s.Registry)
		if err != nil {
			return nil, nil, fmt.Errorf("root key %s: attestation refused: %w", hsm.Redact(uris[i]), err)
		}
		if rec == nil {
			if o, ok := k.(hsm.OriginReporter); ok {
				// Recorded so that nobody later takes this key for an
				// attested one: an imported (backed-up) key says so.
				id, err := verify.KeyID(k.Public())
				if err != nil {
					return nil, nil, err
				}
				recs = append(recs, &verify.AttestationRecord{KeyURI: k.URI(), KeyID: id, Origin: o.Origin()})
			}
			if require {
				origin := "the device gives no attestation"
				if o, ok := k.(hsm.OriginReporter); ok && o.Origin() == hsm.OriginImported {
					origin = "its slot's origin is imported, and an imported key can never be attested"
				}
				return nil, nil, &NotAttestedError{Key: hsm.Redact(uris[i]), Reason: origin}
			}
			continue
		}
		b2, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		files[verify.AttestationDir+rec.KeyID+".json"] = append(b2, '\n')
		recs = append(recs, rec)
	}
	return files, recs, nil
}

// recordAttestations appends a key.attested line per attestation to the
// transcript and adds the attestation files to the bundle's files; a root
// key whose device knows its origin but which is not attested gets a
// key.origin line (origin "imported" for a backed-up key).
func recordAttestations(s *session.Session, files, attFiles bundle.Files, recs []*verify.AttestationRecord) error {
	for _, r := range recs {
		if r.Attested == nil {
			if err := s.Record("key.origin", map[string]any{"key_uri": r.KeyURI, "key_id": r.KeyID, "origin": r.Origin, "attested": false}); err != nil {
				return err
			}
			continue
		}
		name := verify.AttestationDir + r.KeyID + ".json"
		if err := s.Record("key.attested", attestationEvent(r, attFiles[name])); err != nil {
			return err
		}
		files[name] = attFiles[name]
	}
	return nil
}

// attestationEvent is the transcript line for an attestation.
func attestationEvent(r *verify.AttestationRecord, file []byte) map[string]any {
	return map[string]any{"key_id": r.KeyID, "key_uri": r.KeyURI, "serial": r.Attested.Serial, "firmware": r.Attested.Firmware,
		"slot": r.Attested.Slot, "pin_policy": r.Attested.PINPolicy, "touch_policy": r.Attested.TouchPolicy,
		"attestation_sha256": bundle.SHA256Hex(file)}
}

// NotAttestedError is a root key without a verified attestation where one
// is required.
type NotAttestedError struct{ Key, Reason string }

func (e *NotAttestedError) Error() string {
	return fmt.Sprintf("root key %s is not attested (%s); attestation is required", e.Key, e.Reason)
}
