package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/theupdateframework/notary"
)

// Size limits of what a bundle may hold, checked against the manifest and
// by stat before a file is read, so that no bundle makes keyrite hold more
// than a bounded amount of memory (a sparse file of terabytes costs the
// online machine nothing to make). A bundle is read whole into memory,
// and notary's parsing of metadata takes some 20 bytes of memory per byte
// of JSON (a 15 MB targets.json took 335 MB to verify): with every file
// held (MaxBundleSize) and the largest parsed (MaxMetadataSize), keyrite
// stays within 256 MiB.
const (
	// MaxManifestSize bounds manifest.json: some 40 000 entries.
	MaxManifestSize = 8 << 20
	// MaxBundleSize bounds the sum of a bundle's files, manifest excluded.
	MaxBundleSize = 48 << 20
	// MaxMetadataSize bounds root, targets, snapshot and delegation
	// metadata: a targets.json of some 50 000 tags. notary's own client
	// accepts up to notary.MaxDownloadSize (100 MiB) for a download, which
	// would take 2 GB to parse.
	MaxMetadataSize = 8 << 20
	// MaxTimestampSize is notary's own limit for timestamp.json.
	MaxTimestampSize = notary.MaxTimestampSize
	// MaxKeySize bounds a server key file: notary-server serves some 200
	// bytes of JSON for an ECDSA or Ed25519 key.
	MaxKeySize = 16 << 10
	// MaxInfoSize bounds bundle.json and request.json.
	MaxInfoSize = 8 << 20
	// MaxTranscriptSize bounds transcript.jsonl (VerifyTranscript takes
	// lines of up to 16 MiB too).
	MaxTranscriptSize = 16 << 20
	// MaxAttestationSize bounds an attestation record: two certificates.
	MaxAttestationSize = 256 << 10
	// maxFileSize bounds any other file.
	maxFileSize = 1 << 20
	// maxUnlistedNamed is how many unlisted files an error names.
	maxUnlistedNamed = 10
)

// FileLimit is the most bytes a bundle's file may hold, by its path (in a
// signed bundle, the request bundle's files under request/ have the same
// limits as in a request bundle).
func FileLimit(p string) int64 {
	p = strings.TrimPrefix(p, requestPrefix)
	base := path.Base(p)
	switch {
	case p == ManifestName:
		return MaxManifestSize
	case p == SignedInfoName, p == RequestInfoName, p == SealName:
		// seal.json lists a hash per transcript line and per file: it
		// grows with the bundle as bundle.json does.
		return MaxInfoSize
	case p == TranscriptName:
		return MaxTranscriptSize
	case strings.HasPrefix(p, "attestations/"):
		return MaxAttestationSize
	case !strings.HasPrefix(p, "repos/"):
		return maxFileSize
	case base == "timestamp.json":
		return MaxTimestampSize
	case strings.HasSuffix(base, ".key"):
		return MaxKeySize
	case strings.HasSuffix(base, ".json"):
		return MaxMetadataSize
	}
	return maxFileSize
}

// DuplicateKeyError is a JSON object holding the same key twice: parsers
// disagree on which value counts (Go's takes the last), so keyrite reads
// none of it.
type DuplicateKeyError struct{ Key string }

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("key %q appears twice in one object", e.Key)
}

// decodeStrict decodes one JSON value into v: no unknown fields, no
// duplicate keys at any depth, nothing after the value.
func decodeStrict(b []byte, v any) error {
	if err := checkNoDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("text after the JSON value")
	}
	return nil
}
