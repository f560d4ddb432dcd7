// Package backup makes and opens keyrite's backups of root keys: the
// private scalar split into M-of-N Shamir shares (backup/shamir), each
// share authenticated and encrypted with age to one custodian, written as
// a text file a person can recognise, print (backup/paper) and type back.
//
// The package never writes files: Create returns their contents and Check
// proves that what was written can be read back, decrypted for the
// intended recipients only, and recombined into the key.
package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup/shamir"
	"github.com/keyrite/keyrite/hsm"
)

// RecordName is the public description of a backup, next to its shares.
const RecordName = "backup.json"

// ShareFileName is the file a custodian's share is written to.
func ShareFileName(custodian string) string { return custodian + ".share.age" }

// CreateOptions describe a new backup.
type CreateOptions struct {
	Key        *ecdsa.PrivateKey
	KeyID      string // canonical key ID, shown to custodians
	Label      string // the key's label on devices, restored by default
	Custodians []Custodian
	Threshold  int
	Created    time.Time
	// Passphrase returns the new passphrase of a passphrase custodian
	// (asked twice by the caller); the backup wipes it after use.
	Passphrase func(c Custodian) ([]byte, error)
	WorkFactor int // scrypt log2(N) for passphrase shares; 0: age's default
	PluginUI   *plugin.ClientUI
	Rand       io.Reader // shares' coefficients and coordinates; nil: crypto/rand
}

// Record is backup.json: everything about the backup that is public.
type Record struct {
	Format       string        `json:"format"`
	KeyID        string        `json:"key_id"`
	Algorithm    string        `json:"algorithm"`
	PublicKeyPEM string        `json:"public_key_pem"`
	Label        string        `json:"label"`
	Created      time.Time     `json:"created"`
	Threshold    int           `json:"threshold"`
	Shares       []RecordShare `json:"shares"`
}

// RecordShare describes one share file.
type RecordShare struct {
	Share     int    `json:"share"`
	Custodian string `json:"custodian"`
	Kind      string `json:"kind"`
	Recipient string `json:"recipient"` // public; "passphrase" for passphrase shares
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
}

const recordFormat = "keyrite-backup/v1"

// Backup is a backup made in memory, not yet written.
type Backup struct {
	Files  map[string][]byte // share files and backup.json, by name
	Record Record
	checks []*check
	pub    *ecdsa.PublicKey
}

type check struct {
	file      string
	custodian Custodian
	share     int
	id        *expected
	payload   [32]byte // SHA-256 of the plaintext
}

// Wipe forgets the file keys kept for Check.
func (b *Backup) Wipe() {
	for _, c := range b.checks {
		hsm.Wipe(c.id.fileKey)
	}
}

// Create splits the key and encrypts one share per custodian.
func Create(o CreateOptions) (*Backup, error) {
	n := len(o.Custodians)
	if n == 0 {
		return nil, errors.New("no custodians given")
	}
	if o.Threshold < 1 || o.Threshold > n {
		return nil, fmt.Errorf("threshold %d with %d custodians: it must be between 1 and %d", o.Threshold, n, n)
	}
	if n > shamir.MaxShares {
		return nil, fmt.Errorf("%d custodians: at most %d", n, shamir.MaxShares)
	}
	seen := map[string]bool{}
	for _, c := range o.Custodians {
		if seen[c.Name] {
			return nil, fmt.Errorf("custodian %s is given twice", c.Name)
		}
		seen[c.Name] = true
	}
	alg, err := hsm.CurveName(&o.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&o.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	d, err := o.Key.Bytes()
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(d)
	tk, err := tagKey(d, o.KeyID)
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(tk)
	parts, err := shamir.Split(d, n, o.Threshold, o.Rand)
	if err != nil {
		return nil, err
	}
	defer func() {
		for i := range parts {
			parts[i].Wipe()
		}
	}()

	b := &Backup{Files: map[string][]byte{}, pub: &o.Key.PublicKey}
	b.Record = Record{Format: recordFormat, KeyID: o.KeyID, Algorithm: alg,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		Label:        o.Label, Created: o.Created.UTC(), Threshold: o.Threshold}
	for i, c := range o.Custodians {
		p := &payload{KeyID: o.KeyID, Algorithm: alg, PublicKey: pubDER, Label: o.Label, Custodian: c.Name,
			Created: o.Created.UTC(), Share: i + 1, Shares: n, Threshold: o.Threshold, X: parts[i].X, Y: parts[i].Y}
		p.Tag = tag(tk, p)
		var pass []byte
		if c.Kind == KindPassphrase {
			if o.Passphrase == nil {
				return nil, fmt.Errorf("custodian %s: a passphrase is needed but there is no way to ask for it", c.Name)
			}
			if pass, err = o.Passphrase(c); err != nil {
				return nil, fmt.Errorf("custodian %s: %w", c.Name, err)
			}
		}
		r, err := c.recipient(pass, o.WorkFactor, o.PluginUI)
		hsm.Wipe(pass)
		if err != nil {
			return nil, err
		}
		rec := &recorder{r: r}
		plain := p.marshal()
		armored, err := encrypt(plain, rec)
		sum := sha256.Sum256(plain)
		hsm.Wipe(plain)
		if err != nil {
			return nil, fmt.Errorf("custodian %s: encrypting the share: %w", c.Name, err)
		}
		h := Header{KeyID: o.KeyID, Share: i + 1, Threshold: o.Threshold, Custodian: c.Name, Created: o.Created.UTC().Format(time.DateOnly)}
		text := append([]byte(h.text()+"\n"), armored...)
		name := ShareFileName(c.Name)
		b.Files[name] = text
		b.checks = append(b.checks, &check{file: name, custodian: c, share: i + 1,
			id: &expected{stanzas: rec.stanzas, fileKey: rec.fileKey}, payload: sum})
		recipient := c.Recipient
		b.Record.Shares = append(b.Record.Shares, RecordShare{Share: i + 1, Custodian: c.Name, Kind: kindName(c),
			Recipient: recipient, File: name, SHA256: hexSum(text)})
	}
	rec, err := json.MarshalIndent(b.Record, "", "  ")
	if err != nil {
		return nil, err
	}
	b.Files[RecordName] = append(rec, '\n')
	return b, nil
}

func kindName(c Custodian) string {
	if c.Kind == KindPlugin {
		return "plugin:" + c.Plugin
	}
	return c.Kind
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func encrypt(plain []byte, r age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return armorBytes(buf.Bytes()), nil
}

// tagKey derives the key of the share tags from the secret: only someone
// who can recover the key can make a tag that verifies.
func tagKey(d []byte, keyID string) ([]byte, error) {
	return hkdf.Key(sha256.New, d, nil, "keyrite share tag key v1 "+keyID, 32)
}

func tag(k []byte, p *payload) []byte {
	m := hmac.New(sha256.New, k)
	fmt.Fprintf(m, "keyrite share v1|%s|%s|%d|%d|%d|%d|%s|", p.KeyID, p.Algorithm, p.Share, p.Shares, p.Threshold, p.X, p.Label)
	m.Write(p.PublicKey)
	m.Write(p.Y)
	return m.Sum(nil)
}

// CheckReport says what Check proved.
type CheckReport struct {
	Files   int `json:"files"`   // share files read back and decrypted
	Subsets int `json:"subsets"` // threshold-sized subsets recombined into the key
	Total   int `json:"total"`   // threshold-sized subsets that exist
}

// maxSubsets bounds Check's test restore: beyond it, n sliding windows.
const maxSubsets = 1024

// Check reads every file back through read (from disk, after writing)
// and proves it: each share file parses, its header holds exactly the
// stanzas the custodian's recipient produced (it is encrypted to that
// recipient and no one else), it decrypts to the share that was made, and
// threshold-sized subsets of the decrypted shares recombine into the key —
// every subset when there are at most 1024.
func (b *Backup) Check(read func(name string) ([]byte, error)) (*CheckReport, error) {
	rec, err := read(RecordName)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rec, b.Files[RecordName]) {
		return nil, fmt.Errorf("%s: read back differs from what was written", RecordName)
	}
	var shares []*Share
	defer func() {
		for _, s := range shares {
			s.Wipe()
		}
	}()
	for _, c := range b.checks {
		data, err := read(c.file)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(data, b.Files[c.file]) {
			return nil, &ShareError{File: c.file, Reason: "read back differs from what was written"}
		}
		f, err := ParseShareFile(c.file, data)
		if err != nil {
			return nil, err
		}
		if f.Header == nil || f.Header.Share != c.share || f.Header.Custodian != c.custodian.Name {
			return nil, &ShareError{File: c.file, Reason: "header does not name the intended share and custodian"}
		}
		s, err := f.open(c.id, nil)
		if err != nil {
			return nil, fmt.Errorf("custodian %s: %w", c.custodian.Name, err)
		}
		plain := s.p.marshal()
		sum := sha256.Sum256(plain)
		hsm.Wipe(plain)
		shares = append(shares, s)
		if sum != c.payload {
			return nil, &ShareError{File: c.file, Reason: "decrypts to something other than the share that was made"}
		}
	}
	t := b.Record.Threshold
	rep := &CheckReport{Files: len(shares), Total: binomial(len(shares), t)}
	try := func(sub []*Share) error {
		r, err := Recover(sub)
		if err != nil {
			return err
		}
		defer r.Wipe()
		if !r.Key.PublicKey.Equal(b.pub) {
			return errors.New("a subset of shares recovers a different key")
		}
		rep.Subsets++
		return nil
	}
	if rep.Total <= maxSubsets {
		err = forSubsets(len(shares), t, func(idx []int) error {
			sub := make([]*Share, len(idx))
			for i, j := range idx {
				sub[i] = shares[j]
			}
			return try(sub)
		})
	} else {
		for i := 0; i < len(shares) && err == nil; i++ {
			sub := make([]*Share, t)
			for j := range sub {
				sub[j] = shares[(i+j)%len(shares)]
			}
			err = try(sub)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("test restore: %w", err)
	}
	return rep, nil
}

// forSubsets calls f with the indexes of every k-subset of n, stopping at
// the first error.
func forSubsets(n, k int, f func([]int) error) error {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if err := f(append([]int(nil), idx...)); err != nil {
			return err
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return nil
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

func binomial(n, k int) int {
	r := new(big.Int).Binomial(int64(n), int64(k))
	if !r.IsInt64() || r.Int64() > 1<<30 {
		return 1 << 30
	}
	return int(r.Int64())
}

// Share is one decrypted share.
type Share struct {
	File string
	p    *payload
}

// Number is the share's number (1..Shares).
func (s *Share) Number() int { return s.p.Share }

// Custodian is the name the share was made for.
func (s *Share) Custodian() string { return s.p.Custodian }

// KeyID is the key the share claims to be of.
func (s *Share) KeyID() string { return s.p.KeyID }

// Threshold is the number of shares needed.
func (s *Share) Threshold() int { return s.p.Threshold }

// Wipe overwrites the share's secret part.
func (s *Share) Wipe() {
	if s != nil && s.p != nil {
		hsm.Wipe(s.p.Y)
	}
}

// Recovered is a key recovered from shares. Wipe it when done.
type Recovered struct {
	Key       *ecdsa.PrivateKey
	KeyID     string
	Label     string
	Algorithm string
	Threshold int
	Shares    int
	Created   time.Time
	Used      []int // share numbers that made the key
	Given     []int // share numbers given, all verified
}

// Wipe overwrites the private scalar as far as Go allows: the big.Int's
// words are zeroed, but crypto/ecdsa keeps its own copy that nothing can
// reach, and earlier big.Int arithmetic may have left copies on the heap.
func (r *Recovered) Wipe() {
	if r != nil {
		WipeKey(r.Key)
	}
}

// WipeKey zeroes an ECDSA private key's D in place (see Recovered.Wipe for
// what it cannot reach).
func WipeKey(k *ecdsa.PrivateKey) {
	if k == nil || k.D == nil {
		return
	}
	words := k.D.Bits()
	for i := range words {
		words[i] = 0
	}
	k.D.SetInt64(0)
}

// ThresholdError is a recovery with too few shares.
type ThresholdError struct {
	KeyID      string
	Have, Need int
}

func (e *ThresholdError) Error() string {
	return fmt.Sprintf("key %s needs %d shares, %d given: fewer than the threshold reveal nothing about the key", short(e.KeyID), e.Need, e.Have)
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}

// maxRecoverTries bounds the search for a consistent subset.
const maxRecoverTries = 4096

// Recover recombines shares into the key. The shares must all be of one
// key; a subset of the threshold's size must recover a key whose public key
// is the one every share records; then every share given must carry a tag
// made with that key. A damaged or forged share is named when enough good
// shares are given to find it out.
func Recover(shares []*Share) (*Recovered, error) {
	if len(shares) == 0 {
		return nil, errors.New("no shares given")
	}
	first := shares[0]
	byNumber := map[int]*Share{}
	for _, s := range shares {
		if s.p.KeyID != first.p.KeyID || !bytes.Equal(s.p.PublicKey, first.p.PublicKey) {
			return nil, &ShareError{File: s.File, Reason: fmt.Sprintf("is a share of key %s, but %s is of key %s: shares of different keys cannot be combined",
				short(s.p.KeyID), first.File, short(first.p.KeyID))}
		}
		if s.p.Threshold != first.p.Threshold || s.p.Shares != first.p.Shares || s.p.Algorithm != first.p.Algorithm ||
			s.p.Label != first.p.Label || !s.p.Created.Equal(first.p.Created) {
			return nil, &ShareError{File: s.File, Reason: fmt.Sprintf("disagrees with %s on the backup's threshold, size, label or date: damaged or forged", first.File)}
		}
		if o, ok := byNumber[s.p.Share]; ok {
			return nil, &ShareError{File: s.File, Reason: fmt.Sprintf("is share %d, and so is %s: each share counts once", s.p.Share, o.File)}
		}
		byNumber[s.p.Share] = s
	}
	t := first.p.Threshold
	if len(shares) < t {
		return nil, &ThresholdError{KeyID: first.p.KeyID, Have: len(shares), Need: t}
	}
	pubAny, err := x509.ParsePKIXPublicKey(first.p.PublicKey)
	if err != nil {
		return nil, &ShareError{File: first.File, Reason: "records an unreadable public key", Err: err}
	}
	pub, ok := pubAny.(*ecdsa.PublicKey)
	if !ok {
		return nil, &ShareError{File: first.File, Reason: "records a public key that is not ECDSA"}
	}
	if alg, err := hsm.CurveName(pub); err != nil || alg != first.p.Algorithm {
		return nil, &ShareError{File: first.File, Reason: "records a public key that does not match its algorithm"}
	}

	var found *ecdsa.PrivateKey
	var used []int
	tries := 0
	errStop := errors.New("stop")
	forSubsets(len(shares), t, func(idx []int) error {
		tries++
		if tries > maxRecoverTries {
			return errStop
		}
		parts := make([]shamir.Share, len(idx))
		for i, j := range idx {
			parts[i] = shamir.Share{X: shares[j].p.X, Y: shares[j].p.Y}
		}
		d, err := shamir.Combine(parts)
		if err != nil {
			return nil
		}
		defer hsm.Wipe(d)
		k, err := ecdsa.ParseRawPrivateKey(pub.Curve, d)
		if err != nil || !k.PublicKey.Equal(pub) {
			WipeKey(k)
			return nil
		}
		found = k
		for _, j := range idx {
			used = append(used, shares[j].p.Share)
		}
		return errStop
	})
	if found == nil {
		return nil, &ShareError{File: fmt.Sprintf("set (%d given)", len(shares)),
			Reason: fmt.Sprintf("no %d of the shares given recombine into key %s: at least one share is damaged or forged", t, short(first.p.KeyID))}
	}
	d, err := found.Bytes()
	if err != nil {
		return nil, err
	}
	tk, err := tagKey(d, first.p.KeyID)
	hsm.Wipe(d)
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(tk)
	r := &Recovered{Key: found, KeyID: first.p.KeyID, Label: first.p.Label, Algorithm: first.p.Algorithm,
		Threshold: t, Shares: first.p.Shares, Created: first.p.Created, Used: used}
	for _, s := range shares {
		if !hmac.Equal(tag(tk, s.p), s.p.Tag) {
			r.Wipe()
			return nil, &ShareError{File: s.File, Reason: fmt.Sprintf("share %d was not made with key %s: damaged or forged (the other shares recover the key)", s.p.Share, short(first.p.KeyID))}
		}
		r.Given = append(r.Given, s.p.Share)
	}
	return r, nil
}

// NewKey makes a private key from the operating system's CSPRNG mixed with
// extra entropy (a device's random number generator): HKDF-SHA-256 over
// 48 bytes of crypto/rand and every extra input, so the key is as strong
// as the best of them. (crypto/ecdsa.GenerateKey ignores its reader since
// Go 1.26, hence the derivation here.)
func NewKey(alg string, extra ...[]byte) (*ecdsa.PrivateKey, error) {
	curve, err := hsm.Curve(alg)
	if err != nil {
		return nil, err
	}
	ikm := make([]byte, 48)
	if _, err := rand.Read(ikm); err != nil {
		return nil, err
	}
	for _, e := range extra {
		ikm = append(ikm, []byte(strconv.Itoa(len(e))+":")...)
		ikm = append(ikm, e...)
	}
	defer hsm.Wipe(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, []byte("keyrite backed-up key v1"))
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(prk)
	size := hsm.CurveSize(curve)
	for ctr := 0; ctr < 64; ctr++ {
		d, err := hkdf.Expand(sha256.New, prk, fmt.Sprintf("%s scalar %d", curve.Params().Name, ctr), size)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.ParseRawPrivateKey(curve, d)
		hsm.Wipe(d)
		if err == nil {
			return k, nil
		}
	}
	return nil, errors.New("could not derive a private key (64 candidates out of range)")
}
