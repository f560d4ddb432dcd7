package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// A key record is what `key generate` leaves of a key made on a device:
// a directory like a bundle (manifest.json, kind "key-record") holding
// record.json, the generation's transcript, and the seal made by the new
// key itself; attestations/<key ID>.json for an attested key; witnesses'
// signatures added later (keyrite transcript witness).
const (
	KindKeyRecord   = "key-record"
	KeyRecordName   = "record.json"
	keyRecordFormat = "keyrite-key-record/v1"
)

// KeyRecord is record.json.
type KeyRecord struct {
	Format            string    `json:"format"`
	Command           string    `json:"command"`
	Created           time.Time `json:"created"`
	KeyID             string    `json:"key_id"` // the bare public key's ID, as notary key list shows it
	Algorithm         string    `json:"algorithm"`
	Label             string    `json:"label"`
	URI               string    `json:"uri"`
	Mode              string    `json:"mode"`   // on-device or attested
	Origin            string    `json:"origin"` // generated, or software for a rehearsal token
	PublicKeyPEM      string    `json:"public_key_pem"`
	Device            Device    `json:"device"`
	AttestationSHA256 string    `json:"attestation_sha256,omitempty"`
	Rehearsal         bool      `json:"rehearsal"`
}

// KeyRecordFiles are a key record's files but its manifest and seal.
func KeyRecordFiles(rec KeyRecord, transcript []byte, extra Files) (Files, error) {
	rec.Format = keyRecordFormat
	return recordFiles(KeyRecordName, rec, transcript, extra)
}

// recordFiles are the files of a record (a key record, a CA bundle): its
// description as indented JSON, its transcript and the other files.
func recordFiles(name string, desc any, transcript []byte, extra Files) (Files, error) {
	b, err := json.MarshalIndent(desc, "", "  ")
	if err != nil {
		return nil, err
	}
	files := Files{name: append(b, '\n'), TranscriptName: transcript}
	for p, b := range extra {
		files[p] = b
	}
	return files, nil
}

// ReadKeyRecord reads a key record through its manifest: record.json, the
// transcript, the seal, attestations and witnesses, nothing else.
func ReadKeyRecord(dir string) (Files, *KeyRecord, error) {
	files, err := Read(dir, KindKeyRecord)
	if err != nil {
		return nil, nil, err
	}
	var rec KeyRecord
	dec := json.NewDecoder(bytes.NewReader(files[KeyRecordName]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || rec.Format != keyRecordFormat {
		return nil, nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s is missing or not a keyrite key record", KeyRecordName)}
	}
	var extra []string
	for p := range files {
		if p != KeyRecordName && p != TranscriptName && !IsSealFile(p) && !strings.HasPrefix(p, "attestations/") {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s: not a file of a key record", strings.Join(extra, ", "))}
	}
	return files, &rec, nil
}
