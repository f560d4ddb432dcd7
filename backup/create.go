package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup/shamir"
	"github.com/keyrite/keyrite/hsm"
)

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

// Backup is a backup made in memory, not yet written.
type Backup struct {
	Files  map[string][]byte // share files and backup.json, by name
	Record Record
	checks []*check
	pub    *ecdsa.PublicKey
}

// Wipe forgets the file keys kept for Check.
func (b *Backup) Wipe() {
	for _, c := range b.checks {
		hsm.Wipe(c.id.fileKey)
	}
}

// Create splits the key and encrypts one share per custodian.
func Create(o CreateOptions) (*Backup, error) {
	if err := checkCreateOptions(o); err != nil {
		return nil, err
	}
	n := len(o.Custodians)
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
		if err := b.addShare(o, c, p); err != nil {
			return nil, err
		}
	}
	rec, err := json.MarshalIndent(b.Record, "", "  ")
	if err != nil {
		return nil, err
	}
	b.Files[RecordName] = append(rec, '\n')
	return b, nil
}

// checkCreateOptions checks the custodians and the threshold.
func checkCreateOptions(o CreateOptions) error {
	n := len(o.Custodians)
	if n == 0 {
		return errors.New("no custodians given")
	}
	if o.Threshold < 1 || o.Threshold > n {
		return fmt.Errorf("threshold %d with %d custodians: it must be between 1 and %d", o.Threshold, n, n)
	}
	if n > shamir.MaxShares {
		return fmt.Errorf("%d custodians: at most %d", n, shamir.MaxShares)
	}
	seen := map[string]bool{}
	for _, c := range o.Custodians {
		if seen[c.Name] {
			return fmt.Errorf("custodian %s is given twice", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// addShare encrypts one share's payload to its custodian and adds the
// share file, its entry in the record, and what Check needs to prove it.
func (b *Backup) addShare(o CreateOptions, c Custodian, p *payload) error {
	var pass []byte
	if c.Kind == KindPassphrase {
		if o.Passphrase == nil {
			return fmt.Errorf("custodian %s: a passphrase is needed but there is no way to ask for it", c.Name)
		}
		var err error
		if pass, err = o.Passphrase(c); err != nil {
			return fmt.Errorf("custodian %s: %w", c.Name, err)
		}
		if err := CheckPassphrase(c.Name, o.Label, pass); err != nil {
			hsm.Wipe(pass)
			return err
		}
	}
	r, err := c.recipient(pass, o.WorkFactor, o.PluginUI)
	hsm.Wipe(pass)
	if err != nil {
		return err
	}
	rec := &recorder{r: r}
	plain := p.marshal()
	armored, err := encrypt(plain, rec)
	sum := sha256.Sum256(plain)
	hsm.Wipe(plain)
	if err != nil {
		return fmt.Errorf("custodian %s: encrypting the share: %w", c.Name, err)
	}
	h := Header{KeyID: o.KeyID, Share: p.Share, Threshold: o.Threshold, Custodian: c.Name, Created: o.Created.UTC().Format(time.DateOnly)}
	text := append([]byte(h.text()+"\n"), armored...)
	name := ShareFileName(c.Name)
	b.Files[name] = text
	b.checks = append(b.checks, &check{file: name, custodian: c, share: p.Share,
		id: &expected{stanzas: rec.stanzas, fileKey: rec.fileKey}, payload: sum})
	recipient := c.Recipient
	b.Record.Shares = append(b.Record.Shares, RecordShare{Share: p.Share, Custodian: c.Name, Kind: kindName(c),
		Recipient: recipient, File: name, SHA256: hexSum(text)})
	return nil
}

func kindName(c Custodian) string {
	if c.Kind == KindPlugin {
		return "plugin:" + c.Plugin
	}
	return c.Kind
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
