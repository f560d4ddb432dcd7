package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/pivsim"
)

// TestNotationYubiKeyRehearsal rehearses a Notation root CA plan by hand on
// a virtual YubiKey, as an operator would: the keyrite command trusts
// Yubico's roots alone, and --rehearsal-attestation-root names the
// simulator's. The attested root key and the root CA it signs are then a
// rehearsal (ca.json says so, the transcript records the root), verified
// only with the same flag; without it the plan's attested generation is
// refused and nothing is written.
func TestNotationYubiKeyRehearsal(t *testing.T) {
	e := newYKEnv(t, 2)
	const realSerial, serial = 10000016, 10000015
	e.pcsc.VirtualYubiKey(t, 0, realSerial, e.ca, pivsim.Config{})
	e.pcsc.VirtualYubiKey(t, 1, serial, e.ca, pivsim.Config{})
	p := func(name string) string { return filepath.Join(e.dir, name) }
	rootFile := p("pivsim-root.pem")
	if err := os.WriteFile(rootFile, e.ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	writeCSR(t, p("signer.csr"), pkix.Name{CommonName: "CI Signer", Organization: []string{"Example"}})
	plan := func(serial int) string {
		file := p(fmt.Sprintf("ca-%d.yaml", serial))
		writeFile(t, file, fmt.Sprintf(`version: 1
ceremony: notation-root-rehearsal
operators: [alice]
airgap: not-required
devices:
  yk: {yubikey: %d}
steps:
  - provision: {device: yk}
  - generate: {mode: attested, label: notation-root, devices: [yk], slot: 9c}
  - ca_init: {key: yk/9c, subject: "CN=Rehearsal Signing Root,O=Example", require_attestation: true}
  - ca_issue: {ca: yk/9c, from_step: 3, csr: signer.csr}
`, serial))
		return file
	}
	real := func(args ...string) (string, string, int) {
		var o, errb bytes.Buffer
		a := &App{Stdout: &o, Stderr: &errb, Now: time.Now, TrustDir: testTrustDir(t), StateDir: t.TempDir(),
			Answer: func(session.Confirmation) (string, error) { return "yes", nil }}
		code := a.Run(context.Background(), args)
		return o.String(), errb.String(), code
	}
	run := func(serial int, out string, extra ...string) (string, string, int) {
		return real(append(extra, "ceremony", "run", plan(serial), "-o", p(out),
			"--pin-file", e.pinFile, "--puk-file", e.pukFile, "--json")...)
	}

	// A real run: the simulator's attestation chains to no Yubico root.
	if _, errOut, code := run(realSerial, "real"); code == 0 || !strings.Contains(errOut, "--rehearsal-attestation-root") {
		t.Fatalf("real run of an attested plan on a virtual YubiKey: exit %d, want refused with the rehearsal hint\n%s", code, errOut)
	}
	if matches, _ := filepath.Glob(p("real/*/ca")); len(matches) != 0 {
		t.Fatalf("a refused real run wrote CA bundles: %v", matches)
	}

	// The rehearsal, on a factory-fresh virtual YubiKey.
	out, errOut, code := run(serial, "rh", "--rehearsal-attestation-root", rootFile)
	if code != 0 {
		t.Fatalf("rehearsal: exit %d\n%s", code, errOut)
	}
	var res runResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Steps) != 4 {
		t.Fatalf("rehearsal result %v: %s", err, out)
	}
	caBundle := filepath.Join(p("rh"), res.Steps[2].Dir, "ca")
	caJSON, err := os.ReadFile(filepath.Join(caBundle, "ca.json"))
	if err != nil || !strings.Contains(string(caJSON), `"rehearsal": true`) {
		t.Fatalf("the rehearsed root CA is not marked a rehearsal (%v):\n%s", err, caJSON)
	}
	transcript, _ := os.ReadFile(filepath.Join(caBundle, "transcript.jsonl"))
	if !strings.Contains(string(transcript), "rehearsal_root") {
		t.Fatalf("the transcript does not record the rehearsal root:\n%s", transcript)
	}
	if _, errOut, code := real("verify", caBundle); code != exitVerifyKO {
		t.Fatalf("verify of a rehearsed CA without the rehearsal root: exit %d, want %d\n%s", code, exitVerifyKO, errOut)
	}
	if out, errOut, code := real("--rehearsal-attestation-root", rootFile, "verify", caBundle); code != 0 ||
		!strings.Contains(out, "attested CA key: YubiKey serial 10000015") {
		t.Fatalf("verify with the rehearsal root: exit %d\n%s%s", code, out, errOut)
	}
}
