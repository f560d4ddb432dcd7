package yubikey_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

const (
	testPIN = "271828"
	testPUK = "31415926"
)

// pins answers PIN requests with fixed values and counts them.
type pins struct {
	mu    sync.Mutex
	pin   string
	asked int
}

func (p *pins) PIN(_ context.Context, req hsm.PINRequest) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	return []byte(p.pin), nil
}

type env struct {
	pcsc *testenv.PCSC
	ca   *pivsim.CA
	drv  *yubikey.Driver
	pins *pins
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, slots int) *env {
	t.Helper()
	p := testenv.StartPCSC(t, slots)
	ca, err := pivsim.NewCA("test attestation root")
	if err != nil {
		t.Fatal(err)
	}
	return &env{pcsc: p, ca: ca, drv: newDriver(t), pins: &pins{pin: testPIN}, log: &syncBuffer{}}
}

func newDriver(t testing.TB) *yubikey.Driver {
	drv := yubikey.NewDriver()
	drv.Poll = 100 * time.Millisecond
	t.Cleanup(func() { drv.Close() })
	return drv
}

func (e *env) opts() hsm.Options {
	return hsm.Options{PIN: e.pins, Log: e.log, NoWait: true}
}

func (e *env) open(t *testing.T, uri string) hsm.Backend {
	t.Helper()
	u, err := hsm.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.drv.Open(context.Background(), u, e.opts())
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func sign(t *testing.T, k crypto.Signer) ([]byte, error) {
	t.Helper()
	return signB(k)
}

func signB(k crypto.Signer) ([]byte, error) {
	d := sha256.Sum256([]byte("root.json"))
	return k.Sign(rand.Reader, d[:], crypto.SHA256)
}

func TestProvisionGenerateAttestSign(t *testing.T) {
	e := newEnv(t, 2)
	card := e.pcsc.VirtualYubiKey(t, 0, 12345678, e.ca, pivsim.Config{})

	devs, err := e.drv.Devices(context.Background(), e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Serial != "12345678" || devs[0].Firmware != "5.7.1" || devs[0].URI != "yubikey:serial=12345678" {
		t.Fatalf("devices = %+v", devs)
	}
	if len(devs[0].Warnings) != 0 {
		t.Errorf("firmware 5.7.1 has warnings: %v", devs[0].Warnings)
	}

	b := e.open(t, "yubikey:serial=12345678")
	// Before provisioning there is no management key to generate with.
	e.pins.pin = "123456"
	_, err = b.Generate(context.Background(), hsm.KeySpec{Label: "root", Slot: "9c"})
	var hinted *hsm.HintError
	if !errors.As(err, &hinted) || !strings.Contains(err.Error(), "has no PIN-protected management key") ||
		hinted.Hint != "provision it first (keyrite device provision yubikey:serial=12345678)" {
		t.Fatalf("generate before provisioning: %v (hint %+v)", err, hinted)
	}
	if card.PINRetries() != 3 {
		t.Fatalf("PIN retries = %d", card.PINRetries())
	}
	e.pins.pin = testPIN
	b.Close()
	e.drv.Close()

	e.drv = yubikey.NewDriver()
	b = e.open(t, "yubikey:serial=12345678")
	rep, err := b.(hsm.Provisioner).Provision(context.Background(), hsm.ProvisionOptions{NewPIN: []byte(testPIN), NewPUK: []byte(testPUK)})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	if strings.Join(rep.Replaced, ",") != "PIN,PUK,management key" {
		t.Errorf("replaced %v", rep.Replaced)
	}
	// A second provisioning is refused: nothing is at its default any more.
	if _, err := b.(hsm.Provisioner).Provision(context.Background(), hsm.ProvisionOptions{NewPIN: []byte("999999"), NewPUK: []byte("88888888")}); err == nil || !strings.Contains(err.Error(), "not the factory default") {
		t.Fatalf("second provision: %v", err)
	}
	// A reset needs the device's own serial, compared as the operator typed it.
	if _, err := b.(hsm.Provisioner).Provision(context.Background(), hsm.ProvisionOptions{NewPIN: []byte("999999"), NewPUK: []byte("88888888"),
		Reset: true, ConfirmedSerial: "012345678"}); err == nil || !strings.Contains(err.Error(), "(012345678) is not this YubiKey's; nothing was changed") {
		t.Fatalf("reset with another serial: %v", err)
	}

	k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root-2026", Slot: "9c"})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if k.URI() != "yubikey:serial=12345678;slot=9c" {
		t.Errorf("URI %s", k.URI())
	}
	if !strings.Contains(e.log.String(), "touch YubiKey serial 12345678 now (slot 9c)") {
		t.Errorf("no touch prompt in %q", e.log.String())
	}
	// The slot is taken now.
	if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "again", Slot: "9c"}); !errors.Is(err, hsm.ErrExists) {
		t.Errorf("generate into a used slot: %v", err)
	}

	att, err := k.Attestation()
	if err != nil || att == nil {
		t.Fatalf("attestation: %v, %v", att, err)
	}
	facts, err := yubikey.AttestationVerifier{Roots: e.ca.Pool()}.VerifyAttestation(att)
	if err != nil {
		t.Fatalf("verify attestation: %v", err)
	}
	if facts.Serial != 12345678 || facts.Slot != "9c" || facts.PINPolicy != "always" || facts.TouchPolicy != "always" || facts.Firmware != "5.7.1" {
		t.Errorf("attested %+v", facts)
	}
	if !facts.Public.(*ecdsa.PublicKey).Equal(k.Public()) {
		t.Error("attested key is not the generated key")
	}
	if len(facts.Warnings) != 0 {
		t.Errorf("firmware 5.7.1 attested with warnings: %v", facts.Warnings)
	}
	if a, ok := b.(hsm.Attester); !ok || a.AttestationFormat() != yubikey.Format || att.Format != yubikey.Format {
		t.Errorf("the backend does not say it attests in %s (attestation format %s)", yubikey.Format, att.Format)
	}
	// Yubico's real roots do not know the simulator.
	if _, err := (yubikey.AttestationVerifier{}).VerifyAttestation(att); err == nil {
		t.Error("simulator attestation verified against Yubico's roots")
	}
	other, err := pivsim.NewCA("another root")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (yubikey.AttestationVerifier{Roots: other.Pool()}).VerifyAttestation(att); err == nil {
		t.Error("attestation verified against another root")
	}

	before := card.Signatures()
	sig, err := sign(t, k)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	d := sha256.Sum256([]byte("root.json"))
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Error("signature does not verify")
	}
	if card.Signatures() != before+1 {
		t.Errorf("card made %d signatures", card.Signatures()-before)
	}

	keys, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Label != "root-2026" || keys[0].Origin != hsm.OriginGenerated {
		t.Errorf("list = %+v", keys)
	}
}

func TestImportedKeyIsNeverAttested(t *testing.T) {
	e := newEnv(t, 2)
	// This card misbehaves: it would attest an imported key.
	card := e.pcsc.VirtualYubiKey(t, 0, 2001, e.ca, pivsim.Config{AttestImported: true})
	if err := testenv.Provision(card, testPIN, testPUK); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, "yubikey:serial=2001")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := b.Import(context.Background(), priv, hsm.KeySpec{Label: "backed-up root", Slot: "9d"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if card.SlotOrigin(0x9d) != pivsim.OriginImported {
		t.Fatalf("slot origin %d", card.SlotOrigin(0x9d))
	}
	att, err := k.Attestation()
	if err != nil || att != nil {
		t.Fatalf("attestation of an imported key = %v, %v; want nil, nil", att, err)
	}
	k2, err := b.Open(context.Background(), "yubikey:serial=2001;slot=9d")
	if err != nil {
		t.Fatal(err)
	}
	if k2.(*yubikey.Key).Origin() != hsm.OriginImported {
		t.Errorf("origin %s", k2.(*yubikey.Key).Origin())
	}
	if _, err := sign(t, k2); err != nil {
		t.Fatalf("sign with imported key: %v", err)
	}
}

func TestWrongPINBlocksAndOneRetryNeedsForce(t *testing.T) {
	e := newEnv(t, 2)
	card := e.pcsc.VirtualYubiKey(t, 0, 3003, e.ca, pivsim.Config{})
	if err := testenv.Provision(card, testPIN, testPUK); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, "yubikey:serial=3003;slot=9c")
	k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root", Slot: "9c"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	e.drv.Close()

	// A wrong PIN: the error says how many attempts are left, and the same
	// wrong PIN is never tried twice in one command.
	e.pins.pin = "000000"
	e.drv = yubikey.NewDriver()
	b = e.open(t, "yubikey:serial=3003;slot=9c")
	k, err = b.Open(context.Background(), "yubikey:serial=3003;slot=9c")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sign(t, k)
	var ae *hsm.AuthError
	if !errors.As(err, &ae) || ae.Retries != 2 || ae.Blocked {
		t.Fatalf("wrong PIN: %v", err)
	}
	if _, err := sign(t, k); !errors.As(err, &ae) || card.PINRetries() != 2 {
		t.Fatalf("second signature tried the PIN again: %v (retries %d)", err, card.PINRetries())
	}
	b.Close()
	e.drv.Close()

	// Second wrong PIN in a new command.
	e.drv = yubikey.NewDriver()
	b = e.open(t, "yubikey:serial=3003;slot=9c")
	k, _ = b.Open(context.Background(), "yubikey:serial=3003;slot=9c")
	if _, err := sign(t, k); !errors.As(err, &ae) || ae.Retries != 1 {
		t.Fatalf("second wrong PIN: %v", err)
	}
	b.Close()
	e.drv.Close()

	// One attempt left: keyrite refuses to try without Force.
	e.drv = yubikey.NewDriver()
	b = e.open(t, "yubikey:serial=3003;slot=9c")
	k, _ = b.Open(context.Background(), "yubikey:serial=3003;slot=9c")
	asked := e.pins.asked
	if _, err := sign(t, k); !errors.As(err, &ae) || ae.Retries != 1 || !strings.Contains(err.Error(), "PIN not tried: 1 attempt left") || !ae.NotTried ||
		!strings.Contains(ae.Hint, "use --force if you are sure of the PIN") {
		t.Fatalf("one retry left: %v (hint %q)", err, ae.Hint)
	}
	if e.pins.asked != asked || card.PINRetries() != 1 {
		t.Fatalf("PIN asked %d times, retries %d", e.pins.asked-asked, card.PINRetries())
	}
	b.Close()
	e.drv.Close()

	// With Force, the third wrong PIN blocks it.
	e.drv = yubikey.NewDriver()
	u, _ := hsm.ParseURI("yubikey:serial=3003;slot=9c")
	o := e.opts()
	o.Force = true
	fb, err := e.drv.Open(context.Background(), u, o)
	if err != nil {
		t.Fatal(err)
	}
	k, _ = fb.Open(context.Background(), "yubikey:serial=3003;slot=9c")
	if _, err := sign(t, k); !errors.As(err, &ae) || !ae.Blocked || !strings.Contains(ae.Hint, "PUK") {
		t.Fatalf("third wrong PIN: %v", err)
	}
	fb.Close()
	if card.PINRetries() != 0 {
		t.Fatalf("retries %d", card.PINRetries())
	}
}

func TestSeveralDevicesBySerialAndWaiting(t *testing.T) {
	e := newEnv(t, 2)
	a := e.pcsc.VirtualYubiKey(t, 0, 1111, e.ca, pivsim.Config{})
	e.pcsc.VirtualYubiKey(t, 1, 2222, e.ca, pivsim.Config{Version: [3]byte{5, 4, 3}})
	devs, err := e.drv.Devices(context.Background(), e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].Serial != "1111" || devs[1].Serial != "2222" {
		t.Fatalf("devices %+v", devs)
	}
	if len(devs[1].Warnings) != 1 || !strings.Contains(devs[1].Warnings[0], "YSA-2024-03") {
		t.Errorf("5.4.3 warnings: %v", devs[1].Warnings)
	}
	b := e.open(t, "yubikey:serial=2222")
	if b.Info().Serial != "2222" {
		t.Fatalf("opened %+v", b.Info())
	}
	// A URI without a serial is refused, whatever is attached.
	u, _ := hsm.ParseURI("yubikey:slot=9c")
	if _, err := e.drv.Open(context.Background(), u, e.opts()); err == nil || !strings.Contains(err.Error(), "serial=N") {
		t.Errorf("no serial: %v", err)
	}
	// An absent serial: exit code material under NoWait...
	u, _ = hsm.ParseURI("yubikey:serial=4444")
	_, err = e.drv.Open(context.Background(), u, e.opts())
	var absent *hsm.DeviceAbsentError
	if !errors.As(err, &absent) || !strings.Contains(err.Error(), "YubiKey serial 4444") {
		t.Fatalf("absent: %v", err)
	}
	// ...and otherwise keyrite asks for it and waits until it is inserted.
	e.pcsc.Unplug(0)
	o := e.opts()
	o.NoWait = false
	done := make(chan error, 1)
	go func() {
		u, _ := hsm.ParseURI("yubikey:serial=1111")
		b, err := e.drv.Open(context.Background(), u, o)
		if err == nil {
			b.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.log.String(), "insert YubiKey serial 1111") {
		if time.Now().After(deadline) {
			t.Fatalf("no insert prompt: %q", e.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("open returned before the device was inserted: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := e.pcsc.Plug(0, a); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("open after insert: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("open did not notice the inserted device")
	}
}

func TestRemovedDuringSigning(t *testing.T) {
	e := newEnv(t, 2)
	card := e.pcsc.VirtualYubiKey(t, 0, 5005, e.ca, pivsim.Config{})
	if err := testenv.Provision(card, testPIN, testPUK); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, "yubikey:serial=5005;slot=9c")
	k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root", Slot: "9c", TouchPolicy: "never"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign(t, k); err != nil {
		t.Fatal(err)
	}
	e.pcsc.Unplug(0)
	_, err = sign(t, k)
	var absent *hsm.DeviceAbsentError
	if !errors.As(err, &absent) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("sign after removal: %v", err)
	}
}
