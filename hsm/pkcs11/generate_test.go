package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

func TestGenerateAttributes(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		alg    string
		curve  elliptic.Curve
		params string
	}{
		{"", elliptic.P256(), ecParamsP256}, // the default
		{hsm.P384, elliptic.P384(), ecParamsP384},
	} {
		label := "root-" + tt.curve.Params().Name
		k := f.generate(t, label, tt.alg)
		pub, ok := k.Public().(*ecdsa.PublicKey)
		if !ok || pub.Curve != tt.curve {
			t.Fatalf("%s: public key %T on %v", label, k.Public(), pub.Curve)
		}

		priv := f.findClass(t, p11.CKO_PRIVATE_KEY, label)
		for _, a := range []struct {
			name string
			typ  uint
			want bool
		}{
			{"CKA_TOKEN", p11.CKA_TOKEN, true},
			{"CKA_PRIVATE", p11.CKA_PRIVATE, true},
			{"CKA_SENSITIVE", p11.CKA_SENSITIVE, true},
			{"CKA_EXTRACTABLE", p11.CKA_EXTRACTABLE, false},
			{"CKA_SIGN", p11.CKA_SIGN, true},
			{"CKA_LOCAL", p11.CKA_LOCAL, true},
			{"CKA_ALWAYS_SENSITIVE", p11.CKA_ALWAYS_SENSITIVE, true},
			{"CKA_NEVER_EXTRACTABLE", p11.CKA_NEVER_EXTRACTABLE, true},
		} {
			got, err := boolean(f.attr(t, priv, a.typ))
			if err != nil || got != a.want {
				t.Errorf("%s: private key %s = %v (%v), want %v", label, a.name, got, err, a.want)
			}
		}
		// The token refuses to reveal a sensitive key's value.
		f.b.mu.Lock()
		_, err := f.b.attrs(priv, p11.CKA_VALUE)
		f.b.mu.Unlock()
		if !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("%s: reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", label, err)
		}

		pubH := f.findClass(t, p11.CKO_PUBLIC_KEY, label)
		for _, a := range []uint{p11.CKA_TOKEN, p11.CKA_VERIFY} {
			if got, err := boolean(f.attr(t, pubH, a)); err != nil || !got {
				t.Errorf("%s: public key attribute 0x%x = %v (%v), want true", label, a, got, err)
			}
		}
		id := f.attr(t, priv, p11.CKA_ID)
		if len(id) != idLen || !bytes.Equal(id, f.attr(t, pubH, p11.CKA_ID)) {
			t.Errorf("%s: ids %x (private) and %x (public), want the same %d bytes", label, id, f.attr(t, pubH, p11.CKA_ID), idLen)
		}
		if got := f.attr(t, pubH, p11.CKA_EC_PARAMS); string(got) != tt.params {
			t.Errorf("%s: CKA_EC_PARAMS %x", label, got)
		}

		wantURI := fmt.Sprintf("pkcs11:token=keyrite-test;serial=%s;object=%s;id=", f.hsm.Serial, label)
		for _, c := range id {
			wantURI += fmt.Sprintf("%%%02X", c)
		}
		if k.URI() != wantURI {
			t.Errorf("URI %s, want %s", k.URI(), wantURI)
		}
		if att, err := k.Attestation(); att != nil || err != nil {
			t.Errorf("Attestation() = %v, %v", att, err)
		}
	}
	if n := f.pins.count(); n != 1 {
		t.Errorf("PIN asked %d times for two keys, want 1", n)
	}
	req := f.pins.reqs[0]
	if want := fmt.Sprintf("pkcs11 token %q (serial %s)", "keyrite-test", f.hsm.Serial); req.Device != want || req.Kind != "PIN" || req.Confirm {
		t.Errorf("PIN request %+v, want device %s", req, want)
	}
}

func TestSign(t *testing.T) {
	f := newFixture(t)
	for _, alg := range []string{hsm.P256, hsm.P384} {
		k := f.generate(t, "sign-"+alg, alg)
		pub := k.Public().(*ecdsa.PublicKey)
		for _, h := range []struct {
			hash   crypto.Hash
			digest []byte
		}{{crypto.SHA256, digest256("payload")}, {crypto.SHA384, digest384("payload")}} {
			sig, err := k.Sign(nil, h.digest, h.hash)
			if err != nil {
				t.Fatalf("%s %v: %v", alg, h.hash, err)
			}
			if !ecdsa.VerifyASN1(pub, h.digest, sig) {
				t.Errorf("%s %v: signature does not verify", alg, h.hash)
			}
			if ecdsa.VerifyASN1(pub, digest256("other"), sig) && h.hash == crypto.SHA256 {
				t.Errorf("%s: signature verifies for another digest", alg)
			}
		}
	}
	k := f.generate(t, "errors", "")
	for name, call := range map[string]func() ([]byte, error){
		"short digest": func() ([]byte, error) { return k.Sign(nil, digest256("x")[:31], crypto.SHA256) },
		"sha384 size":  func() ([]byte, error) { return k.Sign(nil, digest256("x"), crypto.SHA384) },
		"sha1":         func() ([]byte, error) { return k.Sign(nil, make([]byte, 20), crypto.SHA1) },
		"no opts":      func() ([]byte, error) { return k.Sign(nil, digest256("x"), nil) },
	} {
		if sig, err := call(); err == nil {
			t.Errorf("%s: signed (%x)", name, sig)
		}
	}
}

func TestGenerateRefusesExistingLabel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Any object counts, not only keys: here a data object, on the token
	// before the backend's first key (when its label index is listed).
	f.b.mu.Lock()
	if err := f.b.loginLocked(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := f.b.ctx().CreateObject(f.b.session, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_DATA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_LABEL, "taken"),
		p11.NewAttribute(p11.CKA_VALUE, []byte("x")),
	})
	f.b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	f.generate(t, "root", "")
	for _, alg := range []string{hsm.P256, hsm.P384} {
		_, err := f.b.Generate(ctx, hsm.KeySpec{Label: "root", Algorithm: alg})
		if !errors.Is(err, hsm.ErrExists) {
			t.Errorf("second %s key labelled root: %v, want ErrExists", alg, err)
		}
	}
	if _, err := f.b.Generate(ctx, hsm.KeySpec{Label: "taken"}); !errors.Is(err, hsm.ErrExists) {
		t.Errorf("label of a data object: %v, want ErrExists", err)
	}
	if _, err := f.b.Import(ctx, mustKey(t, elliptic.P256()), hsm.KeySpec{Label: "root"}); !errors.Is(err, hsm.ErrExists) {
		t.Errorf("import over root: %v, want ErrExists", err)
	}
	if n := len(f.objects(t, "root")); n != 2 {
		t.Errorf("%d objects labelled root, want the first pair only", n)
	}
	// A label this backend created in the batch is refused too, and one it
	// destroyed is free again.
	k := f.generate(t, "batch", "")
	if _, err := f.b.Generate(ctx, hsm.KeySpec{Label: "batch"}); !errors.Is(err, hsm.ErrExists) {
		t.Errorf("second key labelled batch in one batch: %v, want ErrExists", err)
	}
	if err := f.b.Delete(ctx, k.URI()); err != nil {
		t.Fatal(err)
	}
	f.generate(t, "batch", "")
	if _, err := f.b.Generate(ctx, hsm.KeySpec{Label: ""}); err == nil {
		t.Error("generated a key without a label")
	}
	if _, err := f.b.Generate(ctx, hsm.KeySpec{Label: "x", Algorithm: "RSA-2048"}); err == nil || !strings.Contains(err.Error(), "unsupported algorithm") {
		t.Errorf("RSA-2048: %v", err)
	}
}
