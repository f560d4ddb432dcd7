package backup

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filippo.io/age/armor"
)

// A share file is text a custodian can read: a few unencrypted lines that
// say what it is, then the share as an armored age file.
//
//	keyrite backup share v1
//	key-id: 9b2f...(64 hex digits)
//	share: 2
//	threshold: 2
//	custodian: bob
//	created: 2026-11-22
//
//	-----BEGIN AGE ENCRYPTED FILE-----
//	...
//	-----END AGE ENCRYPTED FILE-----
//
// The armored part alone is a complete age file (age -d decrypts it), and
// alone it is enough to restore: everything the header says is repeated,
// authenticated, inside the encryption. A header that disagrees with the
// encrypted share is refused as tampering.
const (
	fileMagic    = "keyrite backup share v1"
	payloadMagic = "keyrite share payload v1"
)

// Header is the unencrypted part of a share file.
type Header struct {
	KeyID     string
	Share     int
	Threshold int
	Custodian string
	Created   string // YYYY-MM-DD
}

func (h Header) text() string {
	return fmt.Sprintf("%s\nkey-id: %s\nshare: %d\nthreshold: %d\ncustodian: %s\ncreated: %s\n",
		fileMagic, h.KeyID, h.Share, h.Threshold, h.Custodian, h.Created)
}

// ShareFile is a parsed share file, still encrypted.
type ShareFile struct {
	Name    string  // file name, for messages
	Header  *Header // nil when only the armored text was given (typed or scanned)
	Armored []byte  // the age file, armored, normalised to 64 columns
}

// Describe names the share in messages: file, share number and custodian
// when known.
func (f *ShareFile) Describe() string {
	if f.Header == nil {
		return f.Name
	}
	return fmt.Sprintf("%s (share %d, custodian %s)", f.Name, f.Header.Share, f.Header.Custodian)
}

// ShareError is a share file that cannot be used: damaged, altered, forged,
// or of another key.
type ShareError struct {
	File   string
	Reason string
	Err    error
}

func (e *ShareError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("share %s: %s: %v", e.File, e.Reason, e.Err)
	}
	return fmt.Sprintf("share %s: %s", e.File, e.Reason)
}

func (e *ShareError) Unwrap() error { return e.Err }

var qrPartRE = regexp.MustCompile(`KRQR1 (\d+)/(\d+) (\d+) ([0-9a-f]{16})\n`)

// ParseShareFile reads a share file, or the same text typed in by hand or
// decoded from the paper sheet's QR codes (in any order, with whatever a
// scanner prints around them). Line endings and the wrapping of the base64
// lines may differ from the original.
func ParseShareFile(name string, data []byte) (*ShareFile, error) {
	if qrPartRE.Match(data) {
		var err error
		if data, err = joinQRParts(data); err != nil {
			return nil, &ShareError{File: name, Reason: "QR text", Err: err}
		}
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	begin := strings.Index(text, armor.Header)
	end := -1
	if begin >= 0 {
		// The footer is looked for after the header: the two overlap in
		// "-----BEGIN AGE ENCRYPTED FILE-----END AGE ENCRYPTED FILE-----".
		if i := strings.Index(text[begin+len(armor.Header):], armor.Footer); i >= 0 {
			end = begin + len(armor.Header) + i
		}
	}
	if begin < 0 || end < 0 {
		return nil, &ShareError{File: name, Reason: "not a keyrite share: no armored age text (-----BEGIN AGE ENCRYPTED FILE----- ... -----END AGE ENCRYPTED FILE-----)"}
	}
	if rest := strings.TrimSpace(text[end+len(armor.Footer):]); rest != "" {
		return nil, &ShareError{File: name, Reason: "unexpected text after the armored age text"}
	}
	f := &ShareFile{Name: name}
	if head := strings.TrimSpace(text[:begin]); head != "" {
		h, err := parseHeader(head)
		if err != nil {
			return nil, &ShareError{File: name, Reason: "unreadable header", Err: err}
		}
		f.Header = h
	}
	b64 := strings.Join(strings.Fields(text[begin+len(armor.Header):end]), "")
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, &ShareError{File: name, Reason: "the armored text is not valid base64 (a typing or scanning error?)", Err: err}
	}
	f.Armored = armorBytes(raw)
	return f, nil
}

// armorBytes armors a binary age file the way age does.
func armorBytes(raw []byte) []byte {
	var b bytes.Buffer
	w := armor.NewWriter(&b)
	w.Write(raw)
	w.Close()
	return b.Bytes()
}

func parseHeader(head string) (*Header, error) {
	lines := strings.Split(head, "\n")
	if strings.TrimSpace(lines[0]) != fileMagic {
		return nil, fmt.Errorf("first line is %q, want %q", lines[0], fileMagic)
	}
	fields := map[string]string{}
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("line %q is not key: value", l)
		}
		k = strings.TrimSpace(k)
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		fields[k] = strings.TrimSpace(v)
	}
	h := &Header{KeyID: fields["key-id"], Custodian: fields["custodian"], Created: fields["created"]}
	var err error
	if h.Share, err = strconv.Atoi(fields["share"]); err != nil || h.Share < 1 {
		return nil, errors.New("bad or missing share number")
	}
	if h.Threshold, err = strconv.Atoi(fields["threshold"]); err != nil || h.Threshold < 1 {
		return nil, errors.New("bad or missing threshold")
	}
	if len(h.KeyID) != 64 {
		return nil, errors.New("bad or missing key-id")
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected key-id, share, threshold, custodian and created, got %d fields", len(fields))
	}
	return h, nil
}

// QRParts cuts a share file's text into pieces small enough for one QR code
// each. Every piece starts with a line "KRQR1 i/n LEN KEYID16" and then
// exactly LEN bytes, so the text is put back together whatever order the
// codes are scanned in and whatever the scanner prints between them.
func QRParts(text []byte, keyID string, max int) []string {
	n := (len(text) + max - 1) / max
	short := keyID
	if len(short) > 16 {
		short = short[:16]
	}
	var out []string
	for i := 0; i < n; i++ {
		chunk := text[i*max : min((i+1)*max, len(text))]
		out = append(out, fmt.Sprintf("KRQR1 %d/%d %d %s\n%s", i+1, n, len(chunk), short, chunk))
	}
	return out
}

func joinQRParts(data []byte) ([]byte, error) {
	ms := qrPartRE.FindAllSubmatchIndex(data, -1)
	// The parts scanned, by number: nothing is allocated for the count a
	// code claims (a text claiming a billion parts took gigabytes, and
	// one out of int's range crashed).
	parts := map[int][]byte{}
	total, id := 0, ""
	for _, m := range ms {
		i, ierr := strconv.Atoi(string(data[m[2]:m[3]]))
		n, nerr := strconv.Atoi(string(data[m[4]:m[5]]))
		l, lerr := strconv.Atoi(string(data[m[6]:m[7]]))
		if ierr != nil || nerr != nil || lerr != nil {
			return nil, errors.New("a QR part's numbers are not those of a keyrite sheet")
		}
		k := string(data[m[8]:m[9]])
		if total == 0 {
			total, id = n, k
		}
		if n != total || k != id {
			return nil, errors.New("QR codes of different shares are mixed")
		}
		if i < 1 || i > n {
			return nil, fmt.Errorf("QR part %d of %d", i, n)
		}
		if l > len(data)-m[1] {
			return nil, fmt.Errorf("QR part %d of %d is cut short", i, n)
		}
		part := data[m[1] : m[1]+l]
		if p, ok := parts[i]; ok && !bytes.Equal(p, part) {
			return nil, fmt.Errorf("QR part %d scanned twice with different contents", i)
		}
		parts[i] = part
	}
	var out []byte
	for i := 1; i <= total; i++ {
		p, ok := parts[i]
		if !ok {
			return nil, fmt.Errorf("QR part %d of %d is missing: scan every code on the sheet", i, total)
		}
		out = append(out, p...)
	}
	return out, nil
}

// payload is the plaintext inside a share's encryption.
type payload struct {
	KeyID     string
	Algorithm string
	PublicKey []byte // PKIX DER
	Label     string
	Custodian string
	Created   time.Time
	Share     int // 1..Shares, as numbered for people
	Shares    int
	Threshold int
	X         byte
	Y         []byte // secret
	Tag       []byte // HMAC over the share, keyed by the secret (see tagKey)
}

// marshal writes the payload into one buffer the caller wipes: the secret
// never passes through encoders that keep copies.
func (p *payload) marshal() []byte {
	head := fmt.Sprintf("%s\nkey-id: %s\nalgorithm: %s\npublic-key: %s\nlabel: %s\ncustodian: %s\ncreated: %s\nshare: %d\nshares: %d\nthreshold: %d\nx: %d\ny: ",
		payloadMagic, p.KeyID, p.Algorithm, base64.StdEncoding.EncodeToString(p.PublicKey), p.Label, p.Custodian,
		p.Created.UTC().Format(time.RFC3339), p.Share, p.Shares, p.Threshold, p.X)
	tag := "\ntag: " + hex.EncodeToString(p.Tag) + "\n"
	out := make([]byte, len(head)+2*len(p.Y)+len(tag))
	copy(out, head)
	hex.Encode(out[len(head):], p.Y)
	copy(out[len(head)+2*len(p.Y):], tag)
	return out
}

func parsePayload(b []byte) (*payload, error) {
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != 13 || string(lines[0]) != payloadMagic {
		return nil, errors.New("the decrypted share is not a keyrite share payload")
	}
	want := []string{"key-id", "algorithm", "public-key", "label", "custodian", "created", "share", "shares", "threshold", "x", "y", "tag"}
	vals := make([][]byte, len(want))
	for i, k := range want {
		key, v, ok := bytes.Cut(lines[i+1], []byte(": "))
		if !ok || string(key) != k {
			return nil, fmt.Errorf("share payload line %d: expected %s", i+2, k)
		}
		vals[i] = v
	}
	p := &payload{KeyID: string(vals[0]), Algorithm: string(vals[1]), Label: string(vals[3]), Custodian: string(vals[4])}
	var err error
	if p.PublicKey, err = base64.StdEncoding.DecodeString(string(vals[2])); err != nil {
		return nil, errors.New("share payload: bad public key")
	}
	if p.Created, err = time.Parse(time.RFC3339, string(vals[5])); err != nil {
		return nil, errors.New("share payload: bad creation time")
	}
	nums := []*int{&p.Share, &p.Shares, &p.Threshold}
	for i, n := range nums {
		if *n, err = strconv.Atoi(string(vals[6+i])); err != nil || *n < 1 || *n > 255 {
			return nil, fmt.Errorf("share payload: bad %s", want[6+i])
		}
	}
	x, err := strconv.Atoi(string(vals[9]))
	if err != nil || x < 1 || x > 255 {
		return nil, errors.New("share payload: bad x")
	}
	p.X = byte(x)
	p.Y = make([]byte, hex.DecodedLen(len(vals[10])))
	if _, err := hex.Decode(p.Y, vals[10]); err != nil || len(p.Y) == 0 {
		return nil, errors.New("share payload: bad y")
	}
	if p.Tag, err = hex.DecodeString(string(vals[11])); err != nil || len(p.Tag) != 32 {
		return nil, errors.New("share payload: bad tag")
	}
	if p.Threshold > p.Shares || p.Share > p.Shares {
		return nil, errors.New("share payload: inconsistent share counts")
	}
	return p, nil
}

// checkHeader compares the unencrypted header with the authenticated
// payload.
func (f *ShareFile) checkHeader(p *payload) error {
	h := f.Header
	if h == nil {
		return nil
	}
	var diffs []string
	if h.KeyID != p.KeyID {
		diffs = append(diffs, "key-id")
	}
	if h.Share != p.Share {
		diffs = append(diffs, "share")
	}
	if h.Threshold != p.Threshold {
		diffs = append(diffs, "threshold")
	}
	if h.Custodian != p.Custodian {
		diffs = append(diffs, "custodian")
	}
	if h.Created != p.Created.UTC().Format(time.DateOnly) {
		diffs = append(diffs, "created")
	}
	if len(diffs) > 0 {
		return &ShareError{File: f.Name, Reason: fmt.Sprintf("the unencrypted header disagrees with the encrypted share (%s): the file was altered", strings.Join(diffs, ", "))}
	}
	return nil
}
