package pkcs11

import (
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

func idURI(id []byte) string {
	var s string
	for _, c := range id {
		s += fmt.Sprintf("%%%02x", c)
	}
	return s
}

func TestOpenByObjectAndID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := f.generate(t, "root", "")
	f.generate(t, "other", "")
	base := f.hsm.URI()

	// A fresh backend: opening needs no PIN, the first signature does.
	// The fixture's backend closes first: it holds the token's login, which
	// PKCS#11 shares between all sessions of the process.
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	pins := &pinCounter{pin: f.hsm.PIN}
	b := f.open(t, base, pins)
	defer b.Close()
	for _, uri := range []string{
		base + ";object=root",
		base + ";id=" + idURI(k.id),
		base + ";object=root;id=" + idURI(k.id),
		"pkcs11:object=root", // the token is implied
		"pkcs11:serial=" + f.hsm.Serial + ";object=root",
		k.URI(),
	} {
		got, err := b.Open(ctx, uri)
		if err != nil {
			t.Errorf("Open(%s): %v", uri, err)
			continue
		}
		if !got.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
			t.Errorf("Open(%s) opened another key", uri)
		}
		if got.URI() != k.URI() {
			t.Errorf("Open(%s).URI() = %s, want %s", uri, got.URI(), k.URI())
		}
	}
	if n := pins.count(); n != 0 {
		t.Errorf("opening keys asked for the PIN %d times", n)
	}
	opened, err := b.Open(ctx, base+";object=root")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d := digest256(fmt.Sprint("message ", i))
		sig, err := opened.Sign(nil, d, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d, sig) {
			t.Errorf("signature %d does not verify", i)
		}
	}
	if n := pins.count(); n != 1 {
		t.Errorf("three signatures asked for the PIN %d times, want 1", n)
	}
}

func TestOpenErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.generate(t, "root", "")
	base := f.hsm.URI()

	_, err := f.b.Open(ctx, base+";object=missing")
	if !errors.Is(err, hsm.ErrNotFound) || !strings.Contains(err.Error(), `"keyrite-test"`) {
		t.Errorf("missing key: %v, want ErrNotFound naming the token", err)
	}
	if _, err := f.b.Open(ctx, base+";id=%00%01"); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("missing id: %v, want ErrNotFound", err)
	}
	if _, err := f.b.Open(ctx, base); err == nil || !strings.Contains(err.Error(), "object= or id=") {
		t.Errorf("no key selector: %v", err)
	}
	if _, err := f.b.Open(ctx, "pkcs11:token=elsewhere;object=root"); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("URI of another token: %v", err)
	}
	if _, err := f.b.Open(ctx, base+";objet=root"); err == nil || !strings.Contains(err.Error(), "objet") {
		t.Errorf("typo in the URI: %v", err)
	}

	// Two public keys with one label (made by another tool): ask for id=.
	f.b.mu.Lock()
	for _, id := range []string{"\x01", "\x02"} {
		k := mustKey(t, elliptic.P256())
		point, _ := encodeECPoint(&k.PublicKey)
		_, err := f.b.ctx().CreateObject(f.b.session, append(publicPolicy("dup", []byte(id), []byte(ecParamsP256)),
			p11.NewAttribute(p11.CKA_EC_POINT, point)))
		if err != nil {
			f.b.mu.Unlock()
			t.Fatal(err)
		}
	}
	f.b.mu.Unlock()
	_, err = f.b.Open(ctx, base+";object=dup")
	if err == nil || !strings.Contains(err.Error(), "add id=") || !strings.Contains(err.Error(), "01") {
		t.Errorf("ambiguous label: %v, want a request for id=", err)
	}
	if _, err := f.b.Open(ctx, base+";object=dup;id=%02"); err != nil {
		t.Errorf("label and id: %v", err)
	}
}

// The login state of a token belongs to the process, not the session: a
// second backend on a token the first logged in needs no PIN, and closing
// the first must not log the second out.
func TestLoginSharedBetweenBackends(t *testing.T) {
	f := newFixture(t)
	k := f.generate(t, "root", "")
	pins := &pinCounter{pin: "not asked"}
	b := f.open(t, f.hsm.URI(), pins)
	defer b.Close()
	opened, err := b.Open(context.Background(), k.URI())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	d := digest256("shared")
	if _, err := opened.Sign(nil, d, crypto.SHA256); err != nil {
		t.Fatalf("sign after the other backend closed: %v", err)
	}
	if n := pins.count(); n != 0 {
		t.Errorf("PIN asked %d times on a logged-in token", n)
	}
	if _, err := k.Sign(nil, d, crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("key of a closed backend signed: %v", err)
	}
}

// Keys share their backend's session; the mutex must make concurrent
// signatures (and a List in between) safe.
func TestConcurrentSign(t *testing.T) {
	f := newFixture(t)
	keys := []*Key{f.generate(t, "a", ""), f.generate(t, "b", hsm.P384)}
	errs := make(chan error, 40)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 10; i++ {
				k := keys[(g+i)%2]
				d := digest256(fmt.Sprint(g, i))
				sig, err := k.Sign(nil, d, crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(k.pub, d, sig) {
					err = errors.New("bad signature")
				}
				if err == nil && i == 5 {
					_, err = f.b.List(context.Background())
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
