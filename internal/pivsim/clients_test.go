package pivsim_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestIndependentClients checks the simulator against Yubico's own tools
// from Debian: yubico-piv-tool, ykman and the ykcs11 PKCS#11 module must
// all read the virtual YubiKey.
func TestIndependentClients(t *testing.T) {
	p := testenv.StartPCSC(t, 2)
	ca, err := pivsim.NewCA("clients root")
	if err != nil {
		t.Fatal(err)
	}
	// Slot 0: ykman list skips every reader of a kind once one of them
	// (an empty vpcd slot) fails to open.
	p.VirtualYubiKey(t, 0, 24681357, ca, pivsim.Config{})
	run := func(name string, args ...string) string { t.Helper(); return p.Tool(t, name, args...) }
	if out := run("yubico-piv-tool", "-a", "status"); !strings.Contains(out, "Serial Number:\t24681357") || !strings.Contains(out, "Version:\t5.7.1") || !strings.Contains(out, "PIN tries left:\t3") {
		t.Errorf("yubico-piv-tool -a status:\n%s", out)
	}
	if out := run("ykman", "list"); !strings.Contains(out, "YubiKey 5 NFC (5.7.1) [OTP+FIDO+CCID] Serial: 24681357") {
		t.Errorf("ykman list:\n%s", out)
	}
	if out := run("ykman", "--device", "24681357", "piv", "info"); !strings.Contains(out, "PIV version: 5.7.1") ||
		!strings.Contains(out, "WARNING: Using default PIN!") || !strings.Contains(out, "Management key algorithm: AES192") {
		t.Errorf("ykman piv info:\n%s", out)
	}
	module := "/usr/lib/x86_64-linux-gnu/libykcs11.so"
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("ykcs11 not installed (hint: run scripts/setup): %v", err)
	}
	if out := run("pkcs11-tool", "--module", module, "-L"); !strings.Contains(out, "YubiKey PIV #24681357") {
		t.Errorf("pkcs11-tool -L with ykcs11:\n%s", out)
	}
}

// TestTripleDESAndStateFile covers what piv-go's suite does not reach on
// firmware 5.7: a 3DES management key (the factory default before 5.7),
// and a card kept in a state file that is unplugged, reloaded and plugged
// in again with its keys and PIN.
func TestTripleDESAndStateFile(t *testing.T) {
	p := testenv.StartPCSC(t, 2)
	ca, err := pivsim.NewCA("3des root")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "card.json")
	card, err := pivsim.New(pivsim.Config{Serial: 5270001, CA: ca, Version: [3]byte{5, 2, 7}, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plug(0, card); err != nil {
		t.Fatal(err)
	}
	open := func() *piv.YubiKey {
		t.Helper()
		cards, err := piv.Cards()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cards {
			if yk, err := piv.Open(c); err == nil {
				return yk
			}
		}
		t.Fatal("no card")
		return nil
	}
	yk := open()
	if v := yk.Version(); v.Major != 5 || v.Minor != 2 {
		t.Fatalf("version %+v", v)
	}
	// Before 5.4 piv-go sets 3DES keys; the card must authenticate with it.
	newKey := make([]byte, 24)
	rand.Read(newKey)
	if err := yk.SetManagementKey(piv.DefaultManagementKey, newKey); err != nil {
		t.Fatalf("set 3DES management key: %v", err)
	}
	if err := yk.SetManagementKey(piv.DefaultManagementKey, newKey); err == nil {
		t.Fatal("the old 3DES key still authenticates")
	}
	pub, err := yk.GenerateKey(newKey, piv.SlotSignature, piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatalf("generate with 3DES key: %v", err)
	}
	if err := yk.SetPIN(piv.DefaultPIN, "654321"); err != nil {
		t.Fatal(err)
	}
	yk.Close()

	// Unplug, forget the card, load it again from its file, plug it in.
	p.Unplug(0)
	again, err := pivsim.New(pivsim.Config{StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plug(0, again); err != nil {
		t.Fatal(err)
	}
	yk = open()
	defer yk.Close()
	if s, _ := yk.Serial(); s != 5270001 {
		t.Fatalf("serial after reload %d", s)
	}
	if err := yk.VerifyPIN("654321"); err != nil {
		t.Fatalf("PIN after reload: %v", err)
	}
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PINPolicy: piv.PINPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("after replug"))
	sig, err := priv.(crypto.Signer).Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("sign after reload: %v", err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("signature after reload does not verify")
	}
}
