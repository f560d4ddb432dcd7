package yubikey_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
)

// After keyrite provisions a YubiKey, Yubico's own tools find what they
// expect: ykman reports the management key stored and PIN-protected and
// uses it from the PIN alone (generating a CHUID and a key: both need the
// management key), yubico-piv-tool and the ykcs11 PKCS#11 module read the
// device, and keyrite still uses it after them. Firmware 5.7 gets an
// AES-192 management key, 5.3 (no AES) a 3DES one, as ykman reads each.
func TestProvisionedDeviceWorksWithYkman(t *testing.T) {
	e := newEnv(t, 2)
	for _, c := range []struct {
		serial  uint32
		version [3]byte
		keyType string
	}{{7100001, [3]byte{5, 7, 1}, "AES192"}, {5300001, [3]byte{5, 3, 1}, "TDES"}} {
		t.Run(c.keyType, func(t *testing.T) {
			card := e.plugAlone(t, c.serial, c.version)
			dev := yubikey.DeviceURI(c.serial)
			b := e.open(t, dev)
			rep, err := b.(hsm.Provisioner).Provision(context.Background(), hsm.ProvisionOptions{NewPIN: []byte(testPIN), NewPUK: []byte(testPUK)})
			if err != nil {
				t.Fatalf("provision: %v", err)
			}
			if strings.Join(rep.Written, ",") != "PIV admin data (management key stored, PIN-protected),CHUID,CCC" {
				t.Errorf("written %q", rep.Written)
			}
			k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "keyrite root", Slot: "9a", TouchPolicy: "never"})
			if err != nil {
				t.Fatal(err)
			}
			chuid := card.Object(0x5fc102)
			if len(chuid) == 0 || len(card.Object(0x5fc107)) == 0 {
				t.Fatal("no CHUID or CCC after provisioning")
			}
			// ykman needs the card to itself.
			b.Close()
			e.drv.Close()

			serial := strings.TrimPrefix(dev, "yubikey:serial=")
			info := e.pcsc.Tool(t, "ykman", "--device", serial, "piv", "info")
			for _, want := range []string{"Management key is stored on the YubiKey, protected by PIN.", "Management key algorithm: " + c.keyType,
				"PIN tries remaining: 3", "Slot 9a:", "CN=keyrite root"} {
				if !strings.Contains(info, want) {
					t.Errorf("ykman piv info lacks %q:\n%s", want, info)
				}
			}
			if strings.Contains(info, "WARNING") || strings.Contains(info, "No data available") {
				t.Errorf("ykman piv info warns or misses the CHUID/CCC:\n%s", info)
			}
			// With the PIN only: a prompt for the management key would
			// read the empty stdin and fail.
			e.pcsc.Tool(t, "ykman", "--device", serial, "piv", "objects", "generate", "CHUID", "-P", testPIN)
			if bytes.Equal(card.Object(0x5fc102), chuid) {
				t.Error("ykman objects generate CHUID did not write a new CHUID")
			}
			e.pcsc.Tool(t, "ykman", "--device", serial, "piv", "keys", "generate", "-P", testPIN, "-a", "ECCP256", "9d", filepath.Join(t.TempDir(), "9d.pem"))
			if !card.HasKey(0x9d) {
				t.Error("ykman keys generate with the PIN made no key in 9d")
			}

			status := e.pcsc.Tool(t, "yubico-piv-tool", "-a", "status")
			for _, want := range []string{"Serial Number:\t" + serial, "CHUID:\t", "CCC:\t", "Slot 9a:", "Subject DN:\tOU=keyrite, CN=keyrite root"} {
				if !strings.Contains(status, want) {
					t.Errorf("yubico-piv-tool -a status lacks %q:\n%s", want, status)
				}
			}
			module := "/usr/lib/x86_64-linux-gnu/libykcs11.so"
			if out := e.pcsc.Tool(t, "pkcs11-tool", "--module", module, "-L"); !strings.Contains(out, "YubiKey PIV #"+serial) {
				t.Errorf("pkcs11-tool -L with ykcs11:\n%s", out)
			}
			if out := e.pcsc.Tool(t, "pkcs11-tool", "--module", module, "-O"); !strings.Contains(out, "X.509 Certificate for PIV Authentication") ||
				!strings.Contains(out, "keyrite root") {
				t.Errorf("pkcs11-tool -O with ykcs11:\n%s", out)
			}

			// keyrite still uses the device: the PIN-protected key opens
			// the slot and signs.
			e.drv = newDriver(t)
			b = e.open(t, dev)
			k2, err := b.Open(context.Background(), k.URI())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sign(t, k2); err != nil {
				t.Fatalf("keyrite signs after ykman: %v", err)
			}
			if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "after ykman", TouchPolicy: "never"}); err != nil {
				t.Fatalf("keyrite generates after ykman: %v", err)
			}
		})
	}
}
