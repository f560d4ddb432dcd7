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

// oneKeyTranscript verifies a record's transcript chain (an empty one is
// refused) and returns it with the bundle's failure constructor, the
// number of lines and the head, which both reports carry.
func oneKeyTranscript(dir string, files bundle.Files) (fail func(string, ...any) error, entries []bundle.TranscriptEntry, lines int, head string, err error) {
	fail = func(format string, a ...any) error {
		return &bundle.Error{Bundle: dir, Reason: fmt.Sprintf(format, a...)}
	}
	entries, err = bundle.VerifyTranscript(files[bundle.TranscriptName])
	if err != nil {
		return fail, nil, 0, "", fail("%v", err)
	}
	if len(entries) == 0 {
		return fail, nil, 0, "", fail("the transcript is empty")
	}
	return fail, entries, len(entries), bundle.TranscriptHead(files[bundle.TranscriptName]), nil
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
