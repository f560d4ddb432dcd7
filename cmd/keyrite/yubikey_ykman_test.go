package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// keyrite device provision, then ykman as a subprocess: it reports the
// management key stored and PIN-protected and uses it from the PIN alone;
// keyrite signs with a key ykman cannot have broken.
func TestYubiKeyProvisionForYkman(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 75000001
	card := e.pcsc.VirtualYubiKey(t, 0, serial, e.ca, pivsim.Config{})
	// A CHUID the device already has is kept; the missing CCC is written.
	e.pcsc.Tool(t, "ykman", "--device", "75000001", "piv", "objects", "generate", "CHUID", "-m", "010203040506070801020304050607080102030405060708")
	before := string(card.Object(0x5fc102))
	out, _ := e.must("device", "provision", yubikey.DeviceURI(serial), "--pin-file", e.pinFile, "--puk-file", e.pukFile)
	for _, want := range []string{"wrote PIV admin data (management key stored, PIN-protected)", "wrote CCC"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wrote CHUID") || string(card.Object(0x5fc102)) != before || before == "" {
		t.Errorf("provisioning replaced the device's CHUID:\n%s", out)
	}
	info := e.pcsc.Tool(t, "ykman", "--device", "75000001", "piv", "info")
	if !strings.Contains(info, "Management key is stored on the YubiKey, protected by PIN.") || strings.Contains(info, "WARNING") {
		t.Errorf("ykman piv info:\n%s", info)
	}
	chuid := string(card.Object(0x5fc102))
	e.pcsc.Tool(t, "ykman", "--device", "75000001", "piv", "objects", "generate", "CHUID", "-P", ykPIN)
	if string(card.Object(0x5fc102)) == chuid {
		t.Error("ykman did not write a new CHUID with the PIN")
	}
	// A second provisioning is refused: the device is not in its factory
	// state, and nothing is written.
	if _, errOut, code := e.run("device", "provision", yubikey.DeviceURI(serial), "--pin-file", e.pinFile, "--puk-file", e.pukFile); code == 0 ||
		!strings.Contains(errOut, "not the factory default") {
		t.Errorf("second provisioning: exit %d\n%s", code, errOut)
	}
	e.must("key", "generate", "--device", yubikey.DeviceURI(serial)+";slot=9a", "--label", "after ykman", "--touch-policy", "never", "--pin-file", e.pinFile)
}

// A YubiKey an older keyrite provisioned (the management key PIN-protected,
// but no admin data, CHUID or CCC): device provision --repair writes them
// with the device's PIN, and ykman then finds the key; a wrong PIN writes
// nothing.
func TestYubiKeyProvisionRepair(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 76000001
	card := e.pcsc.VirtualYubiKey(t, 0, serial, e.ca, pivsim.Config{})
	if err := testenv.Provision(card, ykPIN, ykPUK); err != nil {
		t.Fatal(err)
	}
	if err := card.SetObjectForTest(0x5fff00, nil); err != nil {
		t.Fatal(err)
	}
	if info := e.pcsc.Tool(t, "ykman", "--device", "76000001", "piv", "info"); strings.Contains(info, "Management key is stored") {
		t.Fatalf("the older state already has ykman's admin data:\n%s", info)
	}
	if _, errOut, code := e.run("device", "provision", yubikey.DeviceURI(serial), "--repair", "--reset"); code != exitUsage || !strings.Contains(errOut, "--repair changes no secret") {
		t.Errorf("--repair --reset: exit %d\n%s", code, errOut)
	}
	wrong := filepath.Join(e.dir, "wrong-pin.txt")
	if err := writeSecret(wrong, "999999"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := e.run("device", "provision", yubikey.DeviceURI(serial), "--repair", "--pin-file", wrong); code != exitDevice || !strings.Contains(errOut, "wrong PIN") {
		t.Errorf("--repair with a wrong PIN: exit %d\n%s", code, errOut)
	}
	if card.Object(0x5fff00) != nil || card.Object(0x5fc102) != nil {
		t.Fatal("a refused repair wrote objects")
	}
	out, _ := e.must("device", "provision", yubikey.DeviceURI(serial), "--repair", "--pin-file", e.pinFile)
	for _, want := range []string{"repaired YubiKey serial 76000001", "wrote PIV admin data", "wrote CHUID", "wrote CCC", "management key: unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("repair output lacks %q:\n%s", want, out)
		}
	}
	if info := e.pcsc.Tool(t, "ykman", "--device", "76000001", "piv", "info"); !strings.Contains(info, "Management key is stored on the YubiKey, protected by PIN.") {
		t.Errorf("ykman piv info after repair:\n%s", info)
	}
	e.pcsc.Tool(t, "ykman", "--device", "76000001", "piv", "objects", "generate", "CCC", "-P", ykPIN)
	// Nothing left to repair.
	if out, _ := e.must("device", "provision", yubikey.DeviceURI(serial), "--repair", "--pin-file", e.pinFile); strings.Contains(out, "wrote") {
		t.Errorf("second repair wrote again:\n%s", out)
	}
}
