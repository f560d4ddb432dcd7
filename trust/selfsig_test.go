package trust

import (
	"crypto"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// TestVerifyRefusesAForgedRootCertificate: a root certificate for the right
// key and GUN, but whose signature another key made, in a root.json the
// right key signed. Only the certificate's self-signature check can tell;
// the same root with an honest certificate verifies.
func TestVerifyRefusesAForgedRootCertificate(t *testing.T) {
	r, spec := newRepo(t, "registry.example.com/org/forged")
	rootKey := spec.RootKeys[0]
	build := func(certSigner crypto.Signer) []byte {
		return reissuedRoot(t, r, spec, time.Now(), func(*x509.Certificate) {}, certSigner, 1, rootKey)
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
