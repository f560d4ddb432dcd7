package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// fakeVerifier records the attestations it is asked about.
type fakeVerifier struct {
	got []*Attestation
	out *AttestedKey
	err error
}

func (f *fakeVerifier) VerifyAttestation(a *Attestation) (*AttestedKey, error) {
	f.got = append(f.got, a)
	return f.out, f.err
}

func TestVerifyAttestationUnknownFormat(t *testing.T) {
	r := NewRegistry()
	other := &fakeVerifier{out: &AttestedKey{Serial: 1}}
	r.RegisterAttestation("other-format", other)
	_, err := r.VerifyAttestation(&Attestation{Format: "yubikey-piv", Certs: [][]byte{{1}}})
	var unknown *UnknownAttestationError
	if !errors.As(err, &unknown) || unknown.Format != "yubikey-piv" {
		t.Fatalf("unregistered format: err = %v, want *UnknownAttestationError for yubikey-piv", err)
	}
	if err.Error() != `unknown attestation format "yubikey-piv"` {
		t.Errorf("message %q", err.Error())
	}
	if len(other.got) != 0 {
		t.Error("the verifier of another format was asked")
	}
	// No registry at all refuses every format the same way.
	var none *Registry
	if _, err := none.VerifyAttestation(&Attestation{Format: "x"}); !errors.As(err, &unknown) || unknown.Format != "x" {
		t.Errorf("nil registry: %v", err)
	}
	if _, err := r.VerifyAttestation(nil); err == nil || errors.As(err, &unknown) {
		t.Errorf("nil attestation: %v", err)
	}
}

func TestVerifyAttestationUsesRegisteredVerifier(t *testing.T) {
	r := NewRegistry()
	want := &AttestedKey{Serial: 42, Slot: "9c", Warnings: []string{"old firmware"}}
	v := &fakeVerifier{out: want}
	r.RegisterAttestation("fmt-a", v)
	att := &Attestation{Format: "fmt-a", Certs: [][]byte{{1}, {2}}}
	got, err := r.VerifyAttestation(att)
	if err != nil || got != want {
		t.Fatalf("got %+v, %v", got, err)
	}
	if len(v.got) != 1 || v.got[0] != att {
		t.Errorf("verifier saw %v", v.got)
	}
	// A verifier's refusal is returned as is.
	refused := errors.New("does not chain")
	r.RegisterAttestation("fmt-a", &fakeVerifier{err: refused})
	if _, err := r.VerifyAttestation(att); !errors.Is(err, refused) {
		t.Errorf("refusal: %v", err)
	}
}

// AttestedKey is stored in signed bundles: its JSON must not change.
func TestAttestedKeyJSON(t *testing.T) {
	a := AttestedKey{Serial: 12345678, Firmware: "5.7.1", Slot: "9c", PINPolicy: "always", TouchPolicy: "cached",
		Root: "CN=root", Public: "not serialised", Warnings: []string{"not serialised either"}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"serial":12345678,"firmware":"5.7.1","slot":"9c","pin_policy":"always","touch_policy":"cached","root":"CN=root"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	a.FormFactor = "USB-A Keychain"
	b, _ = json.Marshal(a)
	const withForm = `{"serial":12345678,"firmware":"5.7.1","form_factor":"USB-A Keychain","slot":"9c","pin_policy":"always","touch_policy":"cached","root":"CN=root"}`
	if string(b) != withForm {
		t.Errorf("got  %s\nwant %s", b, withForm)
	}
}

// listingDriver is a driver that only lists, and counts its listings.
type listingDriver struct {
	Driver
	devices []DeviceInfo
	listed  int
}

func (d *listingDriver) Devices(context.Context, Options) ([]DeviceInfo, error) {
	d.listed++
	return d.devices, nil
}

// SchemeDevices asks one driver only: listing YubiKeys never makes a
// PKCS#11 module open the cards.
func TestSchemeDevicesAsksOneDriver(t *testing.T) {
	r := NewRegistry()
	yk := &listingDriver{devices: []DeviceInfo{{Kind: "yubikey", Serial: "7"}}}
	p11 := &listingDriver{}
	r.Register("yubikey", yk)
	r.Register("pkcs11", p11)
	got, err := r.SchemeDevices(context.Background(), "yubikey", Options{})
	if err != nil || len(got) != 1 || got[0].Serial != "7" {
		t.Fatalf("SchemeDevices = %v, %v", got, err)
	}
	if yk.listed != 1 || p11.listed != 0 {
		t.Errorf("listed: yubikey %d, pkcs11 %d", yk.listed, p11.listed)
	}
	if _, err := r.SchemeDevices(context.Background(), "tpm", Options{}); err == nil {
		t.Error("an unregistered scheme was listed")
	}
}
