package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

func current(t *testing.T, r *NewRepo) *Current {
	t.Helper()
	c, err := LoadCurrent(r.GUN, r.Root, r.Targets)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A root that skips a version breaks clients that cached the one before:
// verify refuses it even when every signature is right.
func TestVerifyRefusesSkippedVersion(t *testing.T) {
	r, spec := newRepo(t, "example.com/skip")
	cur := current(t, r)
	ks := NewKeyService()
	ks.Add(spec.RootKeys[0], data.CanonicalRootRole)
	next, _ := cur.NextRoot(time.Now().Add(DefaultRootExpiry))
	next.Signed.Version++ // v3 after v1
	keys, _, _ := RoleKeys(cur.Root, data.CanonicalRootRole)
	b, err := SignedRootBytes(ks, next, keys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyRepository(VerifyInput{GUN: spec.GUN, Root: b, PrevRoot: r.Root, Now: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "version 3 does not follow the current version 1") {
		t.Fatalf("err = %v", err)
	}
}

// A rotated root needs the old keys' threshold and the new keys'.
func TestRotationNeedsOldAndNewKeys(t *testing.T) {
	r, spec := newRepo(t, "example.com/rotate")
	cur := current(t, r)
	newKey := newKey(t)
	now := time.Now()
	oldKeys, _, _ := RoleKeys(cur.Root, data.CanonicalRootRole)
	build := func(withOld, withNew bool) []byte {
		ks := NewKeyService()
		if withOld {
			ks.Add(spec.RootKeys[0], data.CanonicalRootRole)
		}
		ks.Add(newKey, data.CanonicalRootRole) // certifies itself in any case
		_, cert, err := ks.Certify(newKey, spec.GUN, now.Add(-time.Minute), now.Add(DefaultRootExpiry), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		next, _ := cur.NextRoot(now.Add(DefaultRootExpiry))
		SetRootRole(next, data.CanonicalRootRole, []data.PublicKey{cert}, 1)
		signers := append(append([]data.PublicKey{}, oldKeys...), cert)
		if !withNew {
			signers = oldKeys
		}
		b, err := SignedRootBytes(ks, next, signers)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := next.Signed.Keys[oldKeys[0].ID()]; ok {
			t.Error("the old root key is still in the new root")
		}
		return b
	}
	for _, c := range []struct {
		name     string
		old, new bool
		complete bool
	}{{"old and new", true, true, true}, {"new only", false, true, false}, {"old only", true, false, false}} {
		rep, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: build(c.old, c.new), PrevRoot: r.Root, Targets: r.Targets, Now: now})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.Complete() != c.complete {
			t.Errorf("%s: complete = %v, roles %+v", c.name, rep.Complete(), rep.Roles)
		}
	}
}

func pemPub(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Delegations as docker trust signer add/remove leave them.
func TestSignersLikeDocker(t *testing.T) {
	r, _ := newRepo(t, "example.com/signers")
	tg := current(t, r).Targets
	k1, _ := ParseSignerKey(pemPub(t, &newKey(t).PublicKey))
	k2, _ := ParseSignerKey(pemPub(t, &newKey(t).PublicKey))
	if err := AddSigner(tg, "alice", []data.PublicKey{k1}, 1); err != nil {
		t.Fatal(err)
	}
	if err := AddSigner(tg, "bob", []data.PublicKey{k2}, 1); err != nil {
		t.Fatal(err)
	}
	roles := map[string]*data.Role{}
	for _, rl := range tg.Signed.Delegations.Roles {
		roles[rl.Name.String()] = rl
	}
	rel := roles["targets/releases"]
	if rel == nil || len(rel.KeyIDs) != 2 || rel.Threshold != 1 || len(rel.Paths) != 1 || rel.Paths[0] != "" {
		t.Fatalf("releases = %+v", rel)
	}
	if a := roles["targets/alice"]; a == nil || len(a.KeyIDs) != 1 || a.KeyIDs[0] != k1.ID() || a.Paths[0] != "" {
		t.Fatalf("alice = %+v", a)
	}
	if err := RemoveSigner(tg, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, ok := tg.Signed.Delegations.Keys[k1.ID()]; ok {
		t.Error("alice's key is still in the delegations")
	}
	var le *ErrLastReleasesKey
	if err := RemoveSigner(tg, "bob", false); !errors.As(err, &le) {
		t.Fatalf("removing the last releases key without force: %v", err)
	}
	tg = current(t, r).Targets
	AddSigner(tg, "bob", []data.PublicKey{k2}, 1)
	if err := RemoveSigner(tg, "bob", true); err != nil || len(tg.Signed.Delegations.Roles) != 0 || len(tg.Signed.Delegations.Keys) != 0 {
		t.Fatalf("forced removal: %v, %+v", err, tg.Signed.Delegations)
	}
	if err := AddSigner(tg, "releases", []data.PublicKey{k1}, 1); err == nil {
		t.Error("a signer named releases was accepted")
	}
	if err := AddSigner(tg, "x", []data.PublicKey{k1}, 2); err == nil {
		t.Error("threshold above the key count was accepted")
	}
}

func TestParseSignerKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if k, err := ParseSignerKey(pemPub(t, &p384.PublicKey)); err != nil || k.Algorithm() != data.ECDSAKey {
		t.Errorf("ECDSA key: %v", err)
	}
	edPEM := []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n")
	if _, err := ParseSignerKey(edPEM); err == nil || !strings.Contains(err.Error(), "Ed25519 keys cannot be docker signers") {
		t.Errorf("Ed25519 key: %v", err)
	}
	if _, err := ParseSignerKey([]byte("not pem")); err == nil {
		t.Error("garbage accepted")
	}
	r, _ := newRepo(t, "example.com/cert")
	cert := r.RootCerts[0]
	k, err := ParseSignerKey(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	if err != nil || k.Algorithm() != data.ECDSAx509Key {
		t.Errorf("certificate: %v", err)
	}
}
