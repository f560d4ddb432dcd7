package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

func serverKey(t testing.TB) data.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return data.NewED25519PublicKey(pub)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRepo(t *testing.T, gun string) (*NewRepo, NewRepoSpec) {
	t.Helper()
	now := time.Now()
	spec := NewRepoSpec{GUN: gun, RootKeys: []crypto.Signer{newKey(t)}, TargetsKey: newKey(t),
		Timestamp: serverKey(t), Snapshot: serverKey(t), Now: now,
		RootExpires: now.Add(DefaultRootExpiry), TargetsExpiry: now.Add(DefaultTargetsExpiry), Rand: rand.Reader}
	ks := NewKeyService()
	r, err := CreateRepository(ks, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Signatures(); got != 3 {
		t.Errorf("device signatures = %d, want 3 (root certificate, root.json, targets.json)", got)
	}
	return r, spec
}

func TestCreateAndVerify(t *testing.T) {
	r, spec := newRepo(t, "registry.example.com/org/app")
	rep, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: r.Root, Targets: r.Targets,
		Timestamp: spec.Timestamp, Snapshot: spec.Snapshot, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Roles) != 2 || !rep.Roles[0].ThresholdMet || !rep.Roles[1].ThresholdMet {
		t.Fatalf("roles = %+v", rep.Roles)
	}
	if rep.Roles[0].Version != 1 || rep.Roles[1].Version != 1 {
		t.Errorf("versions = %d, %d; want 1, 1", rep.Roles[0].Version, rep.Roles[1].Version)
	}
	if rep.RootCerts[0].KeyID != r.RootKeyIDs[0] || rep.RootCerts[0].CanonicalID != r.RootKeyBare[0] {
		t.Errorf("cert report %+v does not match %v / %v", rep.RootCerts[0], r.RootKeyIDs, r.RootKeyBare)
	}
	if rep.RootCerts[0].CommonName != spec.GUN {
		t.Errorf("CN = %q", rep.RootCerts[0].CommonName)
	}
	if exp := rep.RootCerts[0].NotAfter.Sub(time.Now()); exp < DefaultRootExpiry-time.Hour {
		t.Errorf("root certificate valid for %v only", exp)
	}
	if !strings.Contains(string(r.Targets), `"delegations":{"keys":{},"roles":[]}`) {
		t.Errorf("targets has no empty delegations object: %s", r.Targets)
	}
}

func TestVerifyRefuses(t *testing.T) {
	r, spec := newRepo(t, "example.com/app")
	other, _ := newRepo(t, "example.com/app")
	// flip swaps one base64 character of the signature for another valid one.
	flip := func(b []byte, i int) []byte {
		c := append([]byte{}, b...)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return c
	}
	sigAt := strings.Index(string(r.Root), `"sig":"`) + 10
	edit := func(old, new string) []byte {
		if !strings.Contains(string(r.Root), old) {
			t.Fatalf("root.json holds no %s", old)
		}
		return []byte(strings.Replace(string(r.Root), old, new, 1))
	}
	cases := []struct {
		name, want    string
		root, targets []byte
		ts            data.PublicKey
	}{
		{"byte flipped in signature", "does not verify", flip(r.Root, sigAt), r.Targets, spec.Timestamp},
		{"not canonical", "canonical form", append([]byte(" "), r.Root...), r.Targets, spec.Timestamp},
		// Compact, so the envelope re-encodes the same: only the signed
		// part's own check (canonjson) refuses these.
		{"signed part: keys unsorted", "canonical form", edit(`{"_type":"Root","consistent_snapshot":false`, `{"consistent_snapshot":false,"_type":"Root"`), r.Targets, spec.Timestamp},
		{"signed part: 1.0 for 1", "canonical form", edit(`"version":1},"signatures"`, `"version":1.0},"signatures"`), r.Targets, spec.Timestamp},
		{"signed part: needless escape", "canonical form", edit(`"_type":"Root"`, `"_type":"R\u006fot"`), r.Targets, spec.Timestamp},
		{"signed part: key twice", "canonical form", edit(`"_type":"Root",`, `"_type":"Root","_type":"Root",`), r.Targets, spec.Timestamp},
		{"root of another key", "not the server's key", other.Root, r.Targets, spec.Timestamp},
		{"other server key", "not the server's key", r.Root, r.Targets, serverKey(t)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: c.root, Targets: c.targets,
				Timestamp: c.ts, Snapshot: spec.Snapshot, Now: time.Now()})
			var ve *VerifyError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want VerifyError containing %q", err, c.want)
			}
		})
	}
	// Targets signed by a key the root does not name: not an error (a holder
	// may still sign), but incomplete, and nobody counted as a signer.
	rep, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: r.Root, Targets: other.Targets, Now: time.Now()})
	if err != nil || rep.Complete() || len(rep.Roles) != 2 || len(rep.Roles[1].SignedBy) != 0 || rep.Roles[1].ThresholdMet {
		t.Errorf("targets of another repo: err %v, roles %+v", err, rep.Roles)
	}
	if _, err := VerifyRepository(VerifyInput{GUN: "example.com/other", Root: r.Root, Now: time.Now()}); err == nil || !strings.Contains(err.Error(), "does not match the GUN") {
		t.Errorf("root for another GUN: err = %v", err)
	}
}

// P-384 root and targets keys: notary's "ecdsa" method is SHA-256 over the
// canonical bytes whatever the curve, with a 96-byte r‖s.
func TestCreateAndVerifyP384(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	now := time.Now()
	spec := NewRepoSpec{GUN: "example.com/p384", RootKeys: []crypto.Signer{k1}, TargetsKey: k2,
		Timestamp: serverKey(t), Snapshot: serverKey(t), Now: now,
		RootExpires: now.Add(DefaultRootExpiry), TargetsExpiry: now.Add(DefaultTargetsExpiry), Rand: rand.Reader}
	r, err := CreateRepository(NewKeyService(), spec)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: r.Root, Targets: r.Targets, Now: now})
	if err != nil || !rep.Complete() {
		t.Fatalf("P-384: %v %+v", err, rep)
	}
	if !strings.Contains(string(r.Root), `"method":"ecdsa"`) {
		t.Error("P-384 signatures are not notary's ecdsa method")
	}
}
