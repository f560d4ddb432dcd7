package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/internal/testenv"
)

const testKeyID = "9b2f0c7e5d4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"

// party is a custodian with the identity that opens its share.
type party struct {
	c    Custodian
	ids  []age.Identity
	pass []byte
}

func x25519Party(t *testing.T, name string) party {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return party{c: mustCustodian(t, name+"="+id.Recipient().String()), ids: []age.Identity{id}}
}

func mustCustodian(t *testing.T, spec string) Custodian {
	t.Helper()
	c, err := ParseCustodian(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parties(t *testing.T, n int) []party {
	var ps []party
	for i := 0; i < n; i++ {
		ps = append(ps, x25519Party(t, fmt.Sprintf("c%d", i+1)))
	}
	return ps
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := NewKey("P-256")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func makeBackup(t *testing.T, key *ecdsa.PrivateKey, ps []party, threshold int) *Backup {
	t.Helper()
	var cs []Custodian
	pass := map[string][]byte{}
	for _, p := range ps {
		cs = append(cs, p.c)
		pass[p.c.Name] = p.pass
	}
	b, err := Create(CreateOptions{Key: key, KeyID: testKeyID, Label: "root", Custodians: cs, Threshold: threshold,
		Created: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), WorkFactor: 10,
		Passphrase: func(c Custodian) ([]byte, error) { return bytes.Clone(pass[c.Name]), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Wipe)
	rep, err := b.Check(func(name string) ([]byte, error) { return b.Files[name], nil })
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if rep.Files != len(ps) || rep.Subsets == 0 {
		t.Fatalf("Check report %+v", rep)
	}
	return b
}

func open(t *testing.T, b *Backup, p party) (*Share, error) {
	t.Helper()
	f, err := ParseShareFile(ShareFileName(p.c.Name), b.Files[ShareFileName(p.c.Name)])
	if err != nil {
		return nil, err
	}
	o := &Opener{Identities: p.ids, Passphrase: func(*ShareFile) ([]byte, error) { return bytes.Clone(p.pass), nil }}
	return o.Open(f)
}

func mustOpen(t *testing.T, b *Backup, p party) *Share {
	t.Helper()
	s, err := open(t, b, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRecipientKinds: a 2-of-N backup over one custodian of every kind;
// each share opens with its custodian's identity only, and any two shares
// restore the key.
func TestRecipientKinds(t *testing.T) {
	testenv.AgePluginPath(t, "age-plugin-batchpass")
	t.Setenv("AGE_PASSPHRASE", "batch passphrase for the plugin test")
	t.Setenv("AGE_PASSPHRASE_WORK_FACTOR", "10")

	var ps []party
	ps = append(ps, x25519Party(t, "x25519"))

	hyb, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, party{c: mustCustodian(t, "pq="+hyb.Recipient().String()), ids: []age.Identity{hyb}})

	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, err := ssh.MarshalPrivateKey(edPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	edSigner, _ := ssh.NewSignerFromKey(edPriv)
	edIDs, err := ParseIdentities("ed", pem.EncodeToMemory(edPEM), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, party{c: mustCustodian(t, "ed="+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edSigner.PublicKey())))), ids: edIDs})

	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaPriv)})
	rsaSigner, _ := ssh.NewSignerFromKey(rsaPriv)
	rsaIDs, err := ParseIdentities("rsa", rsaPEM, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, party{c: mustCustodian(t, "rsa="+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaSigner.PublicKey())))), ids: rsaIDs})

	ps = append(ps, party{c: mustCustodian(t, "pass=passphrase"), pass: []byte("correct horse battery staple")})

	batch, err := PluginIdentity("batchpass", nil)
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, party{c: mustCustodian(t, "plug=plugin:batchpass"), ids: []age.Identity{batch}})

	wantKinds := []string{KindX25519, KindHybrid, KindSSHEd25519, KindSSHRSA, KindPassphrase, KindPlugin}
	for i, p := range ps {
		if p.c.Kind != wantKinds[i] {
			t.Errorf("%s: kind %s, want %s", p.c.Name, p.c.Kind, wantKinds[i])
		}
	}

	key := newKey(t)
	b := makeBackup(t, key, ps, 2)
	var shares []*Share
	for i, p := range ps {
		s := mustOpen(t, b, p)
		if s.Number() != i+1 || s.Custodian() != p.c.Name || s.Threshold() != 2 {
			t.Errorf("%s: share %d custodian %s threshold %d", p.c.Name, s.Number(), s.Custodian(), s.Threshold())
		}
		shares = append(shares, s)
		// Nobody else's identity opens it.
		other := ps[(i+1)%len(ps)]
		if other.c.Kind != KindPassphrase && p.c.Kind != KindPassphrase && p.c.Kind != KindPlugin && other.c.Kind != KindPlugin {
			if _, err := open(t, b, party{c: p.c, ids: other.ids}); !isIdentityError(err) {
				t.Errorf("%s's share opened with %s's identity: %v", p.c.Name, other.c.Name, err)
			}
		}
	}
	for i := 0; i+1 < len(shares); i++ {
		r, err := Recover([]*Share{shares[i], shares[i+1]})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Key.Equal(key) || r.Label != "root" || r.KeyID != testKeyID {
			t.Fatalf("recovered a different key from %s and %s", ps[i].c.Name, ps[i+1].c.Name)
		}
		r.Wipe()
		if r.Key.D.Sign() != 0 {
			t.Error("Wipe left D")
		}
	}
	var rec Record
	if err := jsonUnmarshal(b.Files[RecordName], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Shares[4].Recipient != "passphrase" || rec.Shares[5].Kind != "plugin:batchpass" || rec.Threshold != 2 {
		t.Errorf("record: %+v", rec)
	}
}

func isIdentityError(err error) bool {
	var ie *IdentityError
	return errors.As(err, &ie)
}

// TestSubsets: 2-of-3 and 3-of-5 restore from every subset of the
// threshold's size (and larger), and no smaller subset restores.
func TestSubsets(t *testing.T) {
	for _, c := range []struct{ n, k int }{{3, 2}, {5, 3}} {
		ps := parties(t, c.n)
		key := newKey(t)
		b := makeBackup(t, key, ps, c.k)
		var all []*Share
		for _, p := range ps {
			all = append(all, mustOpen(t, b, p))
		}
		for size := 1; size <= c.n; size++ {
			forSubsets(c.n, size, func(idx []int) error {
				var sub []*Share
				for _, i := range idx {
					sub = append(sub, all[i])
				}
				r, err := Recover(sub)
				if size < c.k {
					var te *ThresholdError
					if !errors.As(err, &te) || te.Need != c.k || te.Have != size {
						t.Errorf("%d-of-%d with %v: err = %v, want a threshold error", c.k, c.n, idx, err)
					}
					if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("needs %d shares, %d given", c.k, size)) {
						t.Errorf("message: %v", err)
					}
					return nil
				}
				if err != nil || !r.Key.Equal(key) {
					t.Errorf("%d-of-%d with %v: %v", c.k, c.n, idx, err)
				}
				return nil
			})
		}
	}
}

// TestMixedKeys: shares of two backups of different keys do not combine.
func TestMixedKeys(t *testing.T) {
	ps := parties(t, 3)
	b1 := makeBackup(t, newKey(t), ps, 2)
	b2 := makeBackup(t, newKey(t), ps, 2)
	_, err := Recover([]*Share{mustOpen(t, b1, ps[0]), mustOpen(t, b2, ps[1])})
	var se *ShareError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "different keys") && !strings.Contains(err.Error(), "do not recombine") && !strings.Contains(err.Error(), "no 2 of the shares") {
		t.Fatalf("mixed keys: %v", err)
	}
}

// TestMixedKeysSameID: two keys whose shares claim the same key ID still
// differ by public key.
func TestMixedKeysSameID(t *testing.T) {
	ps := parties(t, 3)
	b1 := makeBackup(t, newKey(t), ps, 2)
	b2 := makeBackup(t, newKey(t), ps, 2)
	_, err := Recover([]*Share{mustOpen(t, b1, ps[0]), mustOpen(t, b2, ps[1])})
	if err == nil || !strings.Contains(err.Error(), "shares of different keys cannot be combined") {
		t.Fatalf("err = %v", err)
	}
}

// TestAlteredByte: one byte changed anywhere in a share file, in its
// header, its age header or its encrypted payload, is refused.
func TestAlteredByte(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 2)
	name := ShareFileName(ps[0].c.Name)
	orig := b.Files[name]
	armStart := bytes.Index(orig, []byte("-----BEGIN"))
	// Offsets: the header's share number and custodian, then every 7th
	// byte of the base64 body.
	offsets := []int{bytes.Index(orig, []byte("share: ")) + 7, bytes.Index(orig, []byte("custodian: ")) + 11, bytes.Index(orig, []byte("key-id: ")) + 8}
	for i := armStart + 40; i < len(orig)-40; i += 7 {
		if orig[i] != '\n' {
			offsets = append(offsets, i)
		}
	}
	for _, off := range offsets {
		bad := bytes.Clone(orig)
		bad[off] = flip(bad[off])
		b.Files[name] = bad
		s, err := open(t, b, ps[0])
		if err == nil {
			// A change inside the base64 that still decrypts is impossible
			// (age authenticates everything); report where.
			t.Fatalf("a share altered at byte %d opened (share %d)", off, s.Number())
		}
		// A change in the age header's recipient stanza can make it look
		// like a share for someone else: an identity error, also clear.
		var se *ShareError
		if !errors.As(err, &se) && !isIdentityError(err) {
			t.Fatalf("altered at byte %d: %T %v, want a ShareError", off, err, err)
		}
	}
	b.Files[name] = orig
	mustOpen(t, b, ps[0])
}

// flip changes a byte to another byte of the same class, so that the
// change survives parsing and has to be caught by authentication.
func flip(c byte) byte {
	switch {
	case c >= 'a' && c < 'z', c >= 'A' && c < 'Z', c >= '0' && c < '9':
		return c + 1
	case c == 'z':
		return 'a'
	case c == 'Z':
		return 'A'
	case c == '9':
		return '0'
	}
	return c ^ 1
}

// TestForgedShare: a custodian who replaces their share by one encrypted
// correctly but with a different y is caught by the tags when the other
// shares recover the key, and named.
func TestForgedShare(t *testing.T) {
	ps := parties(t, 3)
	key := newKey(t)
	b := makeBackup(t, key, ps, 2)
	good0, good1 := mustOpen(t, b, ps[0]), mustOpen(t, b, ps[1])
	forged := mustOpen(t, b, ps[2])
	forged.p.Y[0] ^= 0x55
	forged.File = "forged.share.age"
	// With two good shares the key is found and the forgery named.
	_, err := Recover([]*Share{good0, good1, forged})
	if err == nil || !strings.Contains(err.Error(), "forged.share.age") || !strings.Contains(err.Error(), "damaged or forged") {
		t.Fatalf("err = %v", err)
	}
	// With the threshold exactly, nothing recombines.
	_, err = Recover([]*Share{good0, forged})
	if err == nil || !strings.Contains(err.Error(), "damaged or forged") {
		t.Fatalf("err = %v", err)
	}
}

// TestWrongIdentity: a clear error naming the share and its recipient type.
func TestWrongIdentity(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 2)
	_, err := open(t, b, party{c: ps[0].c, ids: ps[1].ids})
	if !isIdentityError(err) || !strings.Contains(err.Error(), "none of the identities given decrypts it (it is encrypted to a X25519 recipient)") {
		t.Fatalf("err = %v", err)
	}
	pass := party{c: mustCustodian(t, "p=passphrase"), pass: []byte("right")}
	b2 := makeBackup(t, newKey(t), []party{pass}, 1)
	_, err = open(t, b2, party{c: pass.c, pass: []byte("wrong")})
	if !isIdentityError(err) || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("err = %v", err)
	}
}

// TestCheckRefusesOtherRecipient: Check proves each file is encrypted to
// its custodian: a file swapped for another custodian's is refused even
// though it is a valid share.
func TestCheckRefusesOtherRecipient(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 1)
	n0, n1 := ShareFileName(ps[0].c.Name), ShareFileName(ps[1].c.Name)
	swapped := map[string][]byte{RecordName: b.Files[RecordName], n0: b.Files[n1], n1: b.Files[n0]}
	_, err := b.Check(func(name string) ([]byte, error) { return swapped[name], nil })
	if err == nil {
		t.Fatal("Check accepted swapped files")
	}
	// Same bytes re-encrypted to someone else under the right name.
	b2 := makeBackup(t, newKey(t), ps, 1)
	other := map[string][]byte{RecordName: b.Files[RecordName], n0: b2.Files[n0], n1: b.Files[n1]}
	if _, err := b.Check(func(name string) ([]byte, error) { return other[name], nil }); err == nil {
		t.Fatal("Check accepted a share of another backup")
	}
}

// TestThresholdOne: with threshold 1 every custodian alone restores.
func TestThresholdOne(t *testing.T) {
	ps := parties(t, 3)
	key := newKey(t)
	b := makeBackup(t, key, ps, 1)
	for _, p := range ps {
		r, err := Recover([]*Share{mustOpen(t, b, p)})
		if err != nil || !r.Key.Equal(key) {
			t.Fatalf("%s alone: %v", p.c.Name, err)
		}
	}
}

// TestTypedAndScannedText: the armored text alone (no header), rewrapped
// with other line lengths and CRLF, and the QR parts in any order with
// scanner noise around them, all open.
func TestTypedAndScannedText(t *testing.T) {
	ps := parties(t, 1)
	key := newKey(t)
	b := makeBackup(t, key, ps, 1)
	text := b.Files[ShareFileName(ps[0].c.Name)]
	arm := text[bytes.Index(text, []byte("-----BEGIN")):]
	lines := strings.Split(strings.TrimSpace(string(arm)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	var typed strings.Builder
	typed.WriteString("  " + lines[0] + "\r\n")
	for i := 0; i < len(body); i += 40 {
		typed.WriteString(body[i:min(i+40, len(body))] + "\r\n")
	}
	typed.WriteString(lines[len(lines)-1] + "\r\n\r\n")
	for _, in := range []struct{ name, text string }{{"typed", typed.String()}} {
		f, err := ParseShareFile(in.name, []byte(in.text))
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != nil {
			t.Error("typed text has no header")
		}
		s, err := (&Opener{Identities: ps[0].ids}).Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := Recover([]*Share{s}); err != nil || !r.Key.Equal(key) {
			t.Fatal(err)
		}
	}
	parts := QRParts(text, testKeyID, 300)
	if len(parts) < 3 {
		t.Fatalf("%d parts", len(parts))
	}
	var scanned strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		scanned.WriteString("QR-Code:" + parts[i] + "\n")
	}
	f, err := ParseShareFile("scanned", []byte(scanned.String()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header == nil || f.Header.Custodian != ps[0].c.Name {
		t.Fatalf("scanned header: %+v", f.Header)
	}
	if _, err := (&Opener{Identities: ps[0].ids}).Open(f); err != nil {
		t.Fatal(err)
	}
	// A missing part is named.
	_, err = ParseShareFile("partial", []byte(strings.Join(parts[1:], "\n")))
	if err == nil || !strings.Contains(err.Error(), "QR part 1 of") {
		t.Fatalf("missing part: %v", err)
	}
}

func TestParseCustodian(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	for _, c := range []struct{ spec, want string }{
		{"alice", "expected NAME=RECIPIENT"},
		{"../x=" + id.Recipient().String(), "invalid custodian name"},
		{"a=age1nope", "neither an X25519 nor a plugin recipient"},
		{"a=" + id.String(), "that is a private key"},
		{"a=pgp:1234", "unknown recipient type"},
		{"a=plugin:", "invalid plugin name"},
	} {
		_, err := ParseCustodian(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.spec, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Errorf("%q: the error echoes a private key", c.spec)
		}
	}
	c := mustCustodian(t, "yk=age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t")
	if c.Kind != KindPlugin || c.Plugin != "yubikey" {
		t.Fatalf("%+v", c)
	}
	var pm *PluginMissingError
	if err := c.CheckPlugin(); !errors.As(err, &pm) || !strings.Contains(err.Error(), "age-plugin-yubikey is not installed") {
		t.Errorf("CheckPlugin: %v", err)
	}
	_, err := Create(CreateOptions{Key: newKey(t), KeyID: testKeyID, Custodians: []Custodian{c}, Threshold: 1, Created: time.Now()})
	if !errors.As(err, &pm) {
		t.Errorf("Create with a missing plugin: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	ps := parties(t, 2)
	cs := []Custodian{ps[0].c, ps[1].c}
	for _, c := range []struct {
		cs   []Custodian
		k    int
		want string
	}{
		{nil, 1, "no custodians"},
		{cs, 3, "threshold 3 with 2 custodians"},
		{cs, 0, "threshold 0"},
		{[]Custodian{cs[0], cs[0]}, 1, "given twice"},
	} {
		_, err := Create(CreateOptions{Key: newKey(t), KeyID: testKeyID, Custodians: c.cs, Threshold: c.k, Created: time.Now()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

func TestNewKey(t *testing.T) {
	a, err := NewKey("P-256", []byte("device entropy"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey("P-256", []byte("device entropy"))
	if a.Equal(b) {
		t.Fatal("two keys with the same device input are equal: the OS RNG is not mixed in")
	}
	c, err := NewKey("P-384")
	if err != nil || c.Curve.Params().Name != "P-384" {
		t.Fatalf("P-384: %v", err)
	}
	if _, err := NewKey("P-521"); err == nil {
		t.Fatal("P-521 accepted")
	}
}

func BenchmarkNewKeyP256(b *testing.B) {
	for b.Loop() {
		NewKey("P-256", make([]byte, 32))
	}
}

// BenchmarkBaselineGenerateKey is crypto/ecdsa's own generation, the
// baseline for NewKey.
func BenchmarkBaselineGenerateKey(b *testing.B) {
	for b.Loop() {
		ecdsa.GenerateKey(newCurve(), rand.Reader)
	}
}

func benchParties(b *testing.B, n int) []Custodian {
	var cs []Custodian
	for i := 0; i < n; i++ {
		id, _ := age.GenerateX25519Identity()
		c, _ := ParseCustodian(fmt.Sprintf("c%d=%s", i, id.Recipient()))
		cs = append(cs, c)
	}
	return cs
}

func benchCreateCheck(b *testing.B, n, k int) {
	cs := benchParties(b, n)
	key, _ := NewKey("P-256")
	for b.Loop() {
		bk, err := Create(CreateOptions{Key: key, KeyID: testKeyID, Label: "root", Custodians: cs, Threshold: k, Created: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bk.Check(func(name string) ([]byte, error) { return bk.Files[name], nil }); err != nil {
			b.Fatal(err)
		}
		bk.Wipe()
	}
}

// BenchmarkCreateCheck2of3 and 3of5: split, encrypt to X25519 custodians,
// and the full read-back check (decrypt each share, recombine every
// threshold subset).
func BenchmarkCreateCheck2of3(b *testing.B) { benchCreateCheck(b, 3, 2) }
func BenchmarkCreateCheck3of5(b *testing.B) { benchCreateCheck(b, 5, 3) }

// BenchmarkBaselineAgeEncrypt3 encrypts 500 bytes to three X25519
// recipients separately: the age cost inside a 2-of-3 backup.
func BenchmarkBaselineAgeEncrypt3(b *testing.B) {
	cs := benchParties(b, 3)
	plain := make([]byte, 500)
	for b.Loop() {
		for _, c := range cs {
			r, _ := c.recipient(nil, 0, nil)
			encrypt(plain, r)
		}
	}
}
