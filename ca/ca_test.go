package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

// The ca package's rules are tried with software keys here; the same code
// signs through SoftHSM in cmd/keyrite's tests, where notation-go judges.

func newKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCSR(t *testing.T, key crypto.Signer, subject string) *x509.CertificateRequest {
	t.Helper()
	n, err := ParseSubject(subject)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCSR(key, n)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(b)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestRootLeafAndRules(t *testing.T) {
	now := time.Now()
	rootKey := newKey(t, elliptic.P384())
	subj, _ := ParseSubject("CN=Test Root,O=Example,ST=WA,C=us")
	root, err := NewRoot(rootKey, RootOptions{Subject: subj, Now: now, Validity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if root.Subject.Country[0] != "US" || root.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Fatalf("root %s, %v", root.Subject, root.SignatureAlgorithm)
	}
	leafKey := newKey(t, elliptic.P256())
	leaf, err := Issue(rootKey, []*x509.Certificate{root}, newCSR(t, leafKey, "CN=Signer,O=Example,ST=WA,C=US"),
		IssueOptions{Now: now, Validity: 24 * time.Hour, CRLURLs: []string{"http://crl.example/r.crl"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckChain([]*x509.Certificate{leaf, root}, now); err != nil {
		t.Fatal(err)
	}
	if id, err := Identity(leaf); err != nil || id != "x509.subject: CN=Signer,O=Example,ST=WA,C=US" {
		t.Fatalf("identity %q, %v", id, err)
	}

	// Certificates that break a rule, signed by the root in software:
	// each must be refused by the check that names the rule.
	bad := func(mod func(c *x509.Certificate)) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: leaf.SerialNumber, Subject: leaf.Subject, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
		mod(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, leafKey.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	kuNonCritical, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x80}, BitLength: 1})
	for name, tc := range map[string]struct {
		mod  func(c *x509.Certificate)
		want string
	}{
		"no codeSigning": {func(c *x509.Certificate) { c.ExtKeyUsage = nil }, "codeSigning"},
		"serverAuth too": {func(c *x509.Certificate) { c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) }, "must not carry"},
		"certSign":       {func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign }, "digitalSignature only"},
		"a CA":           {func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage = x509.KeyUsageCertSign }, "must not be a CA"},
		"key usage critical": {func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: oidKeyUsage, Value: kuNonCritical}}
		}, "must be critical"},
		"outlives the root": {func(c *x509.Certificate) { c.NotAfter = root.NotAfter.Add(time.Hour) }, "outlives its issuer"},
	} {
		c := bad(tc.mod)
		err := CheckChain([]*x509.Certificate{c, root}, now)
		if c.IsCA {
			err = CheckLeaf(c) // a CA first in a chain is an intermediate's own chain
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Not signed by the root: another key's signature.
	other := newKey(t, elliptic.P256())
	fake := *root // the root's name, another key
	fake.PublicKey = other.Public()
	forged, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: leaf.SerialNumber, Subject: leaf.Subject,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}, &fake, leafKey.Public(), other)
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := x509.ParseCertificate(forged)
	if err := CheckChain([]*x509.Certificate{fc, root}, now); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a certificate the root did not sign: %v", err)
	}
	// The wrong CA key, an expired chain.
	if _, err := Issue(other, []*x509.Certificate{root}, newCSR(t, leafKey, "CN=X"), IssueOptions{Now: now, Validity: time.Hour}); !errors.As(err, new(*KeyMismatchError)) {
		t.Errorf("issue with another key: %v", err)
	}
	if err := CheckChain([]*x509.Certificate{leaf, root}, now.Add(48*time.Hour)); err == nil {
		t.Error("an expired leaf passed")
	}
}

func TestCSRRefusals(t *testing.T) {
	key := newKey(t, elliptic.P256())
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Signer"}}, key)
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if _, err := ParseCSR(good); err != nil {
		t.Fatal(err)
	}
	// The proof of possession: a signature byte changed.
	tampered := append([]byte(nil), der...)
	tampered[len(tampered)-3] ^= 1
	weak, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "W"}}, newKey(t, elliptic.P224()))
	for name, b := range map[string][]byte{
		"bad signature": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}),
		"trailing":      append(append([]byte(nil), good...), "junk"...),
		"leading":       append([]byte("junk\n"), good...),
		"headers":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: der}),
		"certificate":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"P-224":         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: weak}),
		"too large":     append(good, make([]byte, MaxCSRSize)...),
	} {
		if _, err := ParseCSR(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSubjectSerialPolicy(t *testing.T) {
	for _, bad := range []string{"", "O=Example", "CN=A,CN=B", "CN=A+O=B", "CN=A,C=USA", "CN=A,X=1", "CN="} {
		if _, err := ParseSubject(bad); err == nil {
			t.Errorf("subject %q accepted", bad)
		}
	}
	n, err := ParseSubject(`CN=Example\, Inc. Root, O=Example, S=WA`)
	if err != nil || n.CommonName != "Example, Inc. Root" || n.Province[0] != "WA" {
		t.Fatalf("%+v %v", n, err)
	}
	for _, s := range []string{"0A:0B", "0x0a0b", "a0b"} {
		if v, err := ParseSerial(s); err != nil || SerialHex(v) != "0A0B" {
			t.Errorf("serial %q: %v %v", s, v, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "zz", strings.Repeat("ff", 21)} {
		if _, err := ParseSerial(s); err == nil {
			t.Errorf("serial %q accepted", s)
		}
	}
	p, err := NewPolicy("store", []string{"registry.example.com/app", "localhost:5000/team/api"}, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Marshal()
	if _, err := ParsePolicy(b); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"scheme":       func() error { _, err := NewPolicy("s", []string{"https://r.example/app"}, []string{"*"}); return err },
		"tag":          func() error { _, err := NewPolicy("s", []string{"r.example/app:v1"}, []string{"*"}); return err },
		"upper repo":   func() error { _, err := NewPolicy("s", []string{"r.example/App"}, []string{"*"}); return err },
		"* and others": func() error { _, err := NewPolicy("s", []string{"*", "r.example/app"}, []string{"*"}); return err },
		"store name":   func() error { _, err := NewPolicy("a/b", []string{"r.example/app"}, []string{"*"}); return err },
		"identity":     func() error { _, err := NewPolicy("s", []string{"r.example/app"}, []string{"CN=x"}); return err },
		"unknown field": func() error {
			_, err := ParsePolicy([]byte(strings.Replace(string(b), `"version"`, `"extra": 1, "version"`, 1)))
			return err
		},
		"level": func() error {
			_, err := ParsePolicy([]byte(strings.Replace(string(b), `"strict"`, `"permissive"`, 1)))
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
