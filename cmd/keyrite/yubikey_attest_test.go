package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv/offline"
)

// runReal runs keyrite as a real run does: only Yubico's attestation roots,
// whatever the test's virtual YubiKeys are attested by.
func (e *ykEnv) runReal(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var o, errb bytes.Buffer
	a := &App{Stdout: &o, Stderr: &errb, Now: time.Now, TrustDir: testTrustDir(e.t), StateDir: e.t.TempDir()}
	code = a.Run(context.Background(), args)
	return o.String(), errb.String(), code
}

func (e *ykEnv) mustReal(args ...string) (string, string) {
	e.t.Helper()
	out, errOut, code := e.runReal(args...)
	if code != 0 {
		e.t.Fatalf("keyrite %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out, errOut
}

func (e *ykEnv) request(name string, guns ...string) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	if err := offline.NewRequest(dir, time.Now(), guns...); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// A rehearsal on the virtual YubiKey, by hand: with
// --rehearsal-attestation-root its attested generation and an
// attested-required init succeed, recorded and marked as a rehearsal (which
// publish refuses for a real server); the same device and key in a real run
// (Yubico's roots only) are refused, and nothing is written.
func TestYubiKeyRehearsalAttestation(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 71000001
	card := e.provisioned(0, serial, pivsim.Config{})
	caFile := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(caFile, e.ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	slot := yubikey.DeviceURI(serial) + ";slot=9c"

	// Real run: the virtual YubiKey's attestation is refused, the key
	// destroyed (firmware 5.7 deletes it), and the hint names the way to
	// rehearse.
	_, errOut, code := e.runReal("key", "generate", "--device", slot, "--label", "root", "--mode", "attested", "--pin-file", e.pinFile)
	if code != exitFailed || !strings.Contains(errOut, "attestation is refused") || !strings.Contains(errOut, "does not chain to Yubico's PIV attestation roots") ||
		!strings.Contains(errOut, "hint: a genuine YubiKey's attestation chains to Yubico's roots; for a rehearsal on a virtual YubiKey, give --rehearsal-attestation-root") {
		t.Fatalf("real run, attested generation: exit %d\n%s", code, errOut)
	}
	if card.HasKey(0x9c) {
		t.Fatal("the refused key was left in slot 9c")
	}

	// Rehearsal: accepted, marked.
	rehearse := func(args ...string) []string {
		return append([]string{"--rehearsal-attestation-root", caFile}, args...)
	}
	out, errOut := e.mustReal(rehearse("key", "generate", "--device", slot, "--label", "root", "--mode", "attested", "--pin-file", e.pinFile, "--json")...)
	var key session.KeyDescription
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatal(err)
	}
	if key.Attestation == nil || !key.Attestation.Rehearsal || !strings.Contains(key.Attestation.Root, "(rehearsal root)") || !strings.Contains(errOut, "REHEARSAL") {
		t.Fatalf("rehearsal generation: %+v\n%s", key.Attestation, errOut)
	}
	rec, _ := os.ReadFile(filepath.Join(key.Record, "record.json"))
	if !bytes.Contains(rec, []byte(`"rehearsal": true`)) {
		t.Errorf("the key record is not marked as a rehearsal:\n%s", rec)
	}
	e.mustReal(rehearse("transcript", "verify", key.Record)...)
	if _, errOut, code := e.runReal("transcript", "verify", key.Record); code != exitVerifyKO || !strings.Contains(errOut, "does not chain") {
		t.Errorf("the rehearsal record verified with Yubico's roots only: exit %d\n%s", code, errOut)
	}

	gun := "registry.example.com/rehearsal/app"
	req := e.request("request", gun)
	signed := filepath.Join(e.dir, "signed")
	// Real run with the same key: refused, nothing written.
	_, errOut, code = e.runReal("init", "--in", req, "-o", signed, "--root-key", key.URI, "--require-attestation", "--pin-file", e.pinFile, gun)
	if code != exitFailed || !strings.Contains(errOut, "attestation refused") || !strings.Contains(errOut, "hint: --require-attestation accepts only an attestation that chains to Yubico's roots") {
		t.Fatalf("real run, attested-required init: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(signed); !os.IsNotExist(err) {
		t.Fatal("a refused init left a bundle")
	}
	// Rehearsal: attested-required init succeeds; the bundle is a
	// rehearsal and its transcript records the rehearsal root.
	out, _ = e.mustReal(rehearse("init", "--in", req, "-o", signed, "--root-key", key.URI, "--require-attestation", "--pin-file", e.pinFile, "--json", gun)...)
	if !strings.Contains(out, `"rehearsal": true`) {
		t.Errorf("init result is not a rehearsal:\n%s", out)
	}
	transcript, _ := os.ReadFile(filepath.Join(signed, "transcript.jsonl"))
	for _, want := range []string{`"rehearsal":true`, `"rehearsal_attestation_root":{`, `"event":"key.attested"`, `"rehearsal_root":"CN=keyrite test attestation root (rehearsal root)"`} {
		if !bytes.Contains(transcript, []byte(want)) {
			t.Errorf("transcript lacks %s:\n%s", want, transcript)
		}
	}
	if out, _ := e.mustReal(rehearse("verify", signed)...); !strings.Contains(out, "rehearsal") {
		t.Errorf("verify of the rehearsal bundle:\n%s", out)
	}
	if _, errOut, code := e.runReal("verify", signed); code != exitVerifyKO || !strings.Contains(errOut, "does not chain") {
		t.Errorf("the rehearsal bundle verified with Yubico's roots only: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := e.runReal(rehearse("publish", "--server", offline.Server, signed)...); code == 0 || !strings.Contains(errOut, "rehearsal") {
		t.Errorf("publish of a rehearsal bundle to %s: exit %d\n%s", offline.Server, code, errOut)
	}
	// A rehearsal root that is not a certificate is a usage error.
	if _, errOut, code := e.runReal("--rehearsal-attestation-root", e.pinFile, "key", "list", "--device", yubikey.DeviceURI(serial)); code != exitUsage || !strings.Contains(errOut, "is not a PEM certificate") {
		t.Errorf("rehearsal root that is no certificate: exit %d\n%s", code, errOut)
	}
}

// A plain on-device key (no --mode attested) on a device whose attestation
// roots are not trusted here serves init, recorded as not attested with the
// reason; --require-attestation refuses it, naming the reason, and writes
// nothing.
func TestYubiKeyPlainKeyInit(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 72000001
	e.provisioned(0, serial, pivsim.Config{})
	slot := yubikey.DeviceURI(serial) + ";slot=9c"
	e.mustReal("key", "generate", "--device", slot, "--label", "plain root", "--pin-file", e.pinFile)

	gun := "registry.example.com/plain/app"
	req := e.request("request", gun)
	refused := filepath.Join(e.dir, "refused")
	_, errOut, code := e.runReal("init", "--in", req, "-o", refused, "--root-key", slot, "--require-attestation", "--pin-file", e.pinFile, gun)
	if code != exitFailed || !strings.Contains(errOut, "is not attested (attestation refused: "+slot+": attestation does not chain") {
		t.Fatalf("plain key under --require-attestation: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Fatal("a refused init left a bundle")
	}
	signed := filepath.Join(e.dir, "signed")
	_, errOut = e.mustReal("init", "--in", req, "-o", signed, "--root-key", slot, "--pin-file", e.pinFile, gun)
	if !strings.Contains(errOut, "warning: root key "+slot+" is used without an attestation") {
		t.Errorf("no warning about the unattested key:\n%s", errOut)
	}
	transcript, _ := os.ReadFile(filepath.Join(signed, "transcript.jsonl"))
	if !bytes.Contains(transcript, []byte(`"event":"key.origin","data":{"attestation_refused":`)) || !bytes.Contains(transcript, []byte(`"attested":false`)) {
		t.Errorf("transcript does not record the key as not attested:\n%s", transcript)
	}
	if _, err := os.Stat(filepath.Join(signed, "attestations")); !os.IsNotExist(err) {
		t.Error("an unattested key got an attestation file")
	}
	if out, _ := e.mustReal("verify", signed); strings.Contains(out, "attested root key") {
		t.Errorf("verify calls the plain key attested:\n%s", out)
	}
}

// fixedPIN answers every PIN request with one PIN.
type fixedPIN string

func (p fixedPIN) PIN(context.Context, hsm.PINRequest) ([]byte, error) { return []byte(p), nil }

// The checks behind the flag, tried without it: a registry that trusts a
// rehearsal root in a session that is not a rehearsal refuses the
// attestation (and destroys the key), and a real bundle verified with a
// rehearsal root given refuses an attestation that chains only to it.
func TestYubiKeyRehearsalRootOutsideARehearsal(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 73000001
	card := e.provisioned(0, serial, pivsim.Config{})
	reg := hsm.NewRegistry()
	drv := yubikey.NewDriver()
	defer drv.Close()
	reg.Register(yubikey.Scheme, drv)
	reg.RegisterAttestation(yubikey.Format, yubikey.AttestationVerifier{Rehearsal: e.ca.Pool()})
	env := session.Env{Registry: reg, HSM: hsm.Options{PIN: fixedPIN(ykPIN), NoWait: true}}
	_, err := ceremony.GenerateKey(context.Background(), env, ceremony.GenerateOptions{Device: yubikey.DeviceURI(serial) + ";slot=9c",
		Label: "root", Mode: ceremony.ModeAttested})
	if err == nil || !strings.Contains(err.Error(), "which only a rehearsal accepts") {
		t.Fatalf("rehearsal root in a real session: %v", err)
	}
	if card.HasKey(0x9c) {
		t.Error("the refused key was left in slot 9c")
	}
	drv.Close()

	// A real bundle (the test's root standing in for Yubico's), verified
	// by a real run that is given that root as a rehearsal root.
	key := e.attestedRoot(serial, "root")
	gun := "registry.example.com/real/app"
	signed := filepath.Join(e.dir, "signed")
	e.must("init", "--in", e.request("request", gun), "-o", signed, "--root-key", key.URI, "--require-attestation", "--pin-file", e.pinFile, gun)
	caFile := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(caFile, e.ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := e.runReal("--rehearsal-attestation-root", caFile, "verify", signed); code != exitVerifyKO || !strings.Contains(errOut, "chains to a rehearsal root") ||
		!strings.Contains(errOut, "this is not a rehearsal") {
		t.Errorf("real bundle with a rehearsal-rooted attestation: exit %d\n%s", code, errOut)
	}
}
