package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

func mustKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestImport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		soft := mustKey(t, c)
		label := "imported-" + c.Params().Name
		k, err := f.b.Import(ctx, soft, hsm.KeySpec{Label: label})
		if err != nil {
			t.Fatalf("import %s: %v", c.Params().Name, err)
		}
		if !soft.PublicKey.Equal(k.Public()) {
			t.Errorf("%s: token public key differs from the imported key", label)
		}
		d := digest256("imported")
		sig, err := k.Sign(nil, d, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&soft.PublicKey, d, sig) {
			t.Errorf("%s: token signature does not verify with the software public key", label)
		}
		priv := f.findClass(t, p11.CKO_PRIVATE_KEY, label)
		for _, a := range []struct {
			typ  uint
			want bool
		}{{p11.CKA_SENSITIVE, true}, {p11.CKA_EXTRACTABLE, false}, {p11.CKA_TOKEN, true}, {p11.CKA_PRIVATE, true}, {p11.CKA_LOCAL, false}} {
			if got, err := boolean(f.attr(t, priv, a.typ)); err != nil || got != a.want {
				t.Errorf("%s: attribute 0x%x = %v (%v), want %v", label, a.typ, got, err, a.want)
			}
		}
	}

	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := f.b.Import(ctx, edKey, hsm.KeySpec{Label: "ed"}); err == nil {
		t.Error("imported an Ed25519 key")
	}
	if _, err := f.b.Import(ctx, mustKey(t, elliptic.P256()), hsm.KeySpec{Label: "mismatch", Algorithm: hsm.P384}); err == nil {
		t.Error("imported a P-256 key as P-384")
	}
	if n := len(f.objects(t, "ed")) + len(f.objects(t, "mismatch")); n != 0 {
		t.Errorf("refused imports left %d objects", n)
	}
}

func TestListOrigin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gen := f.generate(t, "gen", hsm.P384)
	soft := mustKey(t, elliptic.P256())
	imp, err := f.b.Import(ctx, soft, hsm.KeySpec{Label: "imp"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("List returned %d keys, want 2: %+v", len(keys), keys)
	}
	want := []struct {
		label, alg, origin string
		key                hsm.Key
	}{
		{"gen", hsm.P384, hsm.OriginGenerated, gen},
		{"imp", hsm.P256, hsm.OriginImported, imp},
	}
	for i, w := range want {
		got := keys[i]
		if got.Label != w.label || got.Algorithm != w.alg || got.Origin != w.origin {
			t.Errorf("key %d: %s %s %s, want %s %s %s", i, got.Label, got.Algorithm, got.Origin, w.label, w.alg, w.origin)
		}
		if len(got.ID) != 2*idLen {
			t.Errorf("%s: id %q is not %d hex digits", got.Label, got.ID, 2*idLen)
		}
		if got.URI != w.key.URI() {
			t.Errorf("%s: URI %s, want %s", got.Label, got.URI, w.key.URI())
		}
		if pub, ok := got.Public.(*ecdsa.PublicKey); !ok || !pub.Equal(w.key.Public()) {
			t.Errorf("%s: public key %v", got.Label, got.Public)
		}
		k, err := f.b.Open(ctx, got.URI)
		if err != nil || !k.Public().(*ecdsa.PublicKey).Equal(w.key.Public()) {
			t.Errorf("%s: URI from List does not open the key: %v", got.Label, err)
		}
	}
}
