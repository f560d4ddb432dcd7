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
// against the registry's roots, the device the key was opened on, and the
// key itself. It returns nil, nil for a key that is not attestable (an
// imported key, or a device without attestation). An attestation that
// chains only to a rehearsal root is refused unless rehearsal: a real run
// accepts only the vendor's roots.
func attestKey(k hsm.Key, dev hsm.DeviceInfo, reg *hsm.Registry, rehearsal bool) (*verify.AttestationRecord, error) {
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
	if facts.Rehearsal && !rehearsal {
		return nil, fmt.Errorf("%s: the attestation chains to a rehearsal root (%s), which only a rehearsal accepts", k.URI(), facts.Root)
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

// rootAttestation is what init found out about a root key's attestation:
// a verified record (Attested set), or a key the bundle records as not
// attested, with its origin and, when its device's attestation was refused,
// why.
type rootAttestation struct {
	*verify.AttestationRecord
	Refused string
}

// attestRootKeys collects and verifies the attestations of the root keys
// for a signed bundle. With require, a root key without a verified
// attestation is refused. Without it, a key whose attestation fails (a
// plain on-device key on a device whose roots are not trusted here) is
// used, with a warning, and recorded as not attested with the reason.
func attestRootKeys(ctx context.Context, s *session.Session, uris []string, keys []hsm.Key, require bool) (bundle.Files, []*rootAttestation, error) {
	files := bundle.Files{}
	var recs []*rootAttestation
	for i, k := range keys {
		b, err := s.Backend(ctx, uris[i])
		if err != nil {
			return nil, nil, err
		}
		rec, err := attestKey(k, b.Info(), s.Registry, s.Software())
		if err != nil {
			if require {
				return nil, nil, &NotAttestedError{Key: hsm.Redact(uris[i]), Reason: "attestation refused: " + err.Error(), Refused: true}
			}
			id, kerr := verify.KeyID(k.Public())
			if kerr != nil {
				return nil, nil, kerr
			}
			warnf(s, "warning: root key %s is used without an attestation: %v (--require-attestation would refuse it)", hsm.Redact(uris[i]), err)
			recs = append(recs, &rootAttestation{AttestationRecord: &verify.AttestationRecord{KeyURI: k.URI(), KeyID: id, Origin: hsm.OriginGenerated}, Refused: err.Error()})
			continue
		}
		if rec == nil {
			if o, ok := k.(hsm.OriginReporter); ok {
				// Recorded so that nobody later takes this key for an
				// attested one: an imported (backed-up) key says so.
				id, err := verify.KeyID(k.Public())
				if err != nil {
					return nil, nil, err
				}
				recs = append(recs, &rootAttestation{AttestationRecord: &verify.AttestationRecord{KeyURI: k.URI(), KeyID: id, Origin: o.Origin()}})
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
		recs = append(recs, &rootAttestation{AttestationRecord: rec})
	}
	return files, recs, nil
}

// recordAttestations appends a key.attested line per attestation to the
// transcript and adds the attestation files to the bundle's files; a root
// key whose device knows its origin but which is not attested gets a
// key.origin line (origin "imported" for a backed-up key; the reason when
// its attestation was refused).
func recordAttestations(s *session.Session, files, attFiles bundle.Files, recs []*rootAttestation) error {
	for _, r := range recs {
		if r.Attested == nil {
			ev := map[string]any{"key_uri": r.KeyURI, "key_id": r.KeyID, "origin": r.Origin, "attested": false}
			if r.Refused != "" {
				ev["attestation_refused"] = r.Refused
			}
			if err := s.Record("key.origin", ev); err != nil {
				return err
			}
			continue
		}
		name := verify.AttestationDir + r.KeyID + ".json"
		if err := s.Record("key.attested", attestationEvent(r.AttestationRecord, attFiles[name])); err != nil {
			return err
		}
		files[name] = attFiles[name]
	}
	return nil
}

// attestationEvent is the transcript line for an attestation; one that
// chains to a rehearsal root says so.
func attestationEvent(r *verify.AttestationRecord, file []byte) map[string]any {
	ev := map[string]any{"key_id": r.KeyID, "key_uri": r.KeyURI, "serial": r.Attested.Serial, "firmware": r.Attested.Firmware,
		"slot": r.Attested.Slot, "pin_policy": r.Attested.PINPolicy, "touch_policy": r.Attested.TouchPolicy,
		"attestation_sha256": bundle.SHA256Hex(file)}
	if r.Attested.Rehearsal {
		ev["rehearsal_root"] = r.Attested.Root
	}
	return ev
}

// NotAttestedError is a root key without a verified attestation where one
// is required. Refused: its device gave an attestation that did not verify
// (Reason says why).
type NotAttestedError struct {
	Key, Reason string
	Refused     bool
}

func (e *NotAttestedError) Error() string {
	return fmt.Sprintf("root key %s is not attested (%s); attestation is required", e.Key, e.Reason)
}

// warnf tells the operator on the session's log.
func warnf(s *session.Session, format string, args ...any) {
	if s.HSM.Log != nil {
		fmt.Fprintf(s.HSM.Log, "keyrite: "+format+"\n", args...)
	}
}
