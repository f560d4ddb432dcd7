package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"filippo.io/age"
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

func isIdentityError(err error) bool {
	var ie *IdentityError
	return errors.As(err, &ie)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func newCurve() elliptic.Curve { return elliptic.P256() }
