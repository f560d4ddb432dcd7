package backup

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/internal/testenv"
)

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
