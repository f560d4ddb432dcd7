package bundle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The seal. At the end of every ceremony that signs, each key that signed
// (root keys above all) signs, through its device, the transcript's head
// and the SHA-256 of every file written with it. The seal is seal.json;
// the transcript cannot hold it (it would have to hash the seal that signs
// it), so the seal holds the transcript: every line's hash.
//
// What each key signs is ECDSA over SHA-256 of the message (Seal.Message):
//
//	keyrite-transcript-seal-v1\n
//	transcript-head HEAD\n             HEAD: SHA-256 of the last line, hex
//	line 1 SHA256\n ... line N SHA256\n    each line of transcript.jsonl, without its newline
//	file SHA256 PATH\n ...             every file but manifest.json, seal.json and witnesses/, sorted by path
//
// Witnesses sign transcript.head, which holds HEAD and a newline, with
// ssh-keygen -Y sign -n keyrite-transcript (OpenSSH's SSHSIG), into
// witnesses/NAME.sig.
const (
	SealName         = "seal.json"
	HeadName         = "transcript.head"
	WitnessDir       = "witnesses/"
	WitnessNamespace = "keyrite-transcript"
	SealDomain       = "keyrite-transcript-seal-v1"
	// SealAlgorithm is how each key signs the message.
	SealAlgorithm = "ecdsa-sha256"
	sealFormat    = "keyrite-seal/v1"
)

// Seal is seal.json.
type Seal struct {
	Format         string          `json:"format"`
	TranscriptHead string          `json:"transcript_head"`
	Lines          []string        `json:"transcript_lines"` // SHA-256 of each line, in order
	Files          []SealedFile    `json:"files"`
	Signatures     []SealSignature `json:"signatures"`
}

// SealedFile is one file the seal covers.
type SealedFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// SealSignature is one key's signature of the seal's message.
type SealSignature struct {
	KeyID     string `json:"key_id"`     // the bare public key's ID, as notary key list shows it
	Algorithm string `json:"algorithm"`  // SealAlgorithm
	PublicKey string `json:"public_key"` // PKIX DER, base64: no certificate, the key itself
	Signature string `json:"signature"`  // ASN.1 DER, base64
	KeyURI    string `json:"key_uri"`
	Device    Device `json:"device"`
}

// Sealed says whether a file of a bundle is one a seal covers: all but
// the manifest, the seal itself and the witnesses' signatures, which come
// after it.
func Sealed(p string) bool {
	return p != ManifestName && p != SealName && !strings.HasPrefix(p, WitnessDir)
}

// IsSealFile says whether a file belongs to the seal rather than to what
// it seals: seal.json, transcript.head and the witnesses' signatures.
func IsSealFile(p string) bool {
	return p == SealName || p == HeadName || strings.HasPrefix(p, WitnessDir)
}

// WitnessFile is where a witness's signature lives in a bundle.
func WitnessFile(name string) string { return WitnessDir + name + ".sig" }

// WitnessName is NAME for witnesses/NAME.sig.
func WitnessName(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, WitnessDir)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, ".sig")
	return name, ok && CheckWitnessName(name) == nil
}

// CheckWitnessName refuses a witness name that cannot be a file name in a
// bundle or a principal of an allowed signers file: letters, digits and
// . _ @ + -, at most 64, not starting with a dot.
func CheckWitnessName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("witness name %q: 1 to 64 characters, not starting with a dot", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._@+-", c)) {
			return fmt.Errorf("witness name %q: only letters, digits and . _ @ + - (it names a file and an allowed signer)", name)
		}
	}
	return nil
}

// HeadFile is transcript.head's content: what witnesses sign.
func HeadFile(head string) []byte { return []byte(head + "\n") }

// LineHashes is the SHA-256 of each line of a transcript.
func LineHashes(transcript []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(transcript))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		out = append(out, lineHash(sc.Bytes(), false))
	}
	return out
}

// NewSeal describes what a seal covers: the transcript in files and
// every sealed file, transcript.head included (files must hold it). It
// has no signatures yet.
func NewSeal(files Files) (*Seal, error) {
	tr, ok := files[TranscriptName]
	if !ok || len(tr) == 0 {
		return nil, fmt.Errorf("nothing to seal: no %s", TranscriptName)
	}
	s := &Seal{Format: sealFormat, TranscriptHead: TranscriptHead(tr), Lines: LineHashes(tr)}
	if !bytes.Equal(files[HeadName], HeadFile(s.TranscriptHead)) {
		return nil, fmt.Errorf("%s does not hold the transcript's head", HeadName)
	}
	for p, b := range files {
		if !Sealed(p) {
			continue
		}
		if strings.ContainsAny(p, "\n\r ") {
			return nil, fmt.Errorf("cannot seal %q: a path with a space or a line break", p)
		}
		s.Files = append(s.Files, SealedFile{Path: p, SHA256: SHA256Hex(b)})
	}
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	return s, nil
}

// Message is what every key of the seal signs (see the package comment
// above SealName).
func (s *Seal) Message() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\ntranscript-head %s\n", SealDomain, s.TranscriptHead)
	for i, h := range s.Lines {
		fmt.Fprintf(&b, "line %d %s\n", i+1, h)
	}
	for _, f := range s.Files {
		fmt.Fprintf(&b, "file %s %s\n", f.SHA256, f.Path)
	}
	return b.Bytes()
}

// Marshal is seal.json's content.
func (s *Seal) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseSeal reads seal.json strictly: unknown fields, a key given twice
// or another format are refused.
func ParseSeal(b []byte) (*Seal, error) {
	var s Seal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s is not valid: %v", SealName, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s is not valid: more than one JSON value", SealName)
	}
	if s.Format != sealFormat {
		return nil, fmt.Errorf("%s: unknown format %q", SealName, s.Format)
	}
	if len(s.Lines) == 0 || s.Lines[len(s.Lines)-1] != s.TranscriptHead {
		return nil, fmt.Errorf("%s: its transcript head is not the hash of its last line", SealName)
	}
	return &s, nil
}
