package trust

import (
	"crypto"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
)

// rootChain builds successive roots of one repository.
type rootChain struct {
	t     *testing.T
	gun   string
	ks    *KeyService
	roots [][]byte
}

func newChain(t *testing.T, gun string) *rootChain {
	r, spec := newRepo(t, gun)
	c := &rootChain{t: t, gun: gun, ks: NewKeyService(), roots: [][]byte{r.Root}}
	c.ks.Add(spec.RootKeys[0], data.CanonicalRootRole)
	return c
}

func (c *rootChain) at(v int) []byte {
	if v < 1 || v > len(c.roots) {
		return nil
	}
	return c.roots[v-1]
}

func (c *rootChain) last() *data.SignedRoot {
	var sr data.SignedRoot
	if err := json.Unmarshal(c.roots[len(c.roots)-1], &sr); err != nil {
		c.t.Fatal(err)
	}
	return &sr
}

// next makes the next version, signed by the previous root's keys (unless
// withoutOld) and, with rotateTo, naming a new root key that signs too.
func (c *rootChain) next(rotateTo crypto.Signer, withoutOld bool) []byte {
	c.t.Helper()
	prev := c.last()
	next := *prev
	next.Signed.Version++
	next.Signatures = nil
	var signers []data.PublicKey
	if !withoutOld {
		signers, _, _ = RoleKeys(prev, data.CanonicalRootRole)
	}
	if rotateTo != nil {
		c.ks.Add(rotateTo, data.CanonicalRootRole)
		_, cert, err := c.ks.Certify(rotateTo, c.gun, time.Now().Add(-time.Minute), time.Now().Add(DefaultRootExpiry), rand.Reader)
		if err != nil {
			c.t.Fatal(err)
		}
		keys := map[string]data.PublicKey{}
		for id, k := range prev.Signed.Keys {
			keys[id] = k
		}
		next.Signed.Keys = keys
		roles := map[data.RoleName]*data.RootRole{}
		for n, r := range prev.Signed.Roles {
			cp := *r
			roles[n] = &cp
		}
		next.Signed.Roles = roles
		SetRootRole(&next, data.CanonicalRootRole, []data.PublicKey{cert}, 1)
		signers = append(signers, cert)
	}
	b, err := SignedRootBytes(c.ks, &next, signers)
	if err != nil {
		c.t.Fatal(err)
	}
	c.roots = append(c.roots, b)
	return b
}

func TestWalkRootsFollowsTheChainAndNamesWhereItBreaks(t *testing.T) {
	const gun = "example.com/chain"
	c := newChain(t, gun)
	c.next(nil, false)       // v2: refresh
	c.next(newKey(t), false) // v3: rotation, signed by old and new
	c.next(nil, false)       // v4: refresh by the new key
	if root, err := WalkRoots(gun, c.at(1), c.at, c.at(4)); err != nil || root.Signed.Version != 4 {
		t.Fatalf("walk v1 -> v4: %v", err)
	}
	if _, err := WalkRoots(gun, c.at(4), c.at, c.at(4)); err != nil {
		t.Fatalf("the pinned version itself: %v", err)
	}

	// A fork: another v2 of the same GUN, validly self-signed by a key the
	// chain never named.
	fork := newChain(t, gun)
	fork.next(nil, false)
	// A v5 signed only by a new key, without the v4 key.
	bad := &rootChain{t: t, gun: gun, ks: c.ks, roots: append([][]byte(nil), c.roots...)}
	stranger := newKey(t)
	bad.ks.Add(stranger, data.CanonicalRootRole)
	bad.next(stranger, true)

	without := func(skip int) func(int) []byte {
		return func(v int) []byte {
			if v == skip {
				return nil
			}
			return c.at(v)
		}
	}
	cases := []struct {
		name     string
		pinned   []byte
		versions func(int) []byte
		current  []byte
		version  int
		want     string
	}{
		{"rollback", c.at(3), c.at, c.at(2), 2, "older than version 3 trusted here: a rollback"},
		{"gap", c.at(1), without(3), c.at(4), 3, "does not carry 3.root.json"},
		{"fork at the pinned version", c.at(2), c.at, fork.at(2), 2, "is not the version 2 trusted here"},
		{"fork reached by walking", c.at(1), fork.at, fork.at(2), 2, "notary rejects it"},
		{"a version file holding another version", c.at(1), func(int) []byte { return c.at(3) }, c.at(4), 2, "holds version 3"},
		{"new root without the previous keys", c.at(4), bad.at, bad.at(5), 5, "notary rejects it"},
	}
	for _, tc := range cases {
		_, err := WalkRoots(gun, tc.pinned, tc.versions, tc.current)
		var ce *ChainError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || ce.Version != tc.version {
			t.Errorf("%s: %v, want a ChainError at version %d with %q", tc.name, err, tc.version, tc.want)
		}
	}
}

// One key under two certificates cannot make a 2-of-2 root.
func TestDistinctRootKeys(t *testing.T) {
	const gun = "example.com/twice"
	k := newKey(t)
	ks := NewKeyService()
	ks.Add(k, data.CanonicalRootRole)
	var certs []data.PublicKey
	for range 2 {
		_, cert, err := ks.Certify(k, gun, time.Now().Add(-time.Minute), time.Now().Add(DefaultRootExpiry), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
	if certs[0].ID() == certs[1].ID() {
		t.Fatal("two certificates of one key have one ID: the test shows nothing")
	}
	var dup *DuplicateKeyError
	if err := DistinctKeys(certs); !errors.As(err, &dup) {
		t.Fatalf("DistinctKeys: %v", err)
	}
	if err := DistinctKeys(certs[:1]); err != nil {
		t.Fatalf("one certificate: %v", err)
	}
}

// A current snapshot from the request bundle is used only when the trusted
// root's snapshot keys signed it.
func TestVerifyRoleSignedRefusesAStrangersSnapshot(t *testing.T) {
	r, _ := newRepo(t, "example.com/snap")
	var root data.SignedRoot
	if err := json.Unmarshal(r.Root, &root); err != nil {
		t.Fatal(err)
	}
	ks := NewKeyService()
	owner, stranger := newKey(t), newKey(t)
	ownerPub, _ := ks.Add(owner, data.CanonicalSnapshotRole)
	strangerPub, _ := ks.Add(stranger, data.CanonicalSnapshotRole)
	SetRootRole(&root, data.CanonicalSnapshotRole, []data.PublicKey{ownerPub}, 1)
	sn, err := data.NewSnapshot(mustSigned(t, r.Root), mustSigned(t, r.Targets))
	if err != nil {
		t.Fatal(err)
	}
	good, err := SignedSnapshotBytes(ks, sn, []data.PublicKey{ownerPub})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := SignedSnapshotBytes(ks, sn, []data.PublicKey{strangerPub})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRoleSigned("example.com/snap", good, &root, data.CanonicalSnapshotRole); err != nil {
		t.Fatalf("the owner's snapshot: %v", err)
	}
	if err := VerifyRoleSigned("example.com/snap", bad, &root, data.CanonicalSnapshotRole); err == nil || !strings.Contains(err.Error(), "not signed by the trusted root's snapshot keys") {
		t.Fatalf("a stranger's snapshot: %v", err)
	}
}

func mustSigned(t *testing.T, b []byte) *data.Signed {
	t.Helper()
	var s data.Signed
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}
