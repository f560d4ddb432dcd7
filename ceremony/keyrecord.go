package ceremony

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// KeyRecordError is a key that was generated but whose record could not
// be written: the key exists, and the error says where.
type KeyRecordError struct {
	KeyID, URI, Record string
	Err                error
}

func (e *KeyRecordError) Error() string {
	return fmt.Sprintf("the key %s was generated (%s), but its record %s could not be written: %v", e.KeyID, e.URI, e.Record, e.Err)
}

func (e *KeyRecordError) Unwrap() error { return e.Err }

// writeKeyRecord records a key generated on a device: a transcript of the
// generation (the device and its serial, the key ID, the attestation's
// digest), sealed by the new key itself through its device, written whole
// to a new directory and verified as keyrite transcript verify would.
func writeKeyRecord(ctx context.Context, s *session.Session, b hsm.Backend, k hsm.Key, desc *session.KeyDescription,
	att *verify.AttestationRecord, o GenerateOptions) error {
	info := b.Info()
	dev := bundle.Device{URI: info.URI, Kind: info.Kind, Label: info.Label, Serial: info.Serial, Model: info.Model,
		Firmware: info.Firmware, Software: info.Software}
	mode := "on-device"
	if o.Mode != "" {
		mode = o.Mode
	}
	if err := s.Begin(nil, map[string]any{"label": o.Label, "mode": mode, "device": hsm.Redact(o.Device)}); err != nil {
		return err
	}
	extra := bundle.Files{}
	rec := bundle.KeyRecord{Command: s.Command(), Created: s.Now().UTC(), KeyID: desc.CanonicalID, Algorithm: desc.Algorithm,
		Label: desc.Label, URI: desc.URI, Mode: mode, Origin: desc.Origin, PublicKeyPEM: desc.PublicPEM, Device: dev,
		Rehearsal: s.Software()}
	if att != nil {
		b, err := json.MarshalIndent(att, "", "  ")
		if err != nil {
			return err
		}
		name := verify.AttestationDir + att.KeyID + ".json"
		extra[name] = append(b, '\n')
		rec.AttestationSHA256 = bundle.SHA256Hex(extra[name])
	}
	if err := s.Record("key.generated", map[string]any{"key_id": rec.KeyID, "algorithm": rec.Algorithm, "label": rec.Label,
		"uri": rec.URI, "mode": mode, "origin": rec.Origin, "public_key_pem": rec.PublicKeyPEM, "device": dev,
		"attestation_sha256": rec.AttestationSHA256}); err != nil {
		return err
	}
	if att != nil {
		if err := s.Record("key.attested", attestationEvent(att, extra[verify.AttestationDir+att.KeyID+".json"])); err != nil {
			return err
		}
	}
	if err := s.SealBy(k); err != nil {
		return err
	}
	if err := s.End(map[string]any{"key_id": rec.KeyID}); err != nil {
		return err
	}
	files, err := bundle.KeyRecordFiles(rec, s.Transcript(), extra)
	if err != nil {
		return err
	}
	if err := s.Seal(ctx, files); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Record), 0o700); err != nil {
		return err
	}
	if err := bundle.Write(o.Record, bundle.KindKeyRecord, files); err != nil {
		return err
	}
	if _, err := verify.RecordDir(o.Record, s.VerifyOptions()); err != nil {
		os.RemoveAll(o.Record)
		return fmt.Errorf("the record just written does not verify (removed): %w", err)
	}
	return nil
}
