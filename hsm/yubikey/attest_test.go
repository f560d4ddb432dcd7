package yubikey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// The verifier reports the firmware advisories of the attested device, so
// that whoever verifies a bundle sees them too.
func TestAttestationWarnsOfOldFirmware(t *testing.T) {
	e := newEnv(t, 1)
	card := e.pcsc.VirtualYubiKey(t, 0, 7007, e.ca, pivsim.Config{Version: [3]byte{5, 4, 3}})
	if err := testenv.Provision(card, testPIN, testPUK); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, "yubikey:serial=7007")
	k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root", Slot: "9c", TouchPolicy: "never"})
	if err != nil {
		t.Fatal(err)
	}
	att, err := k.Attestation()
	if err != nil || att == nil {
		t.Fatalf("attestation: %v, %v", att, err)
	}
	facts, err := yubikey.AttestationVerifier{Roots: e.ca.Pool()}.VerifyAttestation(att)
	if err != nil {
		t.Fatal(err)
	}
	if facts.Firmware != "5.4.3" || len(facts.Warnings) != 1 || !strings.Contains(facts.Warnings[0], "YSA-2024-03") {
		t.Errorf("firmware %s, warnings %v", facts.Firmware, facts.Warnings)
	}
}

// A rehearsal root is tried only after the vendor's roots, and what
// chains to it alone is marked Rehearsal; without one, the virtual
// YubiKey's attestation is refused.
func TestRehearsalRoot(t *testing.T) {
	e := newEnv(t, 1)
	card := e.pcsc.VirtualYubiKey(t, 0, 7008, e.ca, pivsim.Config{})
	if err := testenv.Provision(card, testPIN, testPUK); err != nil {
		t.Fatal(err)
	}
	k, err := e.open(t, "yubikey:serial=7008").Generate(context.Background(), hsm.KeySpec{Label: "root", Slot: "9c", TouchPolicy: "never"})
	if err != nil {
		t.Fatal(err)
	}
	att, err := k.Attestation()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (yubikey.AttestationVerifier{}).VerifyAttestation(att); err == nil || !strings.Contains(err.Error(), "does not chain to Yubico's PIV attestation roots") {
		t.Errorf("Yubico's roots only: %v", err)
	}
	facts, err := yubikey.AttestationVerifier{Rehearsal: e.ca.Pool()}.VerifyAttestation(att)
	if err != nil || !facts.Rehearsal || !strings.HasSuffix(facts.Root, "(rehearsal root)") {
		t.Errorf("rehearsal root: %+v, %v", facts, err)
	}
	facts, err = yubikey.AttestationVerifier{Roots: e.ca.Pool(), Rehearsal: e.ca.Pool()}.VerifyAttestation(att)
	if err != nil || facts.Rehearsal {
		t.Errorf("a chain to the trusted roots is no rehearsal: %+v, %v", facts, err)
	}
	other, err := pivsim.NewCA("another root")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (yubikey.AttestationVerifier{Rehearsal: other.Pool()}).VerifyAttestation(att); err == nil || !strings.Contains(err.Error(), "nor to the rehearsal root") {
		t.Errorf("another rehearsal root: %v", err)
	}
}
