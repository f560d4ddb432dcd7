package main

import (
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestNotationSoftHSM is the Notation PKI end to end with notation-go as
// the judge: a root CA whose key is on SoftHSM issues a code-signing leaf
// from a CSR; an artifact in a local OCI layout signed with the leaf
// verifies with the bundle's trust store and trust policy (level strict,
// revocation checked by CRL from 127.0.0.1); after ca crl --revoke it does
// not; a leaf from another CA does not; openssl verify accepts every chain
// and openssl crl reads every CRL.
func TestNotationSoftHSM(t *testing.T) {
	p, dev, hsmFlags := caTestToken(t, "root", "other")
	rootKey, otherKey := dev+";object=root", dev+";object=other"
	crls := startCRLServer(t)
	crlURL := crls.URL + "/root.crl"
	const scope = "registry.example.com/team/app"

	// The root CA, and its first (empty) CRL.
	mustKeyrite(t, append([]string{"ca", "init", "--key", rootKey, "--subject", "CN=Example Signing Root,O=Example,ST=WA,C=US",
		"--validity", "20y", "-o", p("root")}, hsmFlags...)...)
	mustKeyrite(t, append([]string{"ca", "crl", "--ca", rootKey, "--ca-cert", p("root"), "-o", p("crl1")}, hsmFlags...)...)
	crls.serve(t, p("crl1"))

	// A CI signer's request, issued as a code-signing leaf.
	signerSubject := pkix.Name{CommonName: "CI Signer", Organization: []string{"Example"}, Province: []string{"WA"}, Country: []string{"US"}}
	signerKey := writeCSR(t, p("signer.csr"), signerSubject)
	var issued ceremony.CAResult
	out := mustKeyrite(t, append([]string{"ca", "issue", "--ca", rootKey, "--ca-cert", p("root"), "--csr", p("signer.csr"),
		"--validity", "1y", "--crl-url", crlURL, "--registry", scope, "--trusted-identity", "leaf", "-o", p("leaf"), "--json"}, hsmFlags...)...)
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatal(err)
	}
	if issued.Record.Issued == nil || issued.Record.Issued.Kind != "leaf" || issued.Record.Identities[0] != "x509.subject: CN=CI Signer,O=Example,ST=WA,C=US" {
		t.Fatalf("issued = %+v", issued.Record)
	}
	opensslVerify(t, p("root/certs/ca.crt"), "", p("leaf/certs/issued.crt"))

	layout := p("layout")
	digest := ociArtifact(t, layout)
	notationSign(t, layout, digest, signerKey, p("leaf/certs/issued-chain.pem"))
	ref := scope + "@" + digest
	if err := notationVerify(t, p("leaf/notation"), layout, ref); err != nil {
		t.Fatalf("notation-go refuses a signature by a leaf keyrite issued: %v", err)
	}
	if crls.fetches.Load() == 0 {
		t.Fatal("the verifier never fetched the CRL: revocation was not checked")
	}
	// The policy covers the named registry only.
	if err := notationVerify(t, p("leaf/notation"), layout, "registry.example.com/other@"+digest); err == nil {
		t.Error("a repository the trust policy does not name verified")
	}

	// Revoked: the same signature no longer verifies.
	mustKeyrite(t, append([]string{"ca", "crl", "--ca", rootKey, "--ca-cert", p("root"), "--revoke", issued.Record.Issued.Serial,
		"--number", "99999999999", "-o", p("crl2")}, hsmFlags...)...)
	crls.serve(t, p("crl2"))
	err := notationVerify(t, p("leaf/notation"), layout, ref)
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked leaf's signature: %v, want refused as revoked", err)
	}
	for _, c := range []string{"crl1", "crl2"} {
		text := opensslOut(t, "crl", "-inform", "DER", "-in", p(c+"/crl/ca.crl"), "-noout", "-text")
		if !strings.Contains(text, "X509v3 CRL Number") || !strings.Contains(text, "Next Update") {
			t.Errorf("openssl crl -text of %s:\n%s", c, text)
		}
		if c == "crl2" && !strings.Contains(text, "Serial Number: "+issued.Record.Issued.Serial) {
			t.Errorf("openssl crl does not list the revoked serial %s:\n%s", issued.Record.Issued.Serial, text)
		}
		opensslOut(t, "crl", "-inform", "DER", "-in", p(c+"/crl/ca.crl"), "-noout", "-CAfile", p("root/certs/ca.crt"))
	}

	// A leaf of another CA, with the same subject, is not trusted.
	mustKeyrite(t, append([]string{"ca", "init", "--key", otherKey, "--subject", "CN=Other Root,O=Example,ST=WA,C=US", "-o", p("other")}, hsmFlags...)...)
	otherSigner := writeCSR(t, p("other.csr"), signerSubject)
	mustKeyrite(t, append([]string{"ca", "issue", "--ca", otherKey, "--ca-cert", p("other"), "--csr", p("other.csr"), "-o", p("otherleaf")}, hsmFlags...)...)
	opensslVerify(t, p("other/certs/ca.crt"), "", p("otherleaf/certs/issued.crt"))
	layout2 := p("layout2")
	digest2 := ociArtifact(t, layout2)
	notationSign(t, layout2, digest2, otherSigner, p("otherleaf/certs/issued-chain.pem"))
	crls.serve(t, p("crl1"))
	if err := notationVerify(t, p("leaf/notation"), layout2, scope+"@"+digest2); err == nil || !strings.Contains(err.Error(), "does not contain any trusted certificate") {
		t.Fatalf("a leaf of another CA: %v, want refused: no trusted certificate", err)
	}

	// Every CA bundle verifies; keyrite verify says so.
	for _, b := range []string{"root", "crl1", "leaf", "crl2", "other", "otherleaf"} {
		if out := mustKeyrite(t, "verify", p(b)); !strings.Contains(out, "verified: sealed by the CA key") {
			t.Errorf("verify %s:\n%s", b, out)
		}
	}
}

// TestNotationIntermediate issues an intermediate CA whose key is on the
// token, a leaf from it, and checks the three-certificate chain with
// notation-go and openssl.
func TestNotationIntermediate(t *testing.T) {
	p, dev, hsmFlags := caTestToken(t, "root", "issuing")
	mustKeyrite(t, append([]string{"ca", "init", "--key", dev + ";object=root", "--subject", "CN=Example Root,O=Example", "-o", p("root")}, hsmFlags...)...)
	mustKeyrite(t, append([]string{"ca", "csr", "--key", dev + ";object=issuing", "--subject", "CN=Example Issuing CA,O=Example", "-o", p("issuing.csr")}, hsmFlags...)...)
	mustKeyrite(t, append([]string{"ca", "issue", "--ca", dev + ";object=root", "--ca-cert", p("root"), "--csr", p("issuing.csr"),
		"--intermediate", "--validity", "5y", "-o", p("issuing")}, hsmFlags...)...)
	signerKey := writeCSR(t, p("signer.csr"), pkix.Name{CommonName: "Release Signer", Organization: []string{"Example"}, Province: []string{"WA"}, Country: []string{"US"}})
	mustKeyrite(t, append([]string{"ca", "issue", "--ca", dev + ";object=issuing", "--ca-cert", p("issuing"), "--csr", p("signer.csr"),
		"--registry", "registry.example.com/app", "-o", p("leaf")}, hsmFlags...)...)
	opensslVerify(t, p("root/certs/ca.crt"), p("issuing/certs/issued.crt"), p("leaf/certs/issued.crt"))
	layout := p("layout")
	digest := ociArtifact(t, layout)
	notationSign(t, layout, digest, signerKey, p("leaf/certs/issued-chain.pem"))
	if err := notationVerify(t, p("leaf/notation"), layout, "registry.example.com/app@"+digest); err != nil {
		t.Fatalf("notation-go refuses a leaf of a keyrite intermediate: %v", err)
	}
	// The intermediate has path length 0: it issues no further CA.
	writeCSR(t, p("sub.csr"), pkix.Name{CommonName: "Sub CA"})
	_, errOut, code := runKeyrite(t, append([]string{"ca", "issue", "--ca", dev + ";object=issuing", "--ca-cert", p("issuing"), "--csr", p("sub.csr"),
		"--intermediate", "-o", p("sub")}, hsmFlags...)...)
	if code == 0 || !strings.Contains(errOut, "path length 0") || exists(p("sub")) {
		t.Fatalf("an intermediate below a path-length-0 CA: exit %d\n%s", code, errOut)
	}
}

// caTestToken is a SoftHSM token "ca" holding a key per label, a place
// for the test's files, the token's URI and the flags that open it.
func caTestToken(t *testing.T, labels ...string) (path func(string) string, dev string, flags []string) {
	h := testenv.NewSoftHSM(t, "ca")
	d := t.TempDir()
	dev = "pkcs11:token=ca"
	flags = []string{"--pin-file", h.PINFile, "--module", h.Module}
	for _, label := range labels {
		mustKeyrite(t, append([]string{"key", "generate", "--device", dev, "--label", label}, flags...)...)
	}
	return func(name string) string { return filepath.Join(d, name) }, dev, flags
}

// opensslVerify runs openssl verify on a chain.
func opensslVerify(t *testing.T, root, untrusted, leaf string) {
	t.Helper()
	args := []string{"verify", "-x509_strict", "-CAfile", root}
	if untrusted != "" {
		args = append(args, "-untrusted", untrusted)
	}
	if out := opensslOut(t, append(args, leaf)...); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
}

func opensslOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
