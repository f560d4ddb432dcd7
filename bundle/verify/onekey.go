package verify

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
)

// What a key record and a CA bundle share: each is the record of one
// ceremony about one key (the key generated, the CA key), whose
// transcript it holds, whose attestation it may carry and by which alone
// it is sealed.

// oneKeyReport is what a key record's and a CA bundle's reports share.
type oneKeyReport struct {
	TranscriptLines int                `json:"transcript_lines"`
	TranscriptHead  string             `json:"transcript_head"`
	Attestation     *AttestationReport `json:"attestation,omitempty"`
	Seal            *SealReport        `json:"seal,omitempty"`
	Witnesses       []WitnessReport    `json:"witnesses,omitempty"`
	OK              bool               `json:"ok"`

	files   bundle.Files
	entries []bundle.TranscriptEntry
}

// transcript verifies a record's transcript chain (an empty one is
// refused) and keeps it, its number of lines and its head; it returns the
// bundle's failure constructor.
func (r *oneKeyReport) transcript(dir string, files bundle.Files) (fail func(string, ...any) error, err error) {
	fail = func(format string, a ...any) error {
		return &bundle.Error{Bundle: dir, Reason: fmt.Sprintf(format, a...)}
	}
	r.files = files
	entries, err := bundle.VerifyTranscript(files[bundle.TranscriptName])
	if err != nil {
		return fail, fail("%v", err)
	}
	if len(entries) == 0 {
		return fail, fail("the transcript is empty")
	}
	r.entries, r.TranscriptLines, r.TranscriptHead = entries, len(entries), bundle.TranscriptHead(files[bundle.TranscriptName])
	return fail, nil
}

// sealed checks the record's rehearsal flag (in file) against the
// transcript, then its seal, which must be by keyID alone, and the
// witnesses; the record is OK once they hold.
func (r *oneKeyReport) sealed(dir, file string, rehearsal bool, keyID, what string) error {
	if err := checkRehearsal(dir, file, rehearsal, r.entries); err != nil {
		return err
	}
	seal, ws, err := sealedByOneKey(dir, r.files, r.entries, keyID, what)
	if err != nil {
		return err
	}
	r.Seal, r.Witnesses, r.OK = seal, ws, true
	return nil
}

// oneKeyAttestation verifies the attestation of the record's key, the
// only one it may hold; path is "" when it holds none (and the transcript
// must then record none).
func oneKeyAttestation(files bundle.Files, entries []bundle.TranscriptEntry, o Options, keyID string, rehearsal bool, what string,
	fail func(string, ...any) error) (ar *AttestationReport, path string, err error) {
	var attested []string
	for p := range files {
		if strings.HasPrefix(p, AttestationDir) {
			attested = append(attested, p)
		}
	}
	switch {
	case len(attested) > 1 || len(attested) == 1 && attested[0] != AttestationDir+keyID+".json":
		return nil, "", fail("altered: %s holds the attestation of its own key only, not %v", what, attested)
	case len(attested) == 1:
		ar, err := checkAttestation(attested[0], files[attested[0]], o.Registry, map[string]bool{keyID: true}, recordedAttestations(entries), rehearsal)
		if err != nil {
			return nil, "", fail("%v", err)
		}
		return ar, attested[0], nil
	case len(recordedAttestations(entries)) > 0:
		return nil, "", fail("altered: the transcript records an attestation %s does not hold", what)
	}
	return nil, "", nil
}

// sealedByOneKey verifies the seal, which must be by keyID alone, and the
// witnesses' signatures.
func sealedByOneKey(dir string, files bundle.Files, entries []bundle.TranscriptEntry, keyID, what string) (*SealReport, []WitnessReport, error) {
	seal, err := CheckSeal(dir, files, entries)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range seal.Keys {
		if k.KeyID != keyID {
			return nil, nil, sealFail(dir, "%s is sealed by its key (%s), not by key %s", what, trust.ShortID(keyID), trust.ShortID(k.KeyID))
		}
	}
	ws, err := checkWitnesses(dir, files, entries)
	if err != nil {
		return nil, nil, err
	}
	return seal, ws, nil
}
