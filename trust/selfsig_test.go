package trust

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// TestVerifyRefusesAForgedRootCertificate: a root certificate for the right
// key and GUN, but whose signature another key made, in a root.json the
// right key signed. Only the certificate's self-signature check can tell;
// the same root with an honest certificate verifies.
func TestVerifyRefusesAForgedRootCertificate(t *testing.T) {
	r, spec := newRepo(t, "registry.example.com/org/forged")
	rootKey := spec.RootKeys[0]
	build := func(certSigner crypto.Signer) []byte {
		t.Helper()
		s := mustSigned(t, r.Root)
		sr, err := data.RootFromSigned(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := utils.NewCertificate(spec.GUN, time.Now().Add(-time.Minute), time.Now().Add(DefaultRootExpiry))
		if err != nil {
			t.Fatal(err)
		}
		// x509 checks the signature against certSigner's key, which made
		// it: the certificate names rootKey but rootKey did not sign it.
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rootKey.Public(), certSigner)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		k := utils.CertToKey(cert)
		SetRootRole(sr, data.CanonicalRootRole, []data.PublicKey{k}, 1)
		ks := NewKeyService()
		if _, err := ks.Add(rootKey, data.CanonicalRootRole); err != nil {
			t.Fatal(err)
		}
		b, err := SignedRootBytes(ks, sr, []data.PublicKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := VerifyInput{GUN: spec.GUN, Targets: r.Targets, Timestamp: spec.Timestamp, Snapshot: spec.Snapshot, Now: time.Now()}
	in.Root = build(rootKey)
	if _, err := VerifyRepository(in); err != nil {
		t.Fatalf("the honest certificate: %v", err)
	}
	in.Root = build(newKey(t))
	_, err := VerifyRepository(in)
	if err == nil || !strings.Contains(err.Error(), "self-signature does not verify") {
		t.Fatalf("forged certificate: err = %v, want the self-signature refused", err)
	}
	in.Decoded = NewDecoded()
	if _, err := VerifyRepository(in); err == nil || !strings.Contains(err.Error(), "self-signature does not verify") {
		t.Fatalf("forged certificate, shared decoder: err = %v", err)
	}
}
