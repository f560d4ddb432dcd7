package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/offline"
)

// TestPINFilesParse: DEVICE=FILE split at the last '=', a URI or a serial
// before it; anything else is one plain FILE, and only one may be given.
func TestPINFilesParse(t *testing.T) {
	p, err := parsePINFiles([]string{"yubikey:serial=123=/tmp/yk.pin", "pkcs11:token=hsm=hsm.pin", "0a1b2c=s.pin", "./odd=name.pin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.labelled) != 3 || p.plain != "./odd=name.pin" || p.labelled[0].file != "/tmp/yk.pin" || p.labelled[2].serial != "0a1b2c" {
		t.Fatalf("parsed %+v plain %q", p.labelled, p.plain)
	}
	if _, err := parsePINFiles([]string{"a.pin", "b.pin"}); err == nil {
		t.Error("two plain PIN files accepted")
	}
	if _, err := parsePINFiles([]string{"yubikey:serial=1="}); err == nil {
		t.Error("DEVICE= without a file accepted")
	}
	// The plain file goes to the first device that asks and is refused to
	// a second one, whatever URI form the first one used.
	p, _ = parsePINFiles([]string{"one.pin"})
	hsmA := &pinDevice{uri: mustURI(t, "pkcs11:token=a;serial=01")}
	if f, err := p.fileFor(&pinDevice{uri: mustURI(t, "pkcs11:token=a")}); err != nil || f != "one.pin" {
		t.Fatalf("first device: %q %v", f, err)
	}
	if f, err := p.fileFor(hsmA); err != nil || f != "one.pin" {
		t.Errorf("the same device described with its serial: %q %v", f, err)
	}
	var pe *pinFileError
	if _, err := p.fileFor(&pinDevice{uri: mustURI(t, "yubikey:serial=5")}); !errors.As(err, &pe) {
		t.Errorf("a second device got the plain PIN file: %v", err)
	}
}

func mustURI(t *testing.T, s string) *hsm.URI {
	t.Helper()
	u, err := hsm.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pinCountLow says whether a SoftHSM token saw a wrong PIN since its last
// good login, as pkcs11-tool reads the token's flags.
func pinCountLow(t *testing.T, h *testenv.SoftHSM) bool {
	t.Helper()
	out, err := exec.Command("pkcs11-tool", "--module", h.Module, "--token-label", h.Label, "-T").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool -T: %v\n%s", err, out)
	}
	return strings.Contains(string(out), "user PIN count low")
}

// TestPINFilesPerDevice: a YubiKey root key and per-GUN targets keys on a
// SoftHSM token, each device with its own PIN. One plain --pin-file for
// both is refused before any device is opened; a wrong PIN file for one
// device never reaches the other (the virtual YubiKey counts VERIFYs, the
// token's flags show a wrong PIN); with DEVICE=FILE for each, init runs
// with one PIN entry per device.
func TestPINFilesPerDevice(t *testing.T) {
	e := newYKEnv(t, 2)
	h := testenv.NewSoftHSM(t, "targets")
	const serial = 11000003
	card := e.provisioned(0, serial, pivsim.Config{})
	key := e.rootWithTouch(serial, "cached")
	guns := batchGUNs(3)
	req := filepath.Join(e.dir, "request")
	if err := offline.NewRequest(req, time.Now(), guns...); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(e.dir, "wrong.pin")
	if err := writeSecret(wrong, "99999999"); err != nil {
		t.Fatal(err)
	}
	ykFile := yubikey.DeviceURI(serial) + "=" + e.pinFile
	hsmFile := "pkcs11:token=targets=" + h.PINFile
	initArgs := func(out string, pins ...string) []string {
		args := []string{"init", "--in", req, "-o", filepath.Join(e.dir, out), "--root-key", key.URI,
			"--targets-device", "pkcs11:token=targets", "--module", h.Module, "--verbose"}
		for _, p := range pins {
			args = append(args, "--pin-file", p)
		}
		return append(args, guns...)
	}

	card.ResetCounters()
	_, errOut, code := e.run(initArgs("one-file", e.pinFile)...)
	if code != exitUsage || !strings.Contains(errOut, "never tries one device's PIN on another") || !strings.Contains(errOut, "--pin-file '") {
		t.Errorf("one plain PIN file for two devices: exit %d\n%s", code, errOut)
	}
	if c := card.Counters(); c.PINVerifies != 0 || pinCountLow(t, h) {
		t.Errorf("the refused run sent a PIN: %d VERIFYs to the YubiKey, token PIN count low %v", c.PINVerifies, pinCountLow(t, h))
	}

	// The token's PIN file is wrong: its login fails, the YubiKey sees no
	// PIN at all.
	_, errOut, code = e.run(initArgs("wrong-hsm", ykFile, "pkcs11:token=targets="+wrong)...)
	if code != exitDevice || !pinCountLow(t, h) {
		t.Errorf("wrong token PIN: exit %d, token PIN count low %v\n%s", code, pinCountLow(t, h), errOut)
	}
	if c := card.Counters(); c.PINVerifies != 0 {
		t.Errorf("the token's wrong PIN run sent %d VERIFYs to the YubiKey", c.PINVerifies)
	}

	// A good login clears the token's count; then the YubiKey's PIN file
	// is wrong: one wrong VERIFY on the YubiKey, none on the token.
	if out, err := exec.Command("pkcs11-tool", "--module", h.Module, "--token-label", "targets", "--login", "--pin", h.PIN, "-O").CombinedOutput(); err != nil {
		t.Fatalf("pkcs11-tool login: %v\n%s", err, out)
	}
	_, errOut, code = e.run(initArgs("wrong-yk", yubikey.DeviceURI(serial)+"="+wrong, hsmFile)...)
	if c := card.Counters(); code != exitDevice || c.WrongPINs != 1 || c.PINVerifies != 1 || pinCountLow(t, h) {
		t.Errorf("wrong YubiKey PIN: exit %d, YubiKey %+v, token PIN count low %v\n%s", code, c, pinCountLow(t, h), errOut)
	}

	_, errOut = e.must(initArgs("signed", ykFile, hsmFile)...)
	n := pinEntries(errOut)
	if len(n) != 2 || n["YubiKey serial 11000003"] != 1 {
		t.Errorf("PIN entries per device: %v, want one for each of the two", n)
	}
	if _, _, code := e.run("verify", filepath.Join(e.dir, "signed")); code != 0 {
		t.Errorf("verify: exit %d", code)
	}
}
