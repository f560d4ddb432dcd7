package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestNewSoftHSM(t *testing.T) {
	s := NewSoftHSM(t, "harness")
	if os.Getenv("SOFTHSM2_CONF") != s.ConfPath {
		t.Errorf("SOFTHSM2_CONF = %q, want %q", os.Getenv("SOFTHSM2_CONF"), s.ConfPath)
	}
	if len(s.Serial) != 16 {
		t.Errorf("serial %q: want 16 hex digits", s.Serial)
	}
	if len(s.PIN) < 8 {
		t.Errorf("PIN %q too short", s.PIN)
	}
	fi, err := os.Stat(s.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("PIN file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(s.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != s.PIN {
		t.Errorf("PIN file holds %q, want %q", b, s.PIN)
	}

	second := s.AddToken("second")
	if second.Serial == s.Serial || second.PIN == s.PIN {
		t.Errorf("second token shares serial or PIN with the first")
	}
	if second.ConfPath != s.ConfPath || second.TokenDir != s.TokenDir {
		t.Errorf("second token uses another configuration")
	}

	// The tokens are real: SoftHSM's own tool lists both with their serials.
	out, err := exec.Command("softhsm2-util", "--show-slots").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{s.Serial, second.Serial, "harness", "second"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--show-slots does not list %q", want)
		}
	}
	if got := s.URI(); got != "pkcs11:token=harness;serial="+s.Serial {
		t.Errorf("URI() = %q", got)
	}
}

func TestSoftHSMParse(t *testing.T) {
	out := `Available slots:
Slot 42024028
    Slot info:
        Description:      SoftHSM slot ID 0x2813c5c
    Token info:
        Serial number:    c704576402813c5c
        Label:            a
Slot 2
    Token info:
        Serial number:
        Label:
`
	if s, err := softhsmParseSerial(out, "42024028"); err != nil || s != "c704576402813c5c" {
		t.Errorf("slot 42024028: %q, %v", s, err)
	}
	if _, err := softhsmParseSerial(out, "2"); err == nil {
		t.Errorf("slot 2 (uninitialised): no error")
	}
	if _, err := softhsmParseSerial(out, "7"); err == nil {
		t.Errorf("slot 7 (absent): no error")
	}
	if s, err := softhsmParseInitSlot("Slot 0 has a free/uninitialized token.\nThe token has been initialized and is reassigned to slot 1391542707\n"); err != nil || s != "1391542707" {
		t.Errorf("init slot: %q, %v", s, err)
	}
	if _, err := softhsmParseInitSlot("error"); err == nil {
		t.Errorf("init slot from garbage: no error")
	}
}
