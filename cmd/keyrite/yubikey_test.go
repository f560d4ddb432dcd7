package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// ykEnv is a private pcscd with virtual YubiKeys under one test
// attestation root, and secret files for PIN and PUK.
type ykEnv struct {
	t       *testing.T
	pcsc    *testenv.PCSC
	ca      *pivsim.CA
	dir     string
	pinFile string
	pukFile string
}

const (
	ykPIN = "246810"
	ykPUK = "13579135"
)

func newYKEnv(t *testing.T, slots int) *ykEnv {
	t.Helper()
	ca, err := pivsim.NewCA("keyrite test attestation root")
	if err != nil {
		t.Fatal(err)
	}
	e := &ykEnv{t: t, pcsc: testenv.StartPCSC(t, slots), ca: ca, dir: t.TempDir()}
	e.pinFile = filepath.Join(e.dir, "pin.txt")
	e.pukFile = filepath.Join(e.dir, "puk.txt")
	if err := writeSecret(e.pinFile, ykPIN); err != nil {
		t.Fatal(err)
	}
	if err := writeSecret(e.pukFile, ykPUK); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs keyrite in-process with the test attestation root.
func (e *ykEnv) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var o, errb bytes.Buffer
	a := &App{Stdout: &o, Stderr: &errb, Now: time.Now, attestRoots: e.ca.Pool(), TrustDir: testTrustDir(e.t), StateDir: e.t.TempDir()}
	code = a.Run(context.Background(), args)
	return o.String(), errb.String(), code
}

func (e *ykEnv) must(args ...string) (string, string) {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("keyrite %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out, errOut
}

// provisioned plugs in a new virtual YubiKey and provisions it with keyrite.
func (e *ykEnv) provisioned(slot int, serial uint32, cfg pivsim.Config) *pivsim.Card {
	e.t.Helper()
	card := e.pcsc.VirtualYubiKey(e.t, slot, serial, e.ca, cfg)
	out, _ := e.must("device", "provision", yubikey.DeviceURI(serial), "--pin-file", e.pinFile, "--puk-file", e.pukFile)
	for _, want := range []string{"replaced the factory PIN", "replaced the factory PUK", "replaced the factory management key", "AES-192"} {
		if !strings.Contains(out, want) {
			e.t.Errorf("provision output lacks %q:\n%s", want, out)
		}
	}
	return card
}

// attestedRoot generates an attested root key in slot 9c.
func (e *ykEnv) attestedRoot(serial uint32, label string) session.KeyDescription {
	e.t.Helper()
	out, errOut := e.must("key", "generate", "--device", yubikey.DeviceURI(serial)+";slot=9c", "--label", label,
		"--mode", "attested", "--pin-file", e.pinFile, "--json")
	var k session.KeyDescription
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		e.t.Fatal(err)
	}
	if k.Attestation == nil || k.Attestation.Serial != serial || k.Attestation.PINPolicy != "always" || k.Attestation.TouchPolicy != "always" {
		e.t.Fatalf("generated %+v", k)
	}
	if !strings.Contains(errOut, "touch YubiKey serial") {
		e.t.Errorf("no touch prompt while generating:\n%s", errOut)
	}
	return k
}

// TestIntegrationYubiKey is the YubiKey spine end to end on real
// components: a virtual YubiKey behind the real pcscd is provisioned, an
// attested root key is generated on it, init signs two GUNs, verify
// re-checks the attestation, publish uploads to a live notary-server, and
// docker trust inspect shows the root key.
func TestIntegrationYubiKey(t *testing.T) {
	e := newYKEnv(t, 2)
	srv := testenv.StartNotaryServer(t)
	const serial = 10000001
	card := e.provisioned(0, serial, pivsim.Config{})

	out, _ := e.must("device", "list", "--json")
	if !strings.Contains(out, `"uri": "yubikey:serial=10000001"`) || !strings.Contains(out, `"firmware": "5.7.1"`) {
		t.Errorf("device list:\n%s", out)
	}
	key := e.attestedRoot(serial, "root-2026")

	guns := []string{"registry.example.com/yk/app", "registry.example.com/yk/web"}
	req, signed := filepath.Join(e.dir, "request"), filepath.Join(e.dir, "signed")
	e.must(append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req}, guns...)...)
	before := card.Signatures()
	out, errOut := e.must(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--require-attestation",
		"--pin-file", e.pinFile, "--json"}, guns...)...)
	var init ceremony.InitResult
	if err := json.Unmarshal([]byte(out), &init); err != nil {
		t.Fatal(err)
	}
	if init.Rehearsal || len(init.Repos) != 2 {
		t.Fatalf("init result %+v", init)
	}
	// Touch prompts come before each signature, and every signature the
	// device made was counted by the card.
	if n := strings.Count(errOut, "touch YubiKey serial 10000001 now"); n < 6 {
		t.Errorf("%d touch prompts for %d device signatures:\n%s", n, card.Signatures()-before, errOut)
	}
	attFile := filepath.Join(signed, "attestations", key.CanonicalID+".json")
	if _, err := os.Stat(attFile); err != nil {
		t.Fatalf("no attestation in the bundle: %v", err)
	}
	transcript, _ := os.ReadFile(filepath.Join(signed, "transcript.jsonl"))
	if !bytes.Contains(transcript, []byte(`"event":"key.attested"`)) || !bytes.Contains(transcript, []byte(`"serial":"10000001"`)) {
		t.Errorf("transcript lacks the attestation or the device:\n%s", transcript)
	}
	if bytes.Contains(transcript, []byte(ykPIN)) || bytes.Contains(transcript, []byte(ykPUK)) {
		t.Error("the transcript contains the PIN or PUK")
	}

	out, _ = e.must("verify", signed)
	if !strings.Contains(out, "attested root key "+key.CanonicalID[:12]+": YubiKey serial 10000001, firmware 5.7.1, slot 9c, PIN always, touch always") {
		t.Errorf("verify output:\n%s", out)
	}
	// keyrite itself trusts only Yubico's roots: the simulator's
	// attestation does not verify there.
	if _, errOut, code := runKeyrite(t, "verify", signed); code != exitVerifyKO || !strings.Contains(errOut, "Yubico's PIV attestation roots") {
		t.Errorf("verify against Yubico's roots: exit %d\n%s", code, errOut)
	}

	// A later holder's sign continues the bundle: the attestation goes
	// along and is checked again.
	resigned := filepath.Join(e.dir, "resigned")
	if _, errOut, code := e.run("sign", signed, "-o", resigned, "--key", key.URI, "--pin-file", e.pinFile); code == 0 {
		t.Log("sign continued the bundle")
		if out, _ := e.must("verify", resigned); !strings.Contains(out, "attested root key "+key.CanonicalID[:12]) {
			t.Errorf("verify after sign:\n%s", out)
		}
	} else if !strings.Contains(errOut, "nothing") {
		t.Errorf("sign: exit %d\n%s", code, errOut)
	}

	e.must("publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed)
	dockerCfg := filepath.Join(e.dir, "docker")
	for _, r := range init.Repos {
		pretty, err := srv.DockerTrustInspect(dockerCfg, r.GUN, true)
		if err != nil {
			t.Fatalf("docker trust inspect %s: %v\n%s", r.GUN, err, pretty)
		}
		rootKey, err := testenv.ParseDockerRootKey(pretty)
		if err != nil {
			t.Fatal(err)
		}
		if rootKey != r.RootKeyIDs[0] || r.RootCanonicalIDs[0] != key.CanonicalID {
			t.Errorf("%s: docker shows root key %s, keyrite made %s (canonical %s)", r.GUN, rootKey, r.RootKeyIDs[0], key.CanonicalID)
		}
	}
}

// TestIntegrationTwoYubiKeys does the same with two virtual YubiKeys
// attached: keyrite never picks one itself, and every command names its
// device by serial.
func TestIntegrationTwoYubiKeys(t *testing.T) {
	e := newYKEnv(t, 2)
	srv := testenv.StartNotaryServer(t)
	a := e.provisioned(0, 20000001, pivsim.Config{})
	b := e.provisioned(1, 20000002, pivsim.Config{})
	out, _ := e.must("device", "list")
	if !strings.Contains(out, "yubikey:serial=20000001") || !strings.Contains(out, "yubikey:serial=20000002") {
		t.Errorf("device list:\n%s", out)
	}
	// Without a serial keyrite refuses rather than guess.
	if _, errOut, code := e.run("key", "generate", "--device", "yubikey:slot=9c", "--label", "x", "--pin-file", e.pinFile); code == 0 || !strings.Contains(errOut, "serial=N") ||
		!strings.Contains(errOut, `attached: serial 20000001, serial 20000002`) {
		t.Errorf("generate without serial: exit %d\n%s", code, errOut)
	}
	key := e.attestedRoot(20000002, "root-b")
	guns := []string{"registry.example.com/yk2/app", "registry.example.com/yk2/web"}
	req, signed := filepath.Join(e.dir, "request"), filepath.Join(e.dir, "signed")
	e.must(append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req}, guns...)...)
	aBefore := a.Signatures()
	e.must(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--require-attestation", "--pin-file", e.pinFile}, guns...)...)
	if a.Signatures() != aBefore || b.Signatures() == 0 {
		t.Errorf("signatures: device A %d (want none), device B %d", a.Signatures()-aBefore, b.Signatures())
	}
	out, _ = e.must("verify", signed)
	if !strings.Contains(out, "YubiKey serial 20000002") {
		t.Errorf("verify:\n%s", out)
	}
	e.must("publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed)
	pretty, err := srv.DockerTrustInspect(filepath.Join(e.dir, "docker"), guns[0], true)
	if err != nil {
		t.Fatalf("docker trust inspect: %v\n%s", err, pretty)
	}
	if rootKey, err := testenv.ParseDockerRootKey(pretty); err != nil || !strings.Contains(out, rootKey[:12]) {
		t.Errorf("docker root key %s (%v) not in verify output:\n%s", rootKey, err, out)
	}
}

// TestYubiKeyWrongPINBlocks: three wrong PINs block the PIN; keyrite says
// how many attempts are left, refuses the last one without --force, and
// suggests the PUK once it is blocked. No bundle is ever written.
func TestYubiKeyWrongPINBlocks(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 30000001
	card := e.provisioned(0, serial, pivsim.Config{})
	key := e.attestedRoot(serial, "root")
	req := filepath.Join(e.dir, "request")
	writeRequest(t, e, req, "registry.example.com/pin/app")
	wrong := filepath.Join(e.dir, "wrong.txt")
	if err := writeSecret(wrong, "999999"); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(e.dir, "signed")
	initArgs := []string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--pin-file", wrong, "--no-wait", "registry.example.com/pin/app"}
	for _, want := range []string{"wrong PIN (2 retries left)", "wrong PIN (1 retry left)", "PIN not tried: 1 attempt left, and a wrong PIN would block it\nkeyrite: hint: one PIN attempt is left and a wrong PIN now blocks the YubiKey: use --force if you are sure of the PIN"} {
		_, errOut, code := e.run(initArgs...)
		if code != exitDevice || !strings.Contains(errOut, want) {
			t.Fatalf("want exit 3 and %q, got exit %d:\n%s", want, code, errOut)
		}
	}
	if card.PINRetries() != 1 {
		t.Fatalf("retries %d", card.PINRetries())
	}
	_, errOut, code := e.run(append(initArgs, "--force")...)
	if code != exitDevice || !strings.Contains(errOut, "PIN blocked") || !strings.Contains(errOut, "PUK") {
		t.Fatalf("third wrong PIN: exit %d\n%s", code, errOut)
	}
	// Blocked: the right PIN is not even asked for.
	_, errOut, code = e.run("init", "--in", req, "-o", signed, "--root-key", key.URI, "--pin-file", e.pinFile, "registry.example.com/pin/app")
	if code != exitDevice || !strings.Contains(errOut, "PIN blocked") {
		t.Fatalf("blocked: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(signed); !os.IsNotExist(err) {
		t.Errorf("a failed init left %s", signed)
	}
}

// writeRequest makes a request bundle for GUNs that do not exist on a
// server yet, without a server: fetch against a live notary-server.
func writeRequest(t *testing.T, e *ykEnv, dir string, guns ...string) {
	t.Helper()
	srv := testenv.StartNotaryServer(t)
	e.must(append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", dir}, guns...)...)
}

// TestYubiKeyRemovedMidBatch pulls the YubiKey out in the middle of an init
// of several GUNs: keyrite reports the removal (exit 3) and writes no
// bundle at all.
func TestYubiKeyRemovedMidBatch(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 40000001
	card := e.provisioned(0, serial, pivsim.Config{})
	key := e.attestedRoot(serial, "root")
	guns := []string{"registry.example.com/rm/a", "registry.example.com/rm/b", "registry.example.com/rm/c", "registry.example.com/rm/d"}
	req := filepath.Join(e.dir, "request")
	writeRequest(t, e, req, guns...)
	start := card.Signatures()
	card.OnSign(func(n int) {
		if n == start+5 { // inside the second GUN
			go e.pcsc.UnplugNoWait(0)
		}
	})
	signed := filepath.Join(e.dir, "signed")
	_, errOut, code := e.run(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--pin-file", e.pinFile, "--no-wait"}, guns...)...)
	if code != exitDevice || !strings.Contains(errOut, "YubiKey serial 40000001 (removed while keyrite was using it)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(signed); !os.IsNotExist(err) {
		t.Errorf("removed device left a partial bundle %s", signed)
	}
}

// TestYubiKeyAttestationRefused: a device whose attestation chains to
// another CA, a bundle whose attestation was swapped for another device's,
// and an imported key presented as attested are all refused.
func TestYubiKeyAttestationRefused(t *testing.T) {
	e := newYKEnv(t, 2)
	const good, rogue = 50000001, 50000002
	e.provisioned(0, good, pivsim.Config{})
	key := e.attestedRoot(good, "root")

	// A device attested by another CA: generation in attested mode refuses
	// its attestation.
	other, err := pivsim.NewCA("another vendor's root")
	if err != nil {
		t.Fatal(err)
	}
	rc := e.pcsc.VirtualYubiKey(t, 1, rogue, other, pivsim.Config{})
	if err := testenv.Provision(rc, ykPIN, ykPUK); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.run("key", "generate", "--device", yubikey.DeviceURI(rogue)+";slot=9c", "--label", "root", "--mode", "attested", "--pin-file", e.pinFile)
	if code == 0 || !strings.Contains(errOut, "attestation is refused") || !strings.Contains(errOut, "does not chain") {
		t.Fatalf("rogue CA: exit %d\n%s", code, errOut)
	}
	if out, _ := e.must("key", "list", "--device", yubikey.DeviceURI(rogue)); strings.Contains(out, "yubikey:") {
		t.Errorf("the refused key was left in its slot:\n%s", out)
	}
	// A key generated on that device without attested mode is refused by
	// init under --require-attestation.
	e.must("key", "generate", "--device", yubikey.DeviceURI(rogue)+";slot=9c", "--label", "root", "--pin-file", e.pinFile)
	req0, signed0 := filepath.Join(e.dir, "request0"), filepath.Join(e.dir, "signed0")
	writeRequest(t, e, req0, "registry.example.com/att/rogue")
	_, errOut, code = e.run("init", "--in", req0, "-o", signed0, "--root-key", yubikey.DeviceURI(rogue)+";slot=9c",
		"--require-attestation", "--pin-file", e.pinFile, "registry.example.com/att/rogue")
	if code == 0 || !strings.Contains(errOut, "attestation refused") {
		t.Fatalf("init with the rogue device's key: exit %d\n%s", code, errOut)
	}

	// A signed bundle whose attestation is replaced by the rogue device's
	// (same key slot, other device, other CA) fails verify.
	req, signed := filepath.Join(e.dir, "request"), filepath.Join(e.dir, "signed")
	writeRequest(t, e, req, "registry.example.com/att/app")
	e.must("init", "--in", req, "-o", signed, "--root-key", key.URI, "--pin-file", e.pinFile, "registry.example.com/att/app")
	// An attestation record that claims other policies, or an imported
	// origin, than its certificates prove is refused by verify.
	for _, c := range []struct {
		edit func(*verify.AttestationRecord)
		want string
	}{
		{func(r *verify.AttestationRecord) { r.Attested.TouchPolicy = "never" }, "differ from what the attestation certificates prove"},
		{func(r *verify.AttestationRecord) { r.Origin = "imported" }, "an imported key is never attested"},
	} {
		forged := filepath.Join(e.dir, "forged-"+strings.Fields(c.want)[0])
		copyTree(t, signed, forged)
		p := filepath.Join(forged, "attestations", key.CanonicalID+".json")
		var rec verify.AttestationRecord
		raw, _ := os.ReadFile(p)
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		c.edit(&rec)
		out, _ := json.MarshalIndent(rec, "", "  ")
		if err := os.WriteFile(p, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		remanifest(t, forged)
		if _, errOut, code := e.run("verify", forged); code != exitVerifyKO || !strings.Contains(errOut, c.want) {
			t.Errorf("forged record (%s): exit %d\n%s", c.want, code, errOut)
		}
	}

	rogueKey, drv, err := openKey(e, yubikey.DeviceURI(rogue)+";slot=9c")
	if err != nil {
		t.Fatal(err)
	}
	rogueAtt, err := rogueKey.Attestation()
	if err != nil || rogueAtt == nil {
		t.Fatalf("rogue attestation: %v", err)
	}
	drv.Close()
	attPath := filepath.Join(signed, "attestations", key.CanonicalID+".json")
	var rec verify.AttestationRecord
	raw, _ := os.ReadFile(attPath)
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Certs[1] = rogueAtt.Certs[1] // the other device's F9 certificate
	tampered, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(attPath, append(tampered, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	remanifest(t, signed)
	_, errOut, code = e.run("verify", signed)
	if code != exitVerifyKO || !strings.Contains(errOut, "does not chain") {
		t.Fatalf("swapped attestation: exit %d\n%s", code, errOut)
	}

	// An imported key, on a device that would (wrongly) attest it, is not
	// attested: --require-attestation refuses it by its slot's origin.
	e.pcsc.Unplug(1)
	liar := e.pcsc.VirtualYubiKey(t, 1, 50000003, e.ca, pivsim.Config{AttestImported: true})
	if err := testenv.Provision(liar, ykPIN, ykPUK); err != nil {
		t.Fatal(err)
	}
	importKey(t, e, yubikey.DeviceURI(50000003)+";slot=9c")
	// The first init's root was never published: this machine forgets it
	// before making another for the same GUN.
	e.must("trust", "forget", "registry.example.com/att/app", "--confirm-gun", "registry.example.com/att/app")
	signed2 := filepath.Join(e.dir, "signed2")
	_, errOut, code = e.run("init", "--in", req, "-o", signed2, "--root-key", yubikey.DeviceURI(50000003)+";slot=9c",
		"--require-attestation", "--pin-file", e.pinFile, "registry.example.com/att/app")
	if code == 0 || !strings.Contains(errOut, "origin is imported") || !strings.Contains(errOut, "hint: --require-attestation refuses") {
		t.Fatalf("imported key as attested: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(signed2); !os.IsNotExist(err) {
		t.Error("refused init left a bundle")
	}
	// Without --require-attestation the imported key signs, and the bundle
	// says it is imported and holds no attestation for it.
	e.must("init", "--in", req, "-o", signed2, "--root-key", yubikey.DeviceURI(50000003)+";slot=9c",
		"--pin-file", e.pinFile, "registry.example.com/att/app")
	transcript, _ := os.ReadFile(filepath.Join(signed2, "transcript.jsonl"))
	if !bytes.Contains(transcript, []byte(`"event":"key.origin","data":{"attested":false`)) || !bytes.Contains(transcript, []byte(`"origin":"imported"`)) {
		t.Errorf("transcript does not record the imported origin:\n%s", transcript)
	}
	if _, err := os.Stat(filepath.Join(signed2, "attestations")); !os.IsNotExist(err) {
		t.Error("an imported key got an attestation file")
	}
	if out, _ := e.must("verify", signed2); strings.Contains(out, "attested root key") {
		t.Errorf("verify calls an imported key attested:\n%s", out)
	}
}

// openKey opens a key with the yubikey driver in this process; closing the
// driver releases the device.
func openKey(e *ykEnv, uri string) (hsm.Key, *yubikey.Driver, error) {
	d := yubikey.NewDriver()
	e.t.Cleanup(func() { d.Close() })
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return nil, nil, err
	}
	b, err := d.Open(context.Background(), u, hsm.Options{PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		return []byte(ykPIN), nil
	}), NoWait: true})
	if err != nil {
		return nil, nil, err
	}
	k, err := b.Open(context.Background(), uri)
	if err != nil {
		return nil, nil, err
	}
	return k, d, nil
}

// importKey imports a software key into a slot, as a backed-up key is.
func importKey(t *testing.T, e *ykEnv, uri string) {
	t.Helper()
	d := yubikey.NewDriver()
	defer d.Close()
	u, _ := hsm.ParseURI(uri)
	b, err := d.Open(context.Background(), u, hsm.Options{PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		return []byte(ykPIN), nil
	}), NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Import(context.Background(), priv, hsm.KeySpec{Label: "backed-up root", Slot: u.Get("slot")}); err != nil {
		t.Fatalf("import: %v", err)
	}
}

// remanifest rewrites a bundle's manifest for the files it holds now, as a
// forger would.
func remanifest(t *testing.T, dir string) {
	t.Helper()
	files := bundle.Files{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == bundle.ManifestName {
			return nil
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	man, err := bundle.BuildManifest(bundle.KindSigned, files)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.ManifestName), man, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies a bundle directory.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestYubiKeyBackedUpImport: a backed-up key (made in memory, split among
// custodians) is imported into a YubiKey slot; the slot's origin is
// imported, keyrite never calls it attested, and init records it so.
func TestYubiKeyBackedUpImport(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 60000001
	e.provisioned(0, serial, pivsim.Config{AttestImported: true})
	var custodians []string
	for _, name := range []string{"alice", "bob"} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		custodians = append(custodians, "--custodian", name+"="+id.Recipient().String())
	}
	uri := yubikey.DeviceURI(serial) + ";slot=9d"
	e.must(append([]string{"key", "generate", "--mode", "backed-up", "--label", "root-bu", "--device", uri,
		"--threshold", "2", "-o", filepath.Join(e.dir, "backup"), "--pin-file", e.pinFile}, custodians...)...)
	out, _ := e.must("key", "list", "--device", yubikey.DeviceURI(serial))
	if !regexp.MustCompile(`(?m)^root-bu +P-256 +imported +[0-9a-f]{64} +yubikey:serial=60000001;slot=9d$`).MatchString(out) {
		t.Fatalf("key list:\n%s", out)
	}
	req := filepath.Join(e.dir, "request")
	writeRequest(t, e, req, "registry.example.com/bu/app")
	_, errOut, code := e.run("init", "--in", req, "-o", filepath.Join(e.dir, "refused"), "--root-key", uri,
		"--require-attestation", "--pin-file", e.pinFile, "registry.example.com/bu/app")
	if code == 0 || !strings.Contains(errOut, "origin is imported") {
		t.Fatalf("backed-up key as attested: exit %d\n%s", code, errOut)
	}
	signed := filepath.Join(e.dir, "signed")
	e.must("init", "--in", req, "-o", signed, "--root-key", uri, "--pin-file", e.pinFile, "registry.example.com/bu/app")
	if out, _ := e.must("verify", signed); strings.Contains(out, "attested") {
		t.Errorf("verify:\n%s", out)
	}
}
