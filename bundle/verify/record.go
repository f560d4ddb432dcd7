package verify

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
)

// RecordReport is the result of verifying a key record.
type RecordReport struct {
	Record string           `json:"record"`
	Key    bundle.KeyRecord `json:"key"`
	oneKeyReport
}

// RecordDir verifies a key record: its manifest, the transcript chain,
// that record.json says what the transcript's key.generated line records
// (key ID, public key, URI, device), the attestation if any, the rehearsal
// flag, and the seal, which must be by the recorded key alone.
func RecordDir(dir string, o Options) (*RecordReport, error) {
	files, rec, err := bundle.ReadKeyRecord(dir)
	if err != nil {
		return nil, err
	}
	rep := &RecordReport{Record: dir, Key: *rec}
	fail, err := rep.transcript(dir, files)
	if err != nil {
		return rep, err
	}
	entries := rep.entries
	block, _ := pem.Decode([]byte(rec.PublicKeyPEM))
	if block == nil {
		return rep, fail("altered: record.json's public key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return rep, fail("altered: record.json's public key: %v", err)
	}
	id, err := KeyID(pub)
	if err != nil || id != rec.KeyID {
		return rep, fail("altered: record.json names key %s, but its public key is key %s", trust.ShortID(rec.KeyID), trust.ShortID(id))
	}
	if err := checkGenerated(rec, entries, fail); err != nil {
		return rep, err
	}
	ar, att, err := oneKeyAttestation(files, entries, o, rec.KeyID, rec.Rehearsal, "a key record", fail)
	switch {
	case err != nil:
		return rep, err
	case att != "" && rec.AttestationSHA256 != bundle.SHA256Hex(files[att]):
		return rep, fail("altered: record.json does not name the attestation the record holds")
	case att == "" && rec.AttestationSHA256 != "":
		return rep, fail("altered: the record names an attestation it does not hold")
	}
	rep.Attestation = ar
	return rep, rep.sealed(dir, bundle.KeyRecordName, rec.Rehearsal, rec.KeyID, "a key record")
}

// checkGenerated compares record.json with the transcript's one
// key.generated line.
func checkGenerated(rec *bundle.KeyRecord, entries []bundle.TranscriptEntry, fail func(string, ...any) error) error {
	var line *bundle.TranscriptEntry
	for i, e := range entries {
		if e.Event == "key.generated" {
			if line != nil {
				return fail("altered: transcript lines %d and %d both record a key generation", line.Seq, e.Seq)
			}
			line = &entries[i]
		}
	}
	if line == nil {
		return fail("altered: the transcript records no key generation")
	}
	var ev struct {
		KeyID  string        `json:"key_id"`
		PEM    string        `json:"public_key_pem"`
		URI    string        `json:"uri"`
		Device bundle.Device `json:"device"`
	}
	if err := json.Unmarshal(line.Data, &ev); err != nil {
		return fail("transcript line %d: unreadable key.generated event", line.Seq)
	}
	if ev.KeyID != rec.KeyID || ev.PEM != rec.PublicKeyPEM || ev.URI != rec.URI || ev.Device != rec.Device {
		return fail("altered: record.json does not describe the key transcript line %d records (key %s on %s)", line.Seq, trust.ShortID(ev.KeyID), ev.Device.URI)
	}
	return nil
}
