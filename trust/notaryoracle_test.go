package trust

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/docker/go/canonical/json"

	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"
)

// TestVerifyAgreesWithNotary: VerifyRepository no longer calls notary's
// ValidateRoot for a new root, nor VerifySignatures for targets; notary is
// the oracle here instead. For each root and targets below (honest, then
// doctored and re-signed so that only one rule is broken), whatever
// notary's ValidateRoot (as a client meeting the repository) or
// VerifySignatures refuses, VerifyRepository refuses too (an error or an
// unmet threshold); and both accept the honest ones.
func TestVerifyAgreesWithNotary(t *testing.T) {
	r, spec := newRepo(t, "registry.example.com/org/oracle")
	rootKey := spec.RootKeys[0]
	now := time.Now()
	withCert := func(edit func(*x509.Certificate), certSigner crypto.Signer, threshold int, signers ...crypto.Signer) []byte {
		return reissuedRoot(t, r, spec, now, edit, certSigner, threshold, signers...)
	}
	same := func(*x509.Certificate) {}
	stranger := newKey(t)
	other, _ := newRepo(t, spec.GUN)
	sigAt := func(b []byte) []byte {
		c := append([]byte(nil), b...)
		i := len(`{"signed":`) + len(*mustSigned(t, b).Signed) + len(`,"signatures":[{"keyid":"`) + 64 + len(`","method":"ecdsa","sig":"`) + 4
		c[i] ^= 1
		if c[i] == '+' || c[i] == '/' || c[i] == '=' {
			c[i] = 'A'
		}
		return c
	}
	for _, c := range []struct {
		name          string
		root, targets []byte
		wantAccepted  bool
	}{
		{"honest", r.Root, r.Targets, true},
		{"honest, re-issued certificate", withCert(same, rootKey, 1, rootKey), r.Targets, true},
		{"root signature altered", sigAt(r.Root), r.Targets, false},
		{"certificate for another GUN", withCert(func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "registry.example.com/org/other"} }, rootKey, 1, rootKey), r.Targets, false},
		{"certificate expired", withCert(func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0) }, rootKey, 1, rootKey), r.Targets, false},
		{"certificate not valid for two days", withCert(func(c *x509.Certificate) { c.NotBefore = now.Add(48 * time.Hour) }, rootKey, 1, rootKey), r.Targets, false},
		{"certificate of a CA", withCert(func(c *x509.Certificate) {
			c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, c.KeyUsage|x509.KeyUsageCertSign
		}, rootKey, 1, rootKey), r.Targets, false},
		{"certificate signed by another key", withCert(func(c *x509.Certificate) { c.SerialNumber = big.NewInt(7) }, stranger, 1, rootKey), r.Targets, false},
		{"root threshold 2, one signature", withCert(same, rootKey, 2, rootKey), r.Targets, false},
		{"root unsigned", withCert(same, rootKey, 1), r.Targets, false},
		{"root signed by a stranger only", withCert(same, rootKey, 1, stranger), r.Targets, false},
		{"targets signature altered", r.Root, sigAt(r.Targets), false},
		{"targets of another repository's key", r.Root, other.Targets, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyRepository(VerifyInput{GUN: spec.GUN, Root: c.root, Targets: c.targets,
				Timestamp: spec.Timestamp, Snapshot: spec.Snapshot, Now: now, Decoded: NewDecoded()})
			ours := err == nil && rep.Complete()
			notary := notaryAccepts(t, spec.GUN, c.root, c.targets)
			if c.wantAccepted && (!ours || !notary) {
				t.Errorf("honest repository: keyrite accepts %v (%v), notary %v", ours, err, notary)
			}
			if !notary && ours {
				t.Errorf("notary refuses it, keyrite accepts it")
			}
			if !c.wantAccepted && ours {
				t.Errorf("keyrite accepts a doctored repository")
			}
			t.Logf("keyrite: %v; notary accepts: %v", err, notary)
		})
	}
}

// notaryAccepts is notary's verdict on a new repository: ValidateRoot as a
// client meeting it (trust on first use), then VerifySignatures of targets
// with the keys that root names.
func notaryAccepts(t *testing.T, gun string, root, targets []byte) bool {
	var s data.Signed
	if err := json.Unmarshal(root, &s); err != nil {
		return false
	}
	sr, err := trustpinning.ValidateRoot(nil, &s, data.GUN(gun), trustpinning.TrustPinConfig{})
	if err != nil {
		return false
	}
	role, err := sr.BuildBaseRole(data.CanonicalTargetsRole)
	if err != nil {
		return false
	}
	var ts data.Signed
	if err := json.Unmarshal(targets, &ts); err != nil {
		return false
	}
	return signed.VerifySignatures(&ts, role) == nil
}

// reissuedRoot is r's root.json with one root certificate for the spec's
// root key, made from notary's template as edit leaves it and signed by
// certSigner, and root.json signed by signers with the given threshold.
func reissuedRoot(t *testing.T, r *NewRepo, spec NewRepoSpec, now time.Time, edit func(*x509.Certificate), certSigner crypto.Signer, threshold int, signers ...crypto.Signer) []byte {
	t.Helper()
	rootKey := spec.RootKeys[0]
	sr, err := data.RootFromSigned(mustSigned(t, r.Root))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := utils.NewCertificate(spec.GUN, now.Add(-time.Minute), now.Add(DefaultRootExpiry))
	if err != nil {
		t.Fatal(err)
	}
	edit(tmpl)
	// x509 checks the signature against certSigner's key, which made it,
	// whatever key the certificate names.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rootKey.Public(), certSigner)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	k := utils.CertToKey(cert)
	SetRootRole(sr, data.CanonicalRootRole, []data.PublicKey{k}, threshold)
	ks := NewKeyService()
	for _, s := range signers {
		if _, err := ks.Add(s, data.CanonicalRootRole); err != nil {
			t.Fatal(err)
		}
	}
	var allowed []data.PublicKey
	if len(signers) > 0 {
		allowed = []data.PublicKey{k}
	}
	b, err := SignedRootBytes(ks, sr, allowed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
