package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
)

// swapFixture is a targets.json delegating to targets/releases (keys c and
// k2, signed by k2 only), targets/ci (key c, signed by c) and
// targets/other (key k2), each role holding tags.
type swapFixture struct {
	ks        *KeyService
	c, k2, nk data.PublicKey
	d         *Delegated
}

func newSwapFixture(t *testing.T, releasesThreshold int) *swapFixture {
	t.Helper()
	f := &swapFixture{ks: NewKeyService()}
	for _, p := range []*data.PublicKey{&f.c, &f.k2, &f.nk} {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if *p, err = f.ks.Add(priv, ""); err != nil {
			t.Fatal(err)
		}
	}
	targets := data.NewTargets()
	dl := &targets.Signed.Delegations
	dl.Keys = data.Keys{f.c.ID(): f.c, f.k2.ID(): f.k2}
	for _, r := range []struct {
		name      string
		keys      []data.PublicKey
		threshold int
	}{{"targets/releases", []data.PublicKey{f.c, f.k2}, releasesThreshold}, {"targets/ci", []data.PublicKey{f.c}, 1}, {"targets/other", []data.PublicKey{f.k2}, 1}} {
		var ids []string
		for _, k := range r.keys {
			ids = append(ids, k.ID())
		}
		role, err := data.NewRole(data.RoleName(r.name), r.threshold, ids, []string{""})
		if err != nil {
			t.Fatal(err)
		}
		dl.Roles = append(dl.Roles, role)
	}
	f.d = &Delegated{GUN: "example.com/app", Targets: targets, Roles: map[data.RoleName]*data.SignedTargets{}, Raw: map[data.RoleName][]byte{}}
	for _, r := range []struct {
		name   string
		tags   []string
		signer data.PublicKey
	}{{"targets/releases", []string{"v1"}, f.k2}, {"targets/ci", []string{"v1", "evil"}, f.c}, {"targets/other", []string{"b"}, f.k2}} {
		role := data.RoleName(r.name)
		rt := data.NewTargets()
		rt.Signed.Version = 3
		for _, tag := range r.tags {
			m, err := data.NewFileMeta(strings.NewReader("image "+tag), data.NotaryDefaultHashes...)
			if err != nil {
				t.Fatal(err)
			}
			rt.Signed.Targets[tag] = m
		}
		raw, err := SignedTargetsBytes(f.ks, rt, []data.PublicKey{r.signer})
		if err != nil {
			t.Fatal(err)
		}
		if f.d.Roles[role], err = ParseTargets(raw, role); err != nil {
			t.Fatal(err)
		}
		f.d.Raw[role] = raw
	}
	return f
}

func (f *swapFixture) canonical(keys ...data.PublicKey) map[string]bool {
	out := map[string]bool{}
	for _, k := range keys {
		c, _ := CanonicalID(k)
		out[c] = true
	}
	return out
}

func TestSwapKeys(t *testing.T) {
	f := newSwapFixture(t, 1)
	next, err := cloneTargets(f.d.Targets)
	if err != nil {
		t.Fatal(err)
	}
	res, err := SwapKeys(f.d, next, KeySwap{Compromised: f.canonical(f.c), New: f.nk, Keep: func(tag string) bool { return tag == "v1" }})
	if err != nil {
		t.Fatal(err)
	}
	// Only targets/ci carries c's signature: releases, signed by k2, keeps
	// its content and signatures; both list the new key instead of c.
	if !slices.Equal(res.SignedRoles, []string{"targets/ci"}) || !slices.Equal(res.Relisted, []string{"targets/ci", "targets/releases"}) || !res.TargetsChanged {
		t.Fatalf("signed %v, relisted %v, targets changed %v", res.SignedRoles, res.Relisted, res.TargetsChanged)
	}
	if len(res.Writable) != 1 || res.Writable[0].Role != "targets/releases" {
		t.Fatalf("tags of roles the compromised key could write: %+v", res.Writable)
	}
	if len(res.Dropped) != 1 || res.Dropped[0].Name != "evil" || len(res.Kept) != 1 || res.Kept[0].Name != "v1" {
		t.Fatalf("dropped %+v, kept %+v", res.Dropped, res.Kept)
	}
	if len(res.Changes) != 1 || res.Changes[0].Role != "targets/ci" || len(res.Changes[0].Signers) != 1 || res.Changes[0].Signers[0].ID() != f.nk.ID() {
		t.Fatalf("changes %+v", res.Changes)
	}
	ci := res.Changes[0].Targets
	if _, ok := ci.Signed.Targets["evil"]; ok || ci.Signed.Version != f.d.Roles["targets/ci"].Signed.Version+1 || ci.Signatures != nil {
		t.Fatalf("targets/ci next: %+v", ci.Signed)
	}
	if _, ok := next.Signed.Delegations.Keys[f.c.ID()]; ok {
		t.Fatal("the compromised key is still in targets.json's delegation keys")
	}
	if _, ok := f.d.Roles["targets/ci"].Signed.Targets["evil"]; !ok {
		t.Fatal("SwapKeys edited the current metadata")
	}
}

// A role that would keep fewer keys than its threshold refuses the swap.
func TestSwapKeysThreshold(t *testing.T) {
	f := newSwapFixture(t, 2)
	next, _ := cloneTargets(f.d.Targets)
	_, err := SwapKeys(f.d, next, KeySwap{Compromised: f.canonical(f.c, f.k2), New: f.nk})
	var te *ThresholdError
	if !errors.As(err, &te) || te.Role != "targets/releases" || te.Keys != 1 || te.Threshold != 2 {
		t.Fatalf("err %v", err)
	}
}

// RemoveTags takes a tag out of every role that holds it and names the
// tags no role holds.
func TestRemoveTags(t *testing.T) {
	f := newSwapFixture(t, 1)
	next, _ := cloneTargets(f.d.Targets)
	roles, _ := f.d.Clone()
	changed, removed, absent := RemoveTags(f.d, next, roles, []string{"v1", "nope"})
	if !changed["targets/ci"] || !changed["targets/releases"] || changed["targets/other"] || changed[data.CanonicalTargetsRole] ||
		len(removed) != 2 || !slices.Equal(absent, []string{"nope"}) {
		t.Fatalf("changed %v, removed %+v, absent %v", changed, removed, absent)
	}
}

// SignedByKeys verifies over the signed part's canonical encoding: the
// part itself when it is canonical, its re-encoding when it is not (as
// notary's verifier does), and a changed part is signed by nobody.
func TestSignedByKeysMessage(t *testing.T) {
	f := newSwapFixture(t, 1)
	listing := Listings(f.d.Targets, f.d.Roles)["targets/ci"]
	raw := string(f.d.Raw["targets/ci"])
	for _, c := range []struct {
		name, raw string
		signed    bool
	}{
		{"as written", raw, true},
		{"spaced", strings.Replace(raw, `{"signed":{`, `{"signed": { `, 1), true},
		{"content changed", strings.Replace(raw, `"version":3`, `"version":4`, 1), false},
	} {
		if c.raw == raw && c.name != "as written" {
			t.Fatalf("%s: the edit did not apply", c.name)
		}
		by, err := SignedByKeys([]byte(c.raw), listing, f.canonical(f.c))
		if err != nil || (len(by) == 1) != c.signed {
			t.Errorf("%s: signed by %v (err %v), want signed %v", c.name, by, err, c.signed)
		}
	}
}
