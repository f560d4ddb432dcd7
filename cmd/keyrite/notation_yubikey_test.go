package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
)

// runAnswered runs keyrite in-process with the test attestation root,
// answering every confirmation with answer, and returns the questions.
func (e *ykEnv) runAnswered(answer string, args ...string) (stdout, stderr string, asked []session.Confirmation, code int) {
	e.t.Helper()
	var o, errb bytes.Buffer
	a := &App{Stdout: &o, Stderr: &errb, Now: time.Now, attestRoots: e.ca.Pool(), TrustDir: testTrustDir(e.t), StateDir: e.t.TempDir(),
		Answer: func(c session.Confirmation) (string, error) {
			asked = append(asked, c)
			return answer, nil
		}}
	code = a.Run(context.Background(), args)
	return o.String(), errb.String(), asked, code
}

// TestNotationYubiKeyPlan is a Notation root CA ceremony from a plan on a
// factory-fresh virtual YubiKey behind the real pcscd: provision it,
// generate the root key attested, make the root CA (attestation
// required), issue a code-signing leaf from a CSR and sign the first CRL,
// each step confirmed. notation-go then verifies a signature by the leaf
// with the bundle's trust store and policy; after keyrite ca crl --revoke
// (on the YubiKey) it refuses it.
func TestNotationYubiKeyPlan(t *testing.T) {
	e := newYKEnv(t, 1)
	const serial = 10000014
	e.pcsc.VirtualYubiKey(t, 0, serial, e.ca, pivsim.Config{})
	crls := startCRLServer(t)
	p := func(name string) string { return filepath.Join(e.dir, name) }
	signerKey := writeCSR(t, p("signer.csr"), pkix.Name{CommonName: "CI Signer", Organization: []string{"Example"},
		Province: []string{"WA"}, Country: []string{"US"}})
	const scope = "registry.example.com/yk/app"
	writeFile(t, p("ca.yaml"), fmt.Sprintf(`version: 1
ceremony: notation-root-yk
operators: [alice]
airgap: not-required
devices:
  yk: {yubikey: %d}
steps:
  - provision: {device: yk}
  - generate: {mode: attested, label: notation-root, devices: [yk], slot: 9c}
  - ca_init: {key: yk/9c, subject: "CN=YubiKey Signing Root,O=Example,ST=WA,C=US", require_attestation: true}
  - ca_issue: {ca: yk/9c, from_step: 3, csr: signer.csr, crl_urls: [%s/root.crl], registries: [%s], trusted_identities: [leaf]}
  - ca_crl: {ca: yk/9c, from_step: 3}
`, serial, crls.URL, scope))
	out, errOut, asked, code := e.runAnswered("yes", "ceremony", "run", p("ca.yaml"), "-o", p("out"),
		"--pin-file", e.pinFile, "--puk-file", e.pukFile, "--json")
	if code != 0 {
		t.Fatalf("ceremony run: exit %d\n%s", code, errOut)
	}
	var res runResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 5 || len(asked) != 5 {
		t.Fatalf("%d steps, %d confirmations", len(res.Steps), len(asked))
	}
	var root ceremony.CAResult
	if err := json.Unmarshal(res.Steps[2].Result, &root); err != nil {
		t.Fatal(err)
	}
	if root.Attestation == nil || root.Attestation.Serial != serial || root.Attestation.Slot != "9c" || root.Software {
		t.Fatalf("root CA %+v: want the attested YubiKey key, no software token", root)
	}
	bundleOf := func(step int) string { return filepath.Join(p("out"), res.Steps[step-1].Dir, "ca") }
	var issued ceremony.CAResult
	if err := json.Unmarshal(res.Steps[3].Result, &issued); err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, filepath.Join(bundleOf(3), "certs", "ca.crt"), "", filepath.Join(bundleOf(4), "certs", "issued.crt"))
	for step := 3; step <= 5; step++ {
		out, _ := e.must("verify", bundleOf(step))
		attested := strings.Contains(out, "attested CA key: YubiKey serial 10000014")
		if step == 3 && !attested || !strings.Contains(out, "verified: sealed by the CA key") {
			t.Errorf("verify step %d:\n%s", step, out)
		}
	}

	crls.serve(t, bundleOf(5))
	layout := p("layout")
	digest := ociArtifact(t, layout)
	notationSign(t, layout, digest, signerKey, filepath.Join(bundleOf(4), "certs", "issued-chain.pem"))
	ref := scope + "@" + digest
	if err := notationVerify(t, filepath.Join(bundleOf(4), "notation"), layout, ref); err != nil {
		t.Fatalf("notation-go refuses a leaf of the YubiKey root: %v", err)
	}
	e.must("ca", "crl", "--ca", yubikey.DeviceURI(serial)+";slot=9c", "--ca-cert", bundleOf(3), "--revoke", issued.Record.Issued.Serial,
		"--number", fmt.Sprint(time.Now().Unix()+1000), "--pin-file", e.pinFile, "-o", p("revoked"))
	crls.serve(t, p("revoked"))
	if err := notationVerify(t, filepath.Join(bundleOf(4), "notation"), layout, ref); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("after the YubiKey root revoked the leaf: %v, want refused as revoked", err)
	}
}
